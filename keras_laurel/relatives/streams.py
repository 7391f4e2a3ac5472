"""The n residual streams of hyper-connections: in at the embedding, out at the end."""

import keras
from keras import ops


def check_streams(owner, streams):
    if isinstance(streams, bool) or not isinstance(streams, int) or streams < 1:
        raise ValueError(f"{owner}: `streams` must be a positive integer; received {streams!r}.")
    return streams


def mean_of_streams(streams):
    """The mean of `(..., n, D)` streams over n, summed pairwise: n equal
    streams give back exactly their value when n is a power of two."""
    parts = [streams[..., j, :] for j in range(streams.shape[-2])]
    while len(parts) > 1:
        parts = [
            parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0] * (1.0 / streams.shape[-2])


@keras.saving.register_keras_serializable(package="keras_laurel")
class ExpandStreams(keras.layers.Layer):
    """`x -> (x, ..., x)`: `streams` copies of the hidden state, on a new
    second-to-last axis, for `HyperConnection` / `ManifoldHyperConnection`
    blocks (Zhu et al., Section 2: the input is replicated n times).

    Args:
        streams: n, the number of residual streams.

    Input shape: `(..., D)`. Output shape: `(..., streams, D)`.

    Example:

    >>> h = ExpandStreams(4)(keras.Input((16, 32)))  # (None, 16, 4, 32)
    """

    def __init__(self, streams=4, **kwargs):
        super().__init__(**kwargs)
        self.streams = check_streams("ExpandStreams", streams)

    def call(self, x):
        return ops.repeat(ops.expand_dims(x, -2), self.streams, axis=-2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.streams, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "streams": self.streams}


@keras.saving.register_keras_serializable(package="keras_laurel")
class ReduceStreams(keras.layers.Layer):
    """The streams back to one hidden state: their mean (the default: equal
    streams give back the hidden state, exactly when n is a power of two,
    so a network with hyper-connections
    at their initialisation computes what the plain one did) or, as the
    papers, their sum (followed there by the final norm, which removes the
    factor n).

    Args:
        reduction: `"mean"` or `"sum"`.

    Input shape: `(..., streams, D)`. Output shape: `(..., D)`.
    """

    def __init__(self, reduction="mean", **kwargs):
        super().__init__(**kwargs)
        if reduction not in ("mean", "sum"):
            raise ValueError(
                f"ReduceStreams: `reduction` must be 'mean' or 'sum'; received {reduction!r}."
            )
        self.reduction = reduction

    def call(self, streams):
        if self.reduction == "sum":
            return ops.sum(streams, axis=-2)
        return mean_of_streams(streams)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-2]) + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
