"""Initialisers used by the LAuReL low-rank factors."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_laurel")
class ColumnOrthogonal(keras.initializers.Initializer):
    """The paper's column-orthogonal initialisation for the low-rank `A` (D x r).

    `A[i, j] = 1 / sqrt(r * D)` if `i mod r == j`, else 0: every column has
    disjoint support, so the columns are orthogonal and of equal norm. LAuReL
    used it for its language models (Xavier/Glorot for ResNet).

    Example:

    >>> init = ColumnOrthogonal()
    >>> a = init((8, 2))  # column 0 is non-zero on rows 0, 2, 4, 6
    """

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(
                f"ColumnOrthogonal: `shape` must be 2-D (D, rank); received {tuple(shape)}."
            )
        rows, cols = int(shape[0]), int(shape[1])
        dtype = dtype or keras.config.floatx()
        scale = 1.0 / (rows * cols) ** 0.5
        hit = ops.equal(
            ops.expand_dims(ops.arange(rows) % cols, 1),
            ops.expand_dims(ops.arange(cols), 0),
        )
        return ops.cast(ops.where(hit, scale, 0.0), dtype)


_NAMED = {"column_orthogonal": ColumnOrthogonal}


def get_initializer(identifier):
    """`keras.initializers.get` that also knows `"column_orthogonal"`."""
    if isinstance(identifier, str) and identifier.lower() in _NAMED:
        return _NAMED[identifier.lower()]()
    return keras.initializers.get(identifier)
