"""Hyper-connections: n residual streams mixed by learned width and depth connections."""

import keras
from keras import ops

from keras_laurel.relatives.streams import check_streams


def stream_shape(owner, input_shape, streams):
    """`(..., streams, D)` with D known; returns D."""
    shape = tuple(input_shape)
    if len(shape) < 3 or shape[-2] != streams or shape[-1] is None:
        raise ValueError(
            f"{owner}: the input must be the residual streams, shaped (batch, ..., "
            f"streams={streams}, channels) with the channels known (see ExpandStreams); "
            f"received shape {shape}."
        )
    return shape[-1]


def mix_streams(weights, streams):
    """`sum_k weights[k] H_k`: `weights` `(n,)` or per token `(..., n)`,
    `streams` `(..., n, D)`; one matmul (exact for one-hot weights)."""
    return ops.matmul(ops.expand_dims(weights, -2), streams)[..., 0, :]


@keras.saving.register_keras_serializable(package="keras_laurel")
class HyperConnection(keras.layers.Wrapper):
    """A residual block `layer` (`f`) on n streams, with hyper-connections.

    With the streams `H = (H_1, ..., H_n)`:

        h = sum_k A_m[k] H_k                         (width connection)
        H'_j = sum_k A_r[k, j] H_k + B[j] f(h)       (depth connection)

    Static (`dynamic=False`): `A_m` (n), `A_r` (n x n) and `B` (n) are
    weights. Dynamic: each also gets an input-dependent part, per token,
    from the streams normalised over the channels (`H_bar`, a layer norm):
    `A_m + s_a tanh(H_bar W_m)`, `A_r + s_a tanh(H_bar W_r)`,
    `B + s_b tanh(H_bar W_b)`, with `W` zero and `s_a = s_b = 0.01` at init.

    Initialisation (the paper's): `A_m` one-hot at
    `layer_index mod n`, `A_r = I`, `B = 1`. When the streams enter equal
    (`ExpandStreams`), every stream then stays the plain network's hidden
    state: `h = H_(layer_index mod n)` and `H'_j = H_j + f(h)`, exactly, so a
    network built this way computes what the plain one did (`ReduceStreams`
    averages the equal streams back). Training from scratch, the paper uses
    the same initialisation.

    Args:
        layer: the block's branch `f` (its own pre-norm included), mapping
            `(..., D)` to `(..., D)`.
        streams: n, the number of residual streams.
        layer_index: the block's depth (for `A_m`'s one-hot initialisation).
        dynamic: add the input-dependent parts (DHC) to the static ones (SHC).
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape: `(batch, ..., streams, D)`. Output shape: the same.

    Example:

    >>> x = ExpandStreams(4)(keras.Input((16, 32)))
    >>> x = HyperConnection(keras.layers.Dense(32), streams=4, dynamic=True)(x)
    >>> y = ReduceStreams()(x)

    Reference:
        Zhu et al., "Hyper-Connections", ICLR 2025 (arXiv:2409.19606).
    """

    def __init__(self, layer, streams=4, layer_index=0, dynamic=False, **kwargs):
        super().__init__(layer, **kwargs)
        self.streams = check_streams("HyperConnection", streams)
        if isinstance(layer_index, bool) or not isinstance(layer_index, int) or layer_index < 0:
            raise ValueError(
                "HyperConnection: `layer_index` must be a non-negative integer; "
                f"received {layer_index!r}."
            )
        if not isinstance(dynamic, bool):
            raise TypeError(
                f"HyperConnection: `dynamic` must be True or False; received {dynamic!r}."
            )
        self.layer_index = layer_index
        self.dynamic = dynamic
        self.norm = None
        self.width_dynamic = self.depth_dynamic = None
        self.alpha_scale = self.beta_scale = None

    def build(self, input_shape):
        n = self.streams
        channels = stream_shape(f"HyperConnection '{self.name}'", input_shape, n)
        one_hot = [1.0 if k == self.layer_index % n else 0.0 for k in range(n)]
        self.width = self.add_weight((n,), keras.initializers.Constant(one_hot), name="width")
        self.residual_mix = self.add_weight(
            (n, n), keras.initializers.Identity(), name="residual_mix"
        )
        self.depth = self.add_weight((n,), "ones", name="depth")
        if self.dynamic:
            self.norm = keras.layers.LayerNormalization(
                epsilon=1e-5, dtype="float32", name="stream_norm"
            )
            self.norm.build(tuple(input_shape))
            # [W_m | W_r] and W_b: zeros, so the dynamic parts start at 0.
            self.width_dynamic = self.add_weight((channels, 1 + n), "zeros", name="width_dynamic")
            self.depth_dynamic = self.add_weight((channels,), "zeros", name="depth_dynamic")
            self.alpha_scale = self.add_weight(
                (), keras.initializers.Constant(0.01), name="alpha_scale"
            )
            self.beta_scale = self.add_weight(
                (), keras.initializers.Constant(0.01), name="beta_scale"
            )
        self.dim = channels  # D
        if not self.layer.built:
            self.layer.build(tuple(input_shape[:-2]) + (channels,))
        self.built = True

    def connections(self, streams):
        """`(A_m, A_r, B)` for `streams`: `(n,)`, `(n, n)`, `(n,)`, or per
        token `(..., n)`, `(..., n, n)`, `(..., n)` when dynamic."""
        width, residual, depth = self.width, self.residual_mix, self.depth
        if not self.dynamic:
            return width, residual, depth
        normed = self.norm(ops.cast(streams, "float32"))
        mixed = ops.tanh(ops.matmul(normed, ops.cast(self.width_dynamic, "float32")))
        alpha = ops.cast(self.alpha_scale, "float32")
        width = ops.cast(width, "float32") + alpha * mixed[..., 0]
        residual = ops.cast(residual, "float32") + alpha * mixed[..., 1:]
        beta = ops.cast(self.beta_scale, "float32")
        gate = ops.tanh(ops.matmul(normed, ops.cast(self.depth_dynamic, "float32")))
        depth = ops.cast(depth, "float32") + beta * gate
        return tuple(ops.cast(c, streams.dtype) for c in (width, residual, depth))

    def read(self, streams):
        """The width connection: `(h, connections)`, `h = sum_k A_m[k] H_k`
        the branch's input and `connections` what `write` needs."""
        width, residual, depth = self.connections(streams)
        return mix_streams(width, streams), (residual, depth)

    def write(self, streams, fx, connections):
        """The depth connection: the streams after the branch's output `fx`,
        `H'_j = sum_k A_r[k, j] H_k + B[j] fx`."""
        residual, depth = connections
        mixed = ops.matmul(ops.swapaxes(residual, -1, -2), streams)
        return mixed + ops.expand_dims(fx, -2) * ops.expand_dims(depth, -1)

    def call(self, streams, training=None):
        h, connections = self.read(streams)
        return self.write(streams, self.layer(h, training=training), connections)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"streams": self.streams, "layer_index": self.layer_index, "dynamic": self.dynamic}
        )
        return config
