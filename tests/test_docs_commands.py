"""Every command in the README, docs/ and benchmarks/ READMEs works as written.

Each shell command of a ```bash block is checked by what it is:

- `keras-laurel compare ...`: parsed and validated as the CLI does (no training);
- `bash docs/results/reproduce.sh <target>`: the target exists, and every
  comparison it runs (printed instead of run) is a valid `compare` command;
- `python -m keras_laurel.compare.aggregate` or `.coefficients ... --output
  STEM`: the table it prints from the committed results is the committed
  `STEM.md`;
- short commands are run as written;
- the long ones (trainings, benchmarks, the set-up) are listed in `LONG` with
  the reason; for a Python script their options must exist in the script.

A command that fits none of these fails the test, so a new one in the docs is
classified here. The README's quick start (a Python block) is run as written.
"""

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

from keras_laurel import cli
from keras_laurel.compare import aggregate
from keras_laurel.compare import coefficients

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(
    os.path.relpath(p, ROOT)
    for pattern in ("docs/**/*.md", "benchmarks/**/*.md")
    for p in glob.glob(os.path.join(ROOT, pattern), recursive=True)
)
# Placeholders the docs use in commands meant to be filled in.
PLACEHOLDERS = {"S": "0", "W": "64,16,16,16", "$S": "0"}
# Commands that train, benchmark or install: too long for the test suite.
LONG = {
    "python3 -m venv": "the main job: set-up and a full comparison",
    "pip install": "installs packages",
    "bash .ci/test": "the test suite itself",
    "benchmarks/run.py": "the benchmark (minutes per backend)",
    "benchmarks/memory_jax.py": "a benchmark",
    "benchmarks/decode.py": "a benchmark (minutes per backend)",
    "benchmarks/forms_tf.py": "a benchmark",
    "benchmarks/one_copy.py": "a benchmark (a 0.4B model, minutes per backend)",
    "benchmarks/investigations/": "XLA:CPU investigations (minutes each)",
    "docs/results/scripts/lr_early.py": "trains GPT-2s for the study",
    "docs/results/scripts/bn_absorbs_scalars.py": "builds ResNets on three backends' numerics",
}
RUN = ("docs/results/scripts/spikes.py", "keras-laurel demo")


def _blocks(path):
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    for match in re.finditer(r"```(\w*)\n(.*?)```", text, re.S):
        line = text[: match.start()].count("\n") + 2
        yield match.group(1), match.group(2), line


def shell_commands(path):
    """`(line, command)` of every shell command in `path`'s bash blocks."""
    found = []
    for language, body, line in _blocks(path):
        if language not in ("bash", "sh", "shell"):
            continue
        body = re.sub(r"\\\n\s*", " ", body)
        for command in body.splitlines():
            command = command.split("  #")[0].split(" # ")[0].strip()
            if command and not command.startswith("#"):
                found.append((line, command))
    return found


def _words(command):
    words = shlex.split(command)
    return [PLACEHOLDERS.get(w, w) for w in words]


def _check_compare(words):
    start = next(i for i, w in enumerate(words) if w.endswith("keras-laurel"))
    args = cli.build_parser().parse_args(words[start + 1 :])
    cli.config_from_args(args)  # raises ValueError for a config that cannot run


def _check_reproduce(command, tmp_path):
    script = os.path.join(ROOT, "docs/results/reproduce.sh")
    target = _words(command)[-1]
    with open(script) as f:
        usage = re.search(r"reproduce.sh \[([^\]]+)\]", f.read()).group(1).split("|")
    assert target in usage, f"reproduce.sh has no target {target!r} ({usage})"
    env = dict(os.environ, COMPARE="echo keras-laurel compare", OUT=str(tmp_path))
    proc = subprocess.run(
        ["bash", "-c", command.replace("bash docs/results/reproduce.sh", f"bash {script}")],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    printed = [line for line in proc.stdout.splitlines() if line.startswith("keras-laurel")]
    assert printed, f"{command} runs no comparison"
    for line in printed:
        _check_compare(shlex.split(line))


def _check_table(command, module, capsys):
    """`module` (aggregate or coefficients) prints, from the committed results,
    the committed `STEM.md` of the command's `--output STEM`."""
    expanded = subprocess.run(
        ["bash", "-O", "nullglob", "-c", "printf '%s\\n' " + command.split(module.__name__, 1)[1]],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.splitlines()
    output = expanded[expanded.index("--output") + 1]
    paths = [os.path.join(ROOT, p) for p in expanded if p.endswith(".json")]
    assert paths, command
    options = [w for w in expanded if w == "--interval"]
    if "--models" in expanded:
        options += expanded[expanded.index("--models") :][:2]
    capsys.readouterr()
    module.main(paths + options)
    with open(os.path.join(ROOT, output + ".md")) as f:
        assert capsys.readouterr().out.strip() == f.read().strip(), output


def _check_long(command, words):
    reason = next((r for key, r in LONG.items() if key in command), None)
    assert reason, f"unclassified command in the docs: {command!r}"
    script = next((w for w in words if w.endswith(".py")), None)
    if script:
        with open(os.path.join(ROOT, script)) as f:
            source = f.read()
        for option in (w.split("=")[0] for w in words if w.startswith("--")):
            assert f'"{option}"' in source, f"{script} has no option {option}"


def _check(command, tmp_path, capsys):
    words = _words(command)
    if "reproduce.sh" in command:
        _check_reproduce(command, tmp_path)
    elif "keras_laurel.compare.aggregate" in command:
        _check_table(command, aggregate, capsys)
    elif "keras_laurel.compare.coefficients" in command:
        _check_table(command, coefficients, capsys)
    elif any(w.endswith("keras-laurel") for w in words) and "compare" in words:
        _check_compare(words)
    elif any(key in command for key in RUN):
        if words[0].endswith("python"):
            words[0] = sys.executable
        elif words[0].endswith("keras-laurel"):
            words[:1] = [sys.executable, "-m", "keras_laurel"]
        proc = subprocess.run(words, capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip(), command
    else:
        _check_long(command, words)


@pytest.mark.parametrize("path", [d for d in DOCS if shell_commands(d)])
def test_documented_commands_work_as_written(path, tmp_path, capsys):
    failures = []
    for line, command in shell_commands(path):
        try:
            _check(command, tmp_path, capsys)
        except (Exception, SystemExit) as error:  # argparse exits on a bad option
            failures.append(f"{path} (block at line {line}): {command}\n    {error!r}"[:600])
    assert not failures, "\n".join(failures)


def test_the_docs_have_commands():
    commands = [c for path in DOCS for _, c in shell_commands(path)]
    assert any("reproduce.sh" in c for c in commands)
    assert any("compare.aggregate" in c for c in commands)
    assert "bash .ci/test" in commands


def test_readme_quick_start_runs_as_written():
    blocks = [body for language, body, _ in _blocks("README.md") if language == "python"]
    quick_start = next(b for b in blocks if "keras_laurel.rewrite(model" in b)
    proc = subprocess.run(
        [sys.executable, "-c", quick_start],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LAuReL sites" in proc.stdout
