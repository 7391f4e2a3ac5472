"""docs/models.md has one row for every KerasHub backbone class installed,
and its `supported` rows are the backbones `rewrite` supports: a KerasHub
upgrade that adds, removes or changes a model fails here, naming the class."""

import inspect
import os

import keras_hub
import pytest

from keras_laurel.graph.backbone import laurel_functional_backbone_class
from keras_laurel.transformers.backbone import is_supported
from keras_laurel.unsupported import REASONS
from keras_laurel.wrapped import encoder_arguments
from keras_laurel.wrapped import is_wrapper

TABLE = os.path.join(os.path.dirname(__file__), "..", "docs", "models.md")
STATUSES = {"supported", "built-in LAuReL", "untested", "not supported"}
# Supported through their graph's `Add` layers (tests/test_presets_and_tasks.py).
GRAPH_BACKBONES = {"ResNetBackbone", "XceptionBackbone"}


def documented():
    """`{class name: (status, text)}` of the table under "Every KerasHub backbone"."""
    with open(TABLE) as f:
        text = f.read()
    section = text.split("## Every KerasHub backbone", 1)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            name, status, reason = (cell.strip() for cell in line.strip("|").split(" | ", 2))
            rows[name.strip("`")] = (status, reason)
    return rows


def installed():
    return sorted(
        name
        for name in dir(keras_hub.models)
        if name.endswith("Backbone")
        and name != "Backbone"
        and isinstance(getattr(keras_hub.models, name), type)
        and issubclass(getattr(keras_hub.models, name), keras_hub.models.Backbone)
    )


def test_every_installed_backbone_has_a_row():
    rows = documented()
    missing = [name for name in installed() if name not in rows]
    assert not missing, f"docs/models.md has no row for the KerasHub backbones {missing}"
    stale = sorted(set(rows) - set(installed()))
    assert not stale, f"docs/models.md has rows for backbones KerasHub no longer has: {stale}"
    for name, (status, reason) in rows.items():
        assert status in STATUSES, f"{name}: unknown status {status!r}"
        assert len(reason) > 20, f"{name}: the row does not say where LAuReL goes or why not"


@pytest.mark.parametrize("name", installed())
def test_supported_rows_are_what_rewrite_supports(name):
    status, _ = documented()[name]
    cls = getattr(keras_hub.models, name)
    if status != "supported":
        assert not (is_supported(cls) or is_wrapper(cls)) and name not in GRAPH_BACKBONES, (
            f"{name} is supported by rewrite: document it"
        )
    elif is_wrapper(cls):  # rewrites its encoders (their families say how)
        arguments = inspect.signature(cls.__init__).parameters
        assert set(encoder_arguments(cls)) <= set(arguments), (
            f"{name} no longer takes {encoder_arguments(cls)}"
        )
    elif name in GRAPH_BACKBONES:
        # Its LAuReL subclass can be made (its module builds with keras.layers).
        assert issubclass(laurel_functional_backbone_class(cls), cls)
    else:
        assert is_supported(cls), f"{name} is documented as supported but rewrite refuses it"


def test_rewrite_gives_the_tables_reason():
    """`rewrite` refuses each `not supported` backbone with its row's reason."""
    refused = {name for name, (status, _) in documented().items() if status == "not supported"}
    assert refused == set(REASONS)
    for name, (status, reason) in documented().items():
        if status == "not supported":
            assert REASONS[name] == reason, (
                f"{name}: docs/models.md and keras_laurel/unsupported.py differ"
            )
