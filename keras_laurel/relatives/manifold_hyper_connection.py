"""mHC: hyper-connections whose stream mixing is a doubly stochastic matrix."""

import math

import keras
from keras import ops

from keras_laurel.relatives.hyper_connection import mix_streams
from keras_laurel.relatives.hyper_connection import stream_shape
from keras_laurel.relatives.streams import check_streams


def sinkhorn(logits, iterations):
    """Sinkhorn-Knopp: `exp(logits)` normalised over rows, then columns,
    `iterations` times (over the last two axes); in the logits' dtype."""
    m = ops.exp(logits - ops.max(logits, axis=(-2, -1), keepdims=True))
    for _ in range(iterations):
        m = m / ops.sum(m, axis=-1, keepdims=True)
        m = m / ops.sum(m, axis=-2, keepdims=True)
    return m


@keras.saving.register_keras_serializable(package="keras_laurel")
class ManifoldHyperConnection(keras.layers.Wrapper):
    """A residual block `layer` (`f`) on n streams, with manifold-constrained
    hyper-connections (mHC).

    With the streams `x = (x_1, ..., x_n)` of one token:

        x'_j = sum_k H_res[j, k] x_k + H_post[j] f(sum_k H_pre[k] x_k)

    where, from `v = RMSNorm(vec(x))` (over all n * D values, with a learned
    scale) and one projection `phi = [phi_pre | phi_post | phi_res]`:
    `H_pre = sigmoid(a_pre v phi_pre + b_pre)`,
    `H_post = 2 sigmoid(a_post v phi_post + b_post)` and
    `H_res = Sinkhorn(a_res mat(v phi_res) + b_res)`, a doubly stochastic
    n x n matrix (`sinkhorn_iterations` row and column normalisations of
    its exponential). The coefficients are computed in float32.

    Initialisation: `phi = 0` (`projection_initializer`), `a = 0.01`,
    `b_post = 0` (`H_post = 1`), `b_res = 0` (`H_res` averages the streams)
    and `b_pre = -log(n - 1)` (`H_pre = 1/n`): equal streams stay equal and
    each is the plain network's hidden state, up to rounding in the
    averages. The paper trains from scratch with `a = 0.01` (Appendix A.1);
    its `phi` initialisation is not given there (MaxText draws it at random:
    pass `projection_initializer="variance_scaling"` for that).

    Args:
        layer: the block's branch `f`, mapping `(..., D)` to `(..., D)`.
        streams: n >= 2, the number of residual streams.
        sinkhorn_iterations: Sinkhorn-Knopp iterations (the paper's: 20).
        scale_init: the initial `a_pre`, `a_post`, `a_res`.
        projection_initializer: of `phi`.
        epsilon: of the RMS norm.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape: `(batch, ..., streams, D)`. Output shape: the same.

    Example:

    >>> x = ExpandStreams(4)(keras.Input((16, 32)))
    >>> x = ManifoldHyperConnection(keras.layers.Dense(32), streams=4)(x)
    >>> y = ReduceStreams()(x)

    Reference:
        "mHC: Manifold-Constrained Hyper-Connections", arXiv:2512.24880,
        Eqs. 7-9 and Appendix A.1.
    """

    def __init__(
        self,
        layer,
        streams=4,
        sinkhorn_iterations=20,
        scale_init=0.01,
        projection_initializer="zeros",
        epsilon=1e-6,
        **kwargs,
    ):
        super().__init__(layer, **kwargs)
        self.streams = check_streams("ManifoldHyperConnection", streams)
        if self.streams < 2:
            raise ValueError(
                f"ManifoldHyperConnection: `streams` must be at least 2; received {streams!r}."
            )
        if (
            isinstance(sinkhorn_iterations, bool)
            or not isinstance(sinkhorn_iterations, int)
            or sinkhorn_iterations < 1
        ):
            raise ValueError(
                "ManifoldHyperConnection: `sinkhorn_iterations` must be a positive "
                f"integer; received {sinkhorn_iterations!r}."
            )
        for name, value in (("scale_init", scale_init), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    f"ManifoldHyperConnection: `{name}` must be a number; received {value!r}."
                )
        self.sinkhorn_iterations = sinkhorn_iterations
        self.scale_init = float(scale_init)
        self.projection_initializer = keras.initializers.get(projection_initializer)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        n = self.streams
        channels = stream_shape(f"ManifoldHyperConnection '{self.name}'", input_shape, n)
        self.norm_scale = self.add_weight(
            (n * channels,), "ones", name="norm_scale", autocast=False
        )
        self.projection = self.add_weight(
            (n * channels, 2 * n + n * n), self.projection_initializer, name="projection"
        )
        scale = keras.initializers.Constant(self.scale_init)
        self.scales = self.add_weight((3,), scale, name="scales")  # a_pre, a_post, a_res
        self.bias_pre = self.add_weight(
            (n,), keras.initializers.Constant(-math.log(n - 1)), name="bias_pre"
        )
        self.bias_post = self.add_weight((n,), "zeros", name="bias_post")
        self.bias_res = self.add_weight((n, n), "zeros", name="bias_res")
        self.dim = channels  # D
        if not self.layer.built:
            self.layer.build(tuple(input_shape[:-2]) + (channels,))
        self.built = True

    def connections(self, streams):
        """`(H_pre, H_post, H_res)` per token, in float32: `(..., n)`,
        `(..., n)`, `(..., n, n)`."""
        n = self.streams
        x = ops.cast(streams, "float32")
        flat = ops.reshape(x, tuple(ops.shape(x)[:-2]) + (-1,))
        v = flat * ops.rsqrt(ops.mean(ops.square(flat), axis=-1, keepdims=True) + self.epsilon)
        v = v * self.norm_scale
        logits = ops.matmul(v, ops.cast(self.projection, "float32"))
        scales = ops.cast(self.scales, "float32")
        pre = scales[0] * logits[..., :n] + ops.cast(self.bias_pre, "float32")
        post = scales[1] * logits[..., n : 2 * n] + ops.cast(self.bias_post, "float32")
        res = ops.reshape(logits[..., 2 * n :], tuple(ops.shape(logits)[:-1]) + (n, n))
        res = scales[2] * res + ops.cast(self.bias_res, "float32")
        return ops.sigmoid(pre), 2.0 * ops.sigmoid(post), sinkhorn(res, self.sinkhorn_iterations)

    def read(self, streams):
        """`(h, connections)`: `h = sum_k H_pre[k] x_k`, the branch's input,
        and what `write` needs."""
        pre, post, res = (ops.cast(c, streams.dtype) for c in self.connections(streams))
        return mix_streams(pre, streams), (post, res)

    def write(self, streams, fx, connections):
        """The streams after the branch's output `fx`:
        `x'_j = sum_k H_res[j, k] x_k + H_post[j] fx`."""
        post, res = connections
        return ops.matmul(res, streams) + ops.expand_dims(fx, -2) * ops.expand_dims(post, -1)

    def call(self, streams, training=None):
        h, connections = self.read(streams)
        return self.write(streams, self.layer(h, training=training), connections)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "streams": self.streams,
                "sinkhorn_iterations": self.sinkhorn_iterations,
                "scale_init": self.scale_init,
                "projection_initializer": keras.initializers.serialize(self.projection_initializer),
                "epsilon": self.epsilon,
            }
        )
        return config
