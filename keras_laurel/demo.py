"""A short demo: a small residual network with every LAuReL variant."""

import keras
import numpy as np

from keras_laurel.layers import VARIANTS
from keras_laurel.layers import Laurel
from keras_laurel.layers import LaurelSettings


def residual_mlp(variant=None, dim=64, depth=4, rank=8, k=None, seed=0):
    """`depth` residual blocks `x + MLP(LayerNorm(x))`, LAuReL on each when asked."""
    keras.utils.set_random_seed(seed)
    k = LaurelSettings("pa", k=k).k
    inputs = keras.Input((dim,), name="features")
    x = inputs
    history = []  # outputs of the previous residual connections, newest first
    for i in range(depth):
        h = keras.layers.LayerNormalization(name=f"block{i}_norm")(x)
        h = keras.layers.Dense(2 * dim, activation="gelu", name=f"block{i}_up")(h)
        fx = keras.layers.Dense(dim, name=f"block{i}_down")(h)
        if variant is None:
            y = keras.layers.Add(name=f"block{i}_add")([fx, x])
        else:
            parts = variant.split("+")
            layer = Laurel(
                variant,
                rank=rank if "lr" in parts else None,
                k=k if "pa" in parts else None,
                name=f"block{i}_laurel",
            )
            y = layer([fx, x, *history[: k - 1]] if "pa" in parts else [fx, x])
        history.insert(0, x)
        x = y
    outputs = keras.layers.Dense(10, name="head")(x)
    return keras.Model(inputs, outputs, name=f"residual_mlp_{variant or 'baseline'}")


def main(dim=64, depth=4, rank=8, k=None):
    k = LaurelSettings("pa", k=k).k
    data = np.random.default_rng(0).normal(size=(4, dim)).astype("float32")
    baseline = residual_mlp(None, dim, depth, rank, k)
    base_out = keras.ops.convert_to_numpy(baseline(data))
    base_params = baseline.count_params()
    base_names = {layer.name for layer in baseline.layers}
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    print(f"residual MLP: {depth} blocks, width {dim}, rank {rank}, k {k}")
    print(f"{'variant':<10} {'params':>8} {'added':>7} {'added %':>8} {'max |out - baseline|':>21}")
    print(f"{'baseline':<10} {base_params:>8} {0:>7} {0:>8.3f} {0:>21.2e}")
    for variant in VARIANTS:
        model = residual_mlp(variant, dim, depth, rank, k)
        for layer in model.layers:  # the baseline's weights, as for a pretrained model
            if layer.weights and layer.name in base_names:
                layer.set_weights(baseline.get_layer(layer.name).get_weights())
        out = keras.ops.convert_to_numpy(model(data))
        added = model.count_params() - base_params
        print(
            f"{variant:<10} {model.count_params():>8} {added:>7} "
            f"{100 * added / base_params:>8.3f} {np.abs(out - base_out).max():>21.2e}"
        )
    print("With the baseline's weights, every variant starts as the plain residual network.")
