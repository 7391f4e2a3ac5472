"""Do LAuReL's scalars add capacity to the narrow 1-1-1-1 ResNet? No: batch norm absorbs them.

    python docs/results/scripts/bn_absorbs_scalars.py    # from the repository root

With one bottleneck block per stage every residual site is a stage's first
block: its shortcut ends with `stackN_block0_0_bn` and its branch with
`stackN_block0_3_bn`. A scalar `c` on a batch normalisation's output equals
that layer with its scale and offset multiplied by `c`. This rewrites a
randomly initialised backbone (random batch-norm statistics too) with RW and
with PA (k = 3), draws random LAuReL coefficients, folds them into a plain
copy's batch normalisations and prints the largest output difference, in
inference and in training mode (batch statistics), next to the difference to
the unfolded baseline.
"""

import keras
import keras_hub
import numpy as np

import keras_laurel


def backbone():
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 16, 16, 16],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        image_shape=(32, 32, 1),
    )


def scalar(value):
    return float(np.ravel(keras.ops.convert_to_numpy(value))[0])


def main():
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    base = backbone()
    for layer in base.layers:  # scale, offset, moving mean, moving variance
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = (w.shape for w in layer.get_weights())
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, g),
                    rng.normal(0, 0.3, b),
                    rng.normal(0, 0.3, m),
                    rng.uniform(0.5, 1.5, v),
                ]
            )
    x = rng.normal(size=(4, 32, 32, 1)).astype("float32")
    for variant, options in [("rw", {}), ("pa", {"k": 3})]:
        model = keras_laurel.rewrite(base, variant, **options)
        folded = backbone()
        folded.set_weights(base.get_weights())
        for layer in model.layers:
            if not isinstance(layer, keras_laurel.Laurel):
                continue
            layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
            if variant == "rw":  # alpha f(x) + beta x
                branch, skip = scalar(layer.alpha), scalar(layer.beta)
            else:  # f(x) + (1 + gamma_0) x: no earlier activation to mix
                branch, skip = 1.0, 1.0 + scalar(layer.gamma)
            block = layer.name.removesuffix("_add_laurel")
            for name, c in [(block + "_3_bn", branch), (block + "_0_bn", skip)]:
                g, b, m, v = folded.get_layer(name).get_weights()
                folded.get_layer(name).set_weights([g * c, b * c, m, v])
            print(f"{variant} {block}: branch x {branch:.3f}, skip x {skip:.3f}")
        for training in (False, True):
            laurel, plain, unfolded = (
                keras.ops.convert_to_numpy(m(x, training=training)) for m in (model, folded, base)
            )
            print(
                f"{variant}, {'training' if training else 'inference'}: "
                f"max |LAuReL - folded baseline| = {np.abs(laurel - plain).max():.1e} "
                f"(to the unfolded baseline {np.abs(laurel - unfolded).max():.1e})"
            )


if __name__ == "__main__":
    main()
