"""The LAuReL residual connection, every variant and combination in one layer."""

import keras
from keras import ops

from keras_laurel.layers.initializers import get_initializer
from keras_laurel.layers.variants import NORMALIZATIONS
from keras_laurel.layers.variants import canonical_variant


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


@keras.saving.register_keras_serializable(package="keras_laurel")
class Laurel(keras.layers.Layer):
    """Learned Augmented Residual Layer (LAuReL), any variant or combination.

    Replaces the residual connection `x_{i+1} = f(x_i) + x_i` with a learned
    one. Called on `[fx, x]` (plus previous activations for PA), where `fx` is
    the block's output `f(x_i)` and `x` the block's input `x_i`:

    | variant      | output                                                      |
    |--------------|-------------------------------------------------------------|
    | `"rw"`       | `alpha * fx + beta * x`                                     |
    | `"lr"`       | `fx + x + (x A) B`                                          |
    | `"pa"`       | `fx + x + sum_j gamma_j x_{i-j}`                             |
    | `"lr+pa"`    | `fx + x + sum_j gamma_j (x_{i-j} A_j) B_j`                   |
    | `"rw+lr"`    | `alpha * fx + beta * (x + (x A) B)`                         |
    | `"rw+pa"`    | `alpha * fx + beta * (x + sum_j gamma_j x_{i-j})`           |
    | `"rw+lr+pa"` | `alpha * fx + beta * (x + sum_j gamma_j (x_{i-j} A_j) B_j)` |

    `A` is `D x rank`, `B` is `rank x D`, products are taken along `axis` (the
    channel axis), `j` runs over `0 .. k-1` with `x_{i-0} = x`. With PA the
    layer is called as `layer([fx, x, x_prev1, ..., x_prev_m])`, `m <= k - 1`:
    the first blocks of a network have fewer previous activations, and the
    layer then creates only the `m + 1` mixing weights it uses.

    Initialisation keeps the layer an exact plain residual (`fx + x`), so it
    can be added to a pretrained network: `alpha = beta = 1`, `B = 0` (as in
    LoRA), `gamma = 0` when `h_j` is the identity and `gamma = 1` when `h_j`
    is low rank (with `B_j = 0`; `gamma = 0` there would leave `gamma`, `A_j`
    and `B_j` without any gradient, forever).

    Args:
        variant: one of `"rw"`, `"lr"`, `"pa"`, `"rw+lr"`, `"rw+pa"`,
            `"lr+pa"`, `"rw+lr+pa"` (any order of the names).
        rank: rank `r` of the low-rank factors; required when the variant
            contains `"lr"`, not allowed otherwise.
        k: number of activations mixed by PA (the current one included);
            defaults to 3 for PA variants, not allowed otherwise.
        normalization: how RW keeps `alpha`, `beta` bounded: `"softmax"`
            (`[alpha, beta] = 2 softmax([a, b])`), `"sigmoid"` (one parameter,
            `alpha = 2 sigmoid(p)`, `beta = 2 - alpha`) or `None` (raw).
        per_channel: RW learns `alpha` and `beta` as vectors over `axis`.
        a_initializer: initialiser of `A` (`"column_orthogonal"` gives the
            paper's LLM initialisation).
        b_initializer: initialiser of `B`.
        gamma_initializer: initialiser of PA's `gamma`; `None` picks the
            identity-preserving default described above.
        axis: the channel axis (`1` for channels-first images).

    Example:

    >>> x = keras.Input((16, 32))
    >>> fx = keras.layers.Dense(32)(x)
    >>> y = Laurel("rw+lr", rank=4)([fx, x])
    """

    def __init__(
        self,
        variant,
        rank=None,
        k=None,
        normalization="softmax",
        per_channel=False,
        a_initializer="glorot_uniform",
        b_initializer="zeros",
        gamma_initializer=None,
        axis=-1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.variant = canonical_variant(variant, self._owner())
        parts = self.variant.split("+")
        self.use_rw = "rw" in parts
        self.use_lr = "lr" in parts
        self.use_pa = "pa" in parts

        if self.use_lr:
            if not _is_int(rank) or rank < 1:
                raise ValueError(
                    f"{self._owner()}: `rank` must be an integer >= 1 for "
                    f"variant {self.variant!r}; received {rank!r}."
                )
        elif rank is not None:
            raise ValueError(
                f"{self._owner()}: `rank` applies only to variants with 'lr' "
                f"(low rank); received rank={rank!r} for {self.variant!r}."
            )
        if self.use_pa:
            k = 3 if k is None else k
            if not _is_int(k) or k < 1:
                raise ValueError(
                    f"{self._owner()}: `k` must be an integer >= 1; "
                    f"received {k!r}."
                )
        elif k is not None:
            raise ValueError(
                f"{self._owner()}: `k` applies only to variants with 'pa' "
                f"(previous activations); received k={k!r} for "
                f"{self.variant!r}."
            )
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"{self._owner()}: `normalization` must be one of "
                f"{list(NORMALIZATIONS)}; received {normalization!r}."
            )
        if not _is_int(axis):
            raise ValueError(
                f"{self._owner()}: `axis` must be an integer; received {axis!r}."
            )
        self.rank = rank
        self.k = k
        self.normalization = normalization
        self.per_channel = bool(per_channel)
        self.a_initializer = get_initializer(a_initializer)
        self.b_initializer = get_initializer(b_initializer)
        self.gamma_initializer = (
            None if gamma_initializer is None else get_initializer(gamma_initializer)
        )
        self.axis = axis
        self.supports_masking = True

    def _owner(self):
        return f"{type(self).__name__} '{self.name}'"

    # ------------------------------------------------------------------ build

    def _check_inputs(self, shapes):
        """Validates the list of input shapes; returns the shape of `x`."""
        if isinstance(shapes, (list, tuple)):  # `tf.TensorShape`s, as TensorFlow users pass them
            shapes = [
                tuple(s.as_list()) if hasattr(s, "as_list") and s.rank is not None else s
                for s in shapes
            ]
        if not isinstance(shapes, (list, tuple)) or not shapes or not isinstance(
            shapes[0], (list, tuple)
        ):
            raise ValueError(
                f"{self._owner()}: call the layer on a list `[fx, x]`"
                + (" followed by up to k - 1 previous activations" if self.use_pa else "")
                + f"; received a single input of shape {shapes!r}."
            )
        most = self.k + 1 if self.use_pa else 2
        if not 2 <= len(shapes) <= most:
            expected = (
                f"between 2 and k + 1 = {most} inputs ([fx, x, x_prev1, ...])"
                if self.use_pa
                else "exactly 2 inputs [fx, x]"
            )
            raise ValueError(
                f"{self._owner()}: `inputs` must hold {expected}; received "
                f"{len(shapes)}."
            )
        names = ["fx", "x"] + [f"previous activation {j}" for j in range(1, len(shapes) - 1)]
        x_shape = tuple(shapes[1])
        for name, shape in zip(names, shapes):
            shape = tuple(shape)
            same = len(shape) == len(x_shape) and all(
                a is None or b is None or a == b for a, b in zip(shape, x_shape)
            )
            if not same:
                raise ValueError(
                    f"{self._owner()}: {name} must have the shape of x "
                    f"{x_shape}; received {shape}."
                )
        ndim = len(x_shape)
        if ndim < 1 or not -ndim <= self.axis < ndim:
            raise ValueError(
                f"{self._owner()}: `axis` {self.axis} is out of range for "
                f"inputs of rank {ndim} (shape {x_shape})."
            )
        return x_shape

    def build(self, input_shape):
        x_shape = self._check_inputs(input_shape)
        self._ndim = len(x_shape)
        self._channel_axis = self.axis % self._ndim
        dim = x_shape[self._channel_axis]
        self._num_inputs = len(input_shape)
        needs_dim = self.use_lr or (self.use_rw and self.per_channel)
        if needs_dim and dim is None:
            raise ValueError(
                f"{self._owner()}: the channel dimension (axis {self.axis}) "
                f"must be known; received input shape {x_shape}."
            )
        if self.use_lr and self.rank > dim:
            raise ValueError(
                f"{self._owner()}: `rank` must be between 1 and the channel "
                f"dimension D = {dim}; received rank={self.rank}."
            )
        self.dim = dim

        if self.use_rw:
            shape = (dim,) if self.per_channel else ()
            if self.normalization == "softmax":
                self._alpha_logit = self.add_weight(shape, "zeros", name="alpha_logit")
                self._beta_logit = self.add_weight(shape, "zeros", name="beta_logit")
            elif self.normalization == "sigmoid":
                self._mix_logit = self.add_weight(shape, "zeros", name="mix_logit")
            else:
                self._alpha = self.add_weight(shape, "ones", name="alpha")
                self._beta = self.add_weight(shape, "ones", name="beta")

        self._a, self._b = [], []
        if self.use_pa:
            terms = self._num_inputs - 1
            gamma_init = self.gamma_initializer or ("ones" if self.use_lr else "zeros")
            self._gamma = self.add_weight((terms,), gamma_init, name="gamma")
            factors = range(terms) if self.use_lr else ()
        else:
            factors = [None] if self.use_lr else ()
        for j in factors:
            suffix = "" if j is None else f"_{j}"
            self._a.append(
                self.add_weight((dim, self.rank), self.a_initializer, name="a" + suffix)
            )
            self._b.append(
                self.add_weight((self.rank, dim), self.b_initializer, name="b" + suffix)
            )

    # ------------------------------------------------------------------- call

    def _broadcast(self, v):
        """Shapes a per-channel vector to broadcast along the channel axis."""
        if len(v.shape) == 0:
            return v
        shape = [1] * self._ndim
        shape[self._channel_axis] = -1
        return ops.reshape(v, shape)

    def _to_channels_last(self, t):
        if self._channel_axis == self._ndim - 1:
            return t
        return ops.moveaxis(t, self._channel_axis, -1)

    def _from_channels_last(self, t):
        if self._channel_axis == self._ndim - 1:
            return t
        return ops.moveaxis(t, -1, self._channel_axis)

    def _residual_weights(self):
        if self.normalization == "softmax":
            alpha = 2.0 * ops.sigmoid(self._alpha_logit - self._beta_logit)
            beta = 2.0 * ops.sigmoid(self._beta_logit - self._alpha_logit)
        elif self.normalization == "sigmoid":
            alpha = 2.0 * ops.sigmoid(self._mix_logit)
            beta = 2.0 * ops.sigmoid(-self._mix_logit)
        else:
            alpha, beta = ops.convert_to_tensor(self._alpha), ops.convert_to_tensor(self._beta)
        return alpha, beta

    def call(self, inputs):
        if len(inputs) != self._num_inputs:
            raise ValueError(
                f"{self._owner()}: the layer was built for {self._num_inputs} "
                f"inputs; received {len(inputs)}."
            )
        # Computed as  alpha fx + c x + sum_j c_j x_{i-j} + sum_j (x_{i-j} A_j)(c_j B_j):
        # every scalar (beta, gamma_j) is folded into the smallest tensor it
        # multiplies (a coefficient, or B_j), and the k low-rank products
        # are one matmul of rank k r, so each full-size activation is read
        # once and the sum is a single elementwise expression.
        # The plain residual fx + x is kept as it is and the learned scalars
        # multiply only the deviation from it:
        #     alpha fx + c x = (fx + x) + (alpha - 1) fx + (c - 1) x.
        # Equal in value, but the residual's gradient then reaches fx and x
        # as it is (plus scaled corrections), as in the plain network, and
        # XLA:CPU reads it once instead of re-computing a scaled chain in
        # every consumer (benchmarks/results/2026-11-23-rw-deviation-form.md).
        fx, x = inputs[0], inputs[1]
        acts = list(inputs[1:]) if self.use_pa else [x]
        alpha, beta = self._residual_weights() if self.use_rw else (None, None)
        gamma = self._gamma if self.use_pa else None

        def coefficient(j):  # the scalar (or per-channel vector) of term j
            c = None if gamma is None else gamma[j]
            if beta is not None:
                c = beta if c is None else c * beta
            return c

        out = fx + x
        if alpha is not None:
            out = out + self._broadcast(alpha - 1.0) * fx
        if self.use_lr:
            if beta is not None:
                out = out + self._broadcast(beta - 1.0) * x
            projected, factors = [], []
            for j, act in enumerate(acts):
                projected.append(ops.matmul(self._to_channels_last(act), self._a[j]))
                c = coefficient(j)
                factors.append(self._b[j] if c is None else self._b[j] * c)
            if len(projected) == 1:
                low = ops.matmul(projected[0], factors[0])
            else:
                low = ops.matmul(
                    ops.concatenate(projected, axis=-1), ops.concatenate(factors, axis=0)
                )
            return out + self._from_channels_last(low)
        if self.use_pa:  # identity h_j: x's own term joins x, c = (1 + gamma_0) beta
            deviation = gamma[0] if beta is None else (1.0 + gamma[0]) * beta - 1.0
            out = out + self._broadcast(deviation) * x
            for j in range(1, len(acts)):
                out = out + self._broadcast(coefficient(j)) * acts[j]
            return out
        return out + self._broadcast(beta - 1.0) * x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return mask[1] if isinstance(mask, (list, tuple)) else mask

    # ------------------------------------------------------------ inspection

    def _require_built(self):
        if not self.built:
            raise ValueError(
                f"{self._owner()}: the layer has no weights until it is built "
                "(call it on inputs first)."
            )

    @property
    def alpha(self):
        """Effective `alpha` (after normalisation), or `None` without RW."""
        self._require_built()
        return self._residual_weights()[0] if self.use_rw else None

    @property
    def beta(self):
        """Effective `beta` (after normalisation), or `None` without RW."""
        self._require_built()
        return self._residual_weights()[1] if self.use_rw else None

    @property
    def gamma(self):
        """PA's mixing weights `gamma_j` (`j = 0` is `x`), or `None` without PA."""
        self._require_built()
        return ops.convert_to_tensor(self._gamma) if self.use_pa else None

    @property
    def a(self):
        """The low-rank `A` (`D x rank`); a list with one `A_j` per PA term."""
        self._require_built()
        if not self.use_lr:
            return None
        factors = [ops.convert_to_tensor(v) for v in self._a]
        return factors if self.use_pa else factors[0]

    @property
    def b(self):
        """The low-rank `B` (`rank x D`); a list with one `B_j` per PA term."""
        self._require_built()
        if not self.use_lr:
            return None
        factors = [ops.convert_to_tensor(v) for v in self._b]
        return factors if self.use_pa else factors[0]

    # ----------------------------------------------------------------- config

    # The constructor arguments `get_config` returns; the single-variant
    # subclasses name only their own.
    _config_keys = (
        "variant", "rank", "k", "normalization", "per_channel", "a_initializer",
        "b_initializer", "gamma_initializer", "axis",
    )

    def get_config(self):
        config = super().get_config()
        everything = {
            "variant": self.variant,
            "rank": self.rank,
            "k": self.k,
            "normalization": self.normalization,
            "per_channel": self.per_channel,
            "a_initializer": keras.initializers.serialize(self.a_initializer),
            "b_initializer": keras.initializers.serialize(self.b_initializer),
            "gamma_initializer": (
                None
                if self.gamma_initializer is None
                else keras.initializers.serialize(self.gamma_initializer)
            ),
            "axis": self.axis,
        }
        config.update({key: everything[key] for key in self._config_keys})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("a_initializer", "b_initializer", "gamma_initializer"):
            if isinstance(config.get(key), dict):
                config[key] = keras.initializers.deserialize(config[key])
        return cls(**config)
