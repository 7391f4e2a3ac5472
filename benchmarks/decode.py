"""What LAuReL costs a decoder LLM: train-step time and cached decoding speed.

    python benchmarks/decode.py                              # KERAS_BACKEND's backend
    python benchmarks/decode.py --families llama --rounds 5 --name 2026-12-02-jax

For a small Llama-style decoder (pre-norm RMSNorm, rotary positions, gated
MLP) and a Gemma-style one (Gemma 2's sandwich norms), the base model and
every LAuReL variant are built in one process. Each round measures every
variant against the base model in the order base, variant, variant, base
(an ABBA sequence: a drift of the machine that is linear over the four
measurements cancels in the ratio), after one untimed run of the base
model (so that the first base measurement does not pay alone for the caches
the previous kind of measurement left cold), for

- train step: the fastest of `--steps` `train_on_batch` steps (compiled,
  after warm-up);
- cached decoding: the fastest of `--steps` greedy `generate()` calls
  (compiled, one fixed prompt, every sequence generating to `max_length`),
  the path that runs `call_with_cache`.

The fastest of several repeats, not their mean or median: the work is the
same every time, so a slower repeat measures the machine (another process,
the scheduler), not the model. A second, identical base model
("baseline (repeat)") is measured like a variant: its ratio is the
resolution of the measurement itself, against which the variants' ratios
are read. On JAX the floating-point operations XLA counts in one cached
decoding step are recorded too: the cost that no noise of the machine
blurs.

`--measure decode` times decoding only (each round twice as fast, for the
many rounds that resolve a target of a few percent on a noisy machine).

Writes benchmarks/results/decode-<name>.json and .md: per family and variant
the parameters added and both ratios (median over rounds, with the min-max
spread), and the 95% interval of the decoding ratio's geometric mean over
rounds, from which a target is read as met, missed or not resolved.
`--render results.json` rewrites a results file's table without measuring.
Targets (benchmarks/README.md): RW decoding within 2% of the base model,
RW+LR within 5%.
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
from keras_laurel.compare.aggregate import interval_95
from keras_laurel.compare.reporting import cpu_model
from keras_laurel.compare.reporting import package_versions

HERE = os.path.dirname(os.path.abspath(__file__))
REPEAT = "baseline (repeat)"  # the base model again: the measurement's own resolution
VARIANTS = ["baseline", REPEAT, "rw", "lr", "pa", "rw+lr", "rw+lr+pa"]
TARGETS = {"rw": 1.02, "rw+lr": 1.05}  # decoding time / the base model's
FAMILIES = {
    "llama": (keras_hub.models.LlamaBackbone, keras_hub.models.LlamaCausalLM, {}),
    "gemma": (
        keras_hub.models.GemmaBackbone,
        keras_hub.models.GemmaCausalLM,
        dict(use_post_ffw_norm=True, use_post_attention_norm=True),
    ),
}


def config(family, hidden_dim, num_layers):
    """A decoder of `num_layers` layers, `hidden_dim` wide, with heads of 64
    (half as many key-value heads as query heads) and a gated MLP of about
    8/3 of the width, as Llama's."""
    heads = max(1, hidden_dim // 64)
    settings = dict(
        vocabulary_size=1024,
        num_layers=num_layers,
        num_query_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        hidden_dim=hidden_dim,
        intermediate_dim=8 * (hidden_dim * 8 // 3 // 8),
    )
    if family == "gemma":
        settings["head_dim"] = hidden_dim // heads
    return settings


def build(family, variant, rank, settings):
    backbone_class, lm_class, extra = FAMILIES[family]
    keras.utils.set_random_seed(0)
    backbone = backbone_class(**settings, **extra)
    base_params = backbone.count_params()
    if variant not in ("baseline", REPEAT):
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
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        lm.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return min(times)


def decode_seconds(lm, prompt, max_length, calls):
    """Seconds of the fastest of `calls` generate() calls."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        lm.generate(prompt, max_length=max_length, stop_token_ids=None)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(
    family, variants, rank, settings, rounds, steps, batch_size, seq_len, prompt_len, kinds
):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, settings["vocabulary_size"], (batch_size, seq_len + 1)).astype("int32")
    batch = ({"token_ids": ids[:, :-1], "padding_mask": np.ones_like(ids[:, :-1])}, ids[:, 1:])
    prompt_ids = np.zeros((batch_size, seq_len), "int32")
    prompt_ids[:, :prompt_len] = ids[:, :prompt_len]
    mask = np.zeros_like(prompt_ids)
    mask[:, :prompt_len] = 1
    prompt = {"token_ids": prompt_ids, "padding_mask": mask}
    models = {v: build(family, v, rank, settings) for v in variants}

    def train(v):
        return train_step_seconds(models[v][0], batch, steps)

    def decode(v):
        return decode_seconds(models[v][0], prompt, seq_len, steps)

    train_ratios = {v: [] for v in variants[1:]}
    decode_ratios = {v: [] for v in variants[1:]}
    measured = [(train, train_ratios)] * ("train" in kinds) + [(decode, decode_ratios)] * (
        "decode" in kinds
    )
    for v in variants:  # compile everything before the first timed round
        for measure_one, _ in measured:
            measure_one(v)
    for _ in range(rounds):
        for v in variants[1:]:
            for measure_one, ratios in measured:
                if len(measured) > 1:
                    measure_one(variants[0])  # untimed: the caches warm after the other kind
                base_first = measure_one(variants[0])
                variant = measure_one(v) + measure_one(v)
                ratios[v].append(variant / (base_first + measure_one(variants[0])))
    new_tokens = batch_size * (seq_len - prompt_len)
    rows = []
    for v in variants:
        # The base model: 1 by definition; a kind not measured: no rounds.
        train_v = train_ratios.get(v, [1.0] * rounds) if "train" in kinds else []
        decode_v = decode_ratios.get(v, [1.0] * rounds) if "decode" in kinds else []
        rows.append(
            {
                "family": family,
                "variant": v,
                "params_added": int(models[v][1]),
                "train_ratios": train_v,
                "decode_ratios": decode_v,
                "train_ratio": _spread(train_v),
                "decode_ratio": _spread(decode_v),
                "decode_flops": decode_step_flops(models[v][0], prompt),
            }
        )
    base_flops = rows[0]["decode_flops"]
    for row in rows:
        row["decode_flops_ratio"] = row["decode_flops"] / base_flops if base_flops else None
    if "decode" in kinds:
        rows[0]["base_decode_tokens_per_s"] = new_tokens / decode(variants[0])
    return rows


def decode_step_flops(lm, prompt):
    """The floating-point operations XLA counts in one cached decoding step
    (`call_with_cache` for one token against a full cache); JAX only."""
    if keras.backend.backend() != "jax":
        return None
    import jax

    token_ids = keras.ops.convert_to_tensor(prompt["token_ids"])
    _, cache = lm._build_cache(token_ids)
    values = [v.value for v in lm.variables]

    def step(values, token, cache):
        with keras.StatelessScope(state_mapping=list(zip(lm.variables, values))):
            logits, _, cache = lm.call_with_cache(token, cache, 0)
        return logits, cache

    cost = jax.jit(step).lower(values, token_ids[:, :1], cache).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost  # older JAX: one per device
    return float(cost["flops"])


def _spread(ratios):
    """[median, min, max] of per-round ratios; None for a kind not measured."""
    if not ratios:
        return None
    return [float(np.median(ratios)), float(np.min(ratios)), float(np.max(ratios))]


def geometric_interval(ratios):
    """The 95% interval (Student's t over rounds) of the geometric mean of
    per-round ratios: the mean of their logarithms, mapped back. NaNs for
    fewer than two rounds."""
    return [float(np.exp(b)) for b in interval_95(np.log(ratios))]


def verdict(ratios, target):
    """Met ("yes") when the whole 95% interval is within `target`, missed
    ("no") when all of it is over, "not resolved" when the interval holds
    the target (the measurement cannot tell) or there is a single round."""
    if not ratios:
        return "not measured"
    low, high = geometric_interval(ratios)
    if high <= target:
        return "yes"
    if low > target:
        return "no"
    return "not resolved"


def markdown(rows):
    """The results table. "met" is read from the decoding ratio's 95%
    interval (`verdict`), not from its median alone."""
    lines = [
        "| family | variant | params added | train step / base (median, min-max) "
        "| decoding time per token / base (median, min-max) "
        "| decoding / base, 95% interval | decoding FLOPs / base | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def spread(s):
        return "—" if s is None else f"{s[0]:.3f} ({s[1]:.3f}-{s[2]:.3f})"

    for r in rows:
        d = r["decode_ratios"]
        low, high = geometric_interval(d) if d else (np.nan, np.nan)
        interval = "—" if np.isnan(low) else f"{low:.3f}-{high:.3f}"
        target = TARGETS.get(r["variant"])
        met = verdict(d, target) if target else ""
        flops = r["decode_flops_ratio"]
        lines.append(
            f"| {r['family']} | {r['variant']} | {r['params_added']:,} "
            f"| {spread(r['train_ratio'])} | {spread(r['decode_ratio'])} "
            f"| {interval} | {'—' if flops is None else format(flops, '.4f')} "
            f"| {'≤ %.2f' % target if target else ''} | {met} |"
        )
    return "\n".join(lines)


def header(record):
    args = record["args"]
    only = "Decoding only. " if args.get("measure", "train,decode") == "decode" else ""
    return (
        f"{args['num_layers']} layers, hidden {args['hidden_dim']}. {only}"
        f"Backend {record['backend']}, {args['rounds']} rounds, batch {args['batch_size']}, "
        f"max_length {args['seq_len']}, prompt {args['prompt_len']}, r = {args['rank']}, k = 3, "
        "LAuReL at both residuals of every layer.\n\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="llama,gemma")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--hidden-dim", type=int, default=512, help="decoder width (default 512)")
    parser.add_argument("--num-layers", type=int, default=4, help="decoder layers (default 4)")
    parser.add_argument("--rank", type=int, default=16, help="LR rank (default 16)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--steps", type=int, default=2, help="timed steps and generate() calls per measurement"
    )
    parser.add_argument(
        "--measure",
        default="train,decode",
        help="what each round times: train, decode or both (default train,decode)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128, help="training length, max_length")
    parser.add_argument("--prompt-len", type=int, default=8)
    parser.add_argument("--name", default=None, help="results file stem (none: print only)")
    parser.add_argument("--output-dir", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--render",
        metavar="JSON",
        help="measure nothing: rewrite the .md table of this results file from its rounds",
    )
    args = parser.parse_args(argv)
    if args.render:
        record = json.load(open(args.render))
        stem = os.path.splitext(args.render)[0]
        with open(stem + ".md", "w") as f:
            f.write(header(record) + markdown(record["rows"]) + "\n")
        print(f"wrote {stem}.md")
        return
    variants = args.variants.split(",")
    if variants[0] != "baseline":
        parser.error("--variants: the first must be baseline (the ratios' reference)")
    kinds = args.measure.split(",")
    if set(kinds) - {"train", "decode"}:
        parser.error(f"--measure: expected train, decode or train,decode; got {args.measure!r}")
    families = args.families.split(",")
    for family in families:
        if family not in FAMILIES:
            parser.error(f"--families: unknown {family!r}; expected names from {list(FAMILIES)}")
    settings = {f: config(f, args.hidden_dim, args.num_layers) for f in families}
    rows = []
    for family in families:
        rows += measure(
            family,
            variants,
            args.rank,
            settings[family],
            args.rounds,
            args.steps,
            args.batch_size,
            args.seq_len,
            args.prompt_len,
            kinds,
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
            "config": settings,
            "rows": rows,
        }
        with open(stem + ".json", "w") as f:
            json.dump(record, f, indent=1)
        with open(stem + ".md", "w") as f:
            f.write(header(record) + text + "\n")
        print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
