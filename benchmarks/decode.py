"""What LAuReL costs a decoder LLM: train-step time and cached decoding speed.

    python benchmarks/decode.py                              # KERAS_BACKEND's backend
    python benchmarks/decode.py --families llama --rounds 5 --name 2026-12-02-jax

For a small Llama-style decoder (pre-norm RMSNorm, rotary positions, gated
MLP) and a Gemma-style one (Gemma 2's sandwich norms), the base model and
every LAuReL variant are built in one process and measured round-robin, so
drifts of the machine hit all of them alike; each round gives every variant
a ratio to that round's base model:

- train step: the median time of `train_on_batch` (compiled, after warm-up);
- cached decoding: tokens per second of greedy `generate()` (compiled, one
  fixed prompt, every sequence generating to `max_length`; the median of
  `--steps` calls), the path that runs `call_with_cache`.

Writes benchmarks/results/decode-<name>.json and .md: per family and variant
the parameters added and both ratios (median over rounds, with the min-max
spread). Targets (benchmarks/README.md): RW decoding within 2% of the base
model, RW+LR within 5%.
"""

import argparse
import datetime
import json
import os
import platform
import time

import keras
import keras_hub
import numpy as np

import keras_laurel as kl
from keras_laurel.compare.reporting import cpu_model
from keras_laurel.compare.reporting import package_versions

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ["baseline", "rw", "lr", "pa", "rw+lr", "rw+lr+pa"]
TARGETS = {"rw": 1.02, "rw+lr": 1.05}  # decoding time / the base model's
CONFIG = dict(
    vocabulary_size=1024,
    num_layers=4,
    num_query_heads=4,
    num_key_value_heads=2,
    hidden_dim=128,
    intermediate_dim=344,
)
FAMILIES = {
    "llama": (keras_hub.models.LlamaBackbone, keras_hub.models.LlamaCausalLM, {}),
    "gemma": (
        keras_hub.models.GemmaBackbone,
        keras_hub.models.GemmaCausalLM,
        dict(head_dim=32, use_post_ffw_norm=True, use_post_attention_norm=True),
    ),
}


def build(family, variant, rank):
    backbone_class, lm_class, extra = FAMILIES[family]
    keras.utils.set_random_seed(0)
    backbone = backbone_class(**CONFIG, **extra)
    base_params = backbone.count_params()
    if variant != "baseline":
        parts = variant.split("+")
        backbone = kl.rewrite(
            backbone,
            variant,
            rank=rank if "lr" in parts else None,
            k=3 if "pa" in parts else None,
            placement="both",
        )
    lm = lm_class(backbone=backbone, preprocessor=None)
    lm.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        sampler="greedy",
    )
    return lm, backbone.count_params() - base_params


def train_step_seconds(lm, batch, steps):
    x, y = batch
    lm.train_on_batch(x, y)  # compile
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        lm.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def decode_tokens_per_second(lm, prompt, max_length, calls):
    """Generated tokens per second: the median over `calls` generate() calls."""
    lm.generate(prompt, max_length=max_length, stop_token_ids=None)  # compile
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        lm.generate(prompt, max_length=max_length, stop_token_ids=None)
        times.append(time.perf_counter() - start)
    new_tokens = prompt["token_ids"].shape[0] * (max_length - int(prompt["padding_mask"][0].sum()))
    return new_tokens / float(np.median(times))


def measure(family, variants, rank, rounds, steps, batch_size, seq_len, prompt_len):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, CONFIG["vocabulary_size"], (batch_size, seq_len + 1)).astype("int32")
    batch = ({"token_ids": ids[:, :-1], "padding_mask": np.ones_like(ids[:, :-1])}, ids[:, 1:])
    prompt_ids = np.zeros((batch_size, seq_len), "int32")
    prompt_ids[:, :prompt_len] = ids[:, :prompt_len]
    mask = np.zeros_like(prompt_ids)
    mask[:, :prompt_len] = 1
    prompt = {"token_ids": prompt_ids, "padding_mask": mask}
    models = {v: build(family, v, rank) for v in variants}
    train = {v: [] for v in variants}
    decode = {v: [] for v in variants}
    for _ in range(rounds):
        for v in variants:  # round-robin: every variant sees the same drift
            train[v].append(train_step_seconds(models[v][0], batch, steps))
            decode[v].append(decode_tokens_per_second(models[v][0], prompt, seq_len, steps))
    rows = []
    for v in variants:
        train_ratio = np.asarray(train[v]) / np.asarray(train["baseline"])
        # Time per token relative to the base model's: the inverse of the speed ratio.
        decode_ratio = np.asarray(decode["baseline"]) / np.asarray(decode[v])
        rows.append(
            {
                "family": family,
                "variant": v,
                "params_added": int(models[v][1]),
                "train_step_s": train[v],
                "decode_tokens_per_s": decode[v],
                "train_ratio": _spread(train_ratio),
                "decode_ratio": _spread(decode_ratio),
            }
        )
    return rows


def _spread(ratios):
    """[median, min, max] of per-round ratios."""
    return [float(np.median(ratios)), float(np.min(ratios)), float(np.max(ratios))]


def markdown(rows):
    lines = [
        "| family | variant | params added | train step / base (median, min-max) "
        "| decoding time per token / base (median, min-max) | target |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, d = r["train_ratio"], r["decode_ratio"]
        target = TARGETS.get(r["variant"])
        lines.append(
            f"| {r['family']} | {r['variant']} | {r['params_added']:,} "
            f"| {t[0]:.3f} ({t[1]:.3f}-{t[2]:.3f}) | {d[0]:.3f} ({d[1]:.3f}-{d[2]:.3f}) "
            f"| {'≤ %.2f' % target if target else ''} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="llama,gemma")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rank", type=int, default=8, help="LR rank (default 8)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--steps", type=int, default=5, help="timed train steps and generate() calls per round"
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=64, help="training length, max_length")
    parser.add_argument("--prompt-len", type=int, default=8)
    parser.add_argument("--name", default=None, help="results file stem (none: print only)")
    parser.add_argument("--output-dir", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    if variants[0] != "baseline":
        parser.error("--variants: the first must be baseline (the ratios' reference)")
    rows = []
    for family in args.families.split(","):
        if family not in FAMILIES:
            parser.error(f"--families: unknown {family!r}; expected names from {list(FAMILIES)}")
        rows += measure(
            family,
            variants,
            args.rank,
            args.rounds,
            args.steps,
            args.batch_size,
            args.seq_len,
            args.prompt_len,
        )
    text = markdown(rows)
    print(text)
    if args.name:
        os.makedirs(args.output_dir, exist_ok=True)
        stem = os.path.join(args.output_dir, f"decode-{args.name}")
        record = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "backend": keras.backend.backend(),
            "machine": {
                "platform": platform.platform(),
                "processor": cpu_model(),
                "cpus": os.cpu_count(),
            },
            "versions": package_versions(),
            "args": vars(args),
            "config": CONFIG,
            "rows": rows,
        }
        with open(stem + ".json", "w") as f:
            json.dump(record, f, indent=1)
        header = (
            f"Backend {keras.backend.backend()}, {args.rounds} rounds, batch {args.batch_size}, "
            f"max_length {args.seq_len}, prompt {args.prompt_len}, r = {args.rank}, k = 3, "
            "LAuReL at both residuals of every layer.\n\n"
        )
        with open(stem + ".md", "w") as f:
            f.write(header + text + "\n")
        print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
