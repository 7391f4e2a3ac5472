"""`python -m keras_laurel.compare.coefficients`: the learned coefficients
against relative depth, checked against numpy on hand-made compare records."""

import numpy as np
import pytest

from keras_laurel.compare import coefficients


def _record(seed, layers, models, decoder="llama"):
    """A compare record: `models` maps a name to `{(residual, layer): site}`."""
    config = {
        "task": "gpt2-shakespeare",
        "seed": seed,
        "rank": 5,
        "decoder": decoder,
        "layers": layers,
        "hidden": 128,
        "placement": "both",
    }
    results = [{"name": "baseline", "coefficients": []}]
    for name, sites in models.items():
        results.append(
            {
                "name": name,
                "coefficients": [
                    dict(site=f"transformer_layer_{layer}/{residual}_laurel", **values)
                    for (residual, layer), values in sites.items()
                ],
            }
        )
    return {"config": config, "results": results}


def _rw(layers, rng):
    sites = {}
    for layer in range(layers):
        for residual in ("attention", "feedforward"):
            alpha = float(rng.uniform(0.8, 1.2))
            sites[(residual, layer)] = {"alpha": alpha, "beta": 2.0 - alpha}
    return sites


def test_coefficients_pool_seeds_per_residual_and_relative_depth(tmp_path):
    rng = np.random.default_rng(0)
    deep_seeds = [_rw(4, rng) for _ in range(3)]
    shallow = _rw(2, rng)
    pa = {("attention", 0): {"gamma": [0.5]}, ("attention", 1): {"gamma": [0.25, -0.5]}}
    records = [_record(seed, 4, {"rw": sites}) for seed, sites in enumerate(deep_seeds)]
    records.append(_record(0, 2, {"rw": shallow, "pa": pa}, decoder="gpt2"))
    records.append(records[0])  # the same model given twice counts once
    table = coefficients.collect(records)
    # Labels as in `aggregate`'s tables, with the network's shape.
    deep_label, shallow_label, pa_label = (
        "rw (at both residuals), llama 4 x 128",
        "rw (at both residuals), gpt2 2 x 128",
        "pa (at both residuals), gpt2 2 x 128",
    )
    assert list(table) == [deep_label, shallow_label, pa_label]
    deep_row = table[deep_label]
    assert list(deep_row) == [
        (residual, p) for residual in ("attention", "feedforward") for p in (0.25, 0.5, 0.75, 1.0)
    ]
    for layer in range(4):
        alphas = [seed[("feedforward", layer)]["alpha"] for seed in deep_seeds]
        np.testing.assert_allclose(deep_row[("feedforward", (layer + 1) / 4)]["alpha"], alphas)
    assert table[pa_label][("attention", 1.0)] == {"gamma_0": [0.25], "gamma_1": [-0.5]}

    lines = coefficients.markdown(table).splitlines()
    assert lines[0] == (
        "| model | residual | relative depth | seeds | alpha | beta | gamma_0 | gamma_1 |"
    )
    alphas = np.array([seed[("attention", 2)]["alpha"] for seed in deep_seeds])
    row = next(line for line in lines if line.startswith(f"| {deep_label} | attention | 0.750"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[3] == "3"
    assert cells[4] == f"{alphas.mean():.3f} ± {alphas.std(ddof=1):.3f}"
    assert cells[6:] == ["—", "—"]
    pa_row = [c.strip() for c in lines[-1].split("|")[1:-1]]
    assert pa_row[:4] == [pa_label, "attention", "1.000", "1"]
    assert pa_row[4:] == ["—", "—", "0.250 ± n/a", "-0.500 ± n/a"]
    # --models keeps the names asked for.
    assert list(coefficients.collect(records, {"pa"})) == [pa_label]


def test_coefficients_command_writes_table_and_figure(tmp_path, capsys):
    import json

    rng = np.random.default_rng(1)
    paths = []
    for seed in range(2):
        path = tmp_path / f"run-seed{seed}.json"
        path.write_text(json.dumps(_record(seed, 3, {"rw": _rw(3, rng)})))
        paths.append(str(path))
    stem = str(tmp_path / "coefficients")
    coefficients.main(paths + ["--output", stem, "--title", "test"])
    printed = capsys.readouterr().out
    assert open(stem + ".md").read().strip() in printed
    assert (tmp_path / "coefficients.png").stat().st_size > 0
    # Runs without RW or PA say so instead of writing an empty table.
    baseline_only = tmp_path / "baseline.json"
    baseline_only.write_text(json.dumps(_record(0, 3, {})))
    with pytest.raises(SystemExit):
        coefficients.main([str(baseline_only)])
    assert "no model of these runs has learned alpha, beta or gamma" in capsys.readouterr().err
