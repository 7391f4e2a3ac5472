"""The LAuReL residual connection, every variant and combination in one layer."""

import keras
from keras import ops

from keras_laurel.layers.settings import LaurelSettings


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
        lr_form: variant `"lr"` only: `"paper"` (default) or `"gemma3n"`,
            the form of Gemma 3n's built-in LAuReL block,
            `(fx + x + x + RMSNorm((x A) B)) / sqrt(2)` with a learned
            RMSNorm scale (starting at 1): not the plain residual at init
            (`(fx + 2 x) / sqrt(2)`), so for models trained with it from the
            start; docs/method.md compares the two.

    Input shape:
        A list `[fx, x]` (with PA, followed by up to `k - 1` previous
        activations, newest first) of tensors of one shape, of any rank, with
        the channels on `axis`.

    Output shape:
        The shape of `x`.

    Example:

    >>> x = keras.Input((16, 32))
    >>> fx = keras.layers.Dense(32)(x)
    >>> y = Laurel("rw+lr", rank=4)([fx, x])

    Reference:
        Menghani, Kumar and Kumar, "LAuReL: Learned Augmented Residual
        Layer", ICML 2025 (arXiv:2411.07501); docs/method.md.
    """

    def __init__(
        self,
        variant="rw",
        rank=None,
        k=None,
        normalization="softmax",
        per_channel=False,
        a_initializer="glorot_uniform",
        b_initializer="zeros",
        gamma_initializer=None,
        axis=-1,
        lr_form="paper",
        **kwargs,
    ):
        super().__init__(**kwargs)
        settings = LaurelSettings.create(
            self._owner(),
            variant=variant,
            rank=rank,
            k=k,
            normalization=normalization,
            per_channel=per_channel,
            a_initializer=a_initializer,
            b_initializer=b_initializer,
            gamma_initializer=gamma_initializer,
            axis=axis,
            lr_form=lr_form,
        )
        self.settings = settings.with_axis(-1)
        self.variant = self.settings.variant
        self.use_rw, self.use_lr, self.use_pa = (
            self.settings.use_rw,
            self.settings.use_lr,
            self.settings.use_pa,
        )
        self.rank = self.settings.rank
        self.k = self.settings.k
        self.normalization = self.settings.normalization
        self.per_channel = self.settings.per_channel
        self.axis = self.settings.axis
        self.lr_form = self.settings.lr_form
        self.supports_masking = True

    @classmethod
    def from_settings(cls, settings, **kwargs):
        """The layer for a `LaurelSettings` (`kwargs`: `name`, `dtype`, ...).

        `placement` is a rewriter's setting and is ignored here; a
        single-variant class raises if `settings` holds another variant.
        """
        layer = cls(**settings.layer_kwargs(signature_of=cls), **kwargs)
        if layer.settings != settings.with_axis(-1).replace(placement=None):
            raise ValueError(
                f"{layer._owner()}: the settings hold variant "
                f"{settings.variant!r}; use keras_laurel.Laurel for it."
            )
        return layer

    def _owner(self):
        return f"{type(self).__name__} '{self.name}'"

    def _check_inputs(self, shapes):
        """Validates the list of input shapes; returns the shape of `x`."""
        if isinstance(shapes, (list, tuple)):  # `tf.TensorShape`s, as TensorFlow users pass them
            shapes = [
                tuple(s.as_list()) if hasattr(s, "as_list") and s.rank is not None else s
                for s in shapes
            ]
        if (
            not isinstance(shapes, (list, tuple))
            or not shapes
            or not isinstance(shapes[0], (list, tuple))
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
                f"{self._owner()}: `inputs` must hold {expected}; received {len(shapes)}."
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
                    f"{self._owner()}: {name} must have the shape of x {x_shape}; received {shape}."
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
        self.num_inputs = len(input_shape)
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
            terms = self.num_inputs - 1
            self._gamma = self.add_weight(
                (terms,), self.settings.initializer("gamma"), name="gamma"
            )
            factors = range(terms) if self.use_lr else ()
        else:
            factors = [None] if self.use_lr else ()
        for j in factors:
            suffix = "" if j is None else f"_{j}"
            self._a.append(
                self.add_weight((dim, self.rank), self.settings.initializer("a"), name="a" + suffix)
            )
            self._b.append(
                self.add_weight((self.rank, dim), self.settings.initializer("b"), name="b" + suffix)
            )
        if self.lr_form == "gemma3n":
            self._norm_scale = self.add_weight((dim,), "ones", name="norm_scale")

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
        if len(inputs) != self.num_inputs:
            raise ValueError(
                f"{self._owner()}: the layer was built for {self.num_inputs} "
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
        if self.lr_form == "gemma3n":
            return self._gemma3n_form(fx, x)
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

    # Gemma 3n's RMSNorm epsilon (`rms_norm_eps` of its presets).
    _GEMMA3N_EPSILON = 1e-6

    def _gemma3n_form(self, fx, x):
        """`(fx + x + x + RMSNorm((x A) B)) / sqrt(2)`, the RMSNorm over the
        channel axis with its learned per-channel scale."""
        low = ops.matmul(ops.matmul(self._to_channels_last(x), self._a[0]), self._b[0])
        mean_square = ops.mean(ops.square(low), axis=-1, keepdims=True)
        normed = low * ops.rsqrt(mean_square + self._GEMMA3N_EPSILON) * self._norm_scale
        return (fx + x + x + self._from_channels_last(normed)) * (0.5**0.5)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return mask[1] if isinstance(mask, (list, tuple)) else mask

    # Like `LayerNormalization.gamma`, the weights are public once the layer
    # is built; before that, reading one raises `AttributeError`.

    _BUILT_ONLY = (
        "norm_scale",
        "alpha",
        "beta",
        "gamma",
        "a",
        "b",
        "rw_variables",
        "lowrank_variables",
        "num_inputs",
        "dim",
    )

    def __getattr__(self, name):
        # Reached when normal lookup fails: a property below raised because
        # the layer is not built, or the attribute does not exist at all.
        if name in Laurel._BUILT_ONLY:
            raise AttributeError(
                f"{self._owner()}: `{name}` exists once the layer is built (call "
                "it on inputs, or `build` it, first)."
            )
        parent = getattr(super(), "__getattr__", None)  # torch.nn.Module's
        if parent is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return parent(name)

    def _require_built(self, name):
        if not self.built:
            raise AttributeError(name)

    @property
    def alpha(self):
        """Effective `alpha` (after normalisation), or `None` without RW."""
        self._require_built("alpha")
        return self._residual_weights()[0] if self.use_rw else None

    @property
    def beta(self):
        """Effective `beta` (after normalisation), or `None` without RW."""
        self._require_built("beta")
        return self._residual_weights()[1] if self.use_rw else None

    @property
    def rw_variables(self):
        """RW's variables (the logits, or raw `alpha`, `beta`); `[]` without RW."""
        self._require_built("rw_variables")
        if not self.use_rw:
            return []
        if self.normalization == "softmax":
            return [self._alpha_logit, self._beta_logit]
        if self.normalization == "sigmoid":
            return [self._mix_logit]
        return [self._alpha, self._beta]

    @property
    def gamma(self):
        """PA's mixing weights `gamma_j` (`j = 0` is `x`), a variable; `None` without PA."""
        self._require_built("gamma")
        return self._gamma if self.use_pa else None

    @property
    def a(self):
        """The low-rank `A` (`D x rank`) variable; a list with one `A_j` per PA term."""
        self._require_built("a")
        if not self.use_lr:
            return None
        return list(self._a) if self.use_pa else self._a[0]

    @property
    def b(self):
        """The low-rank `B` (`rank x D`) variable; a list with one `B_j` per PA term."""
        self._require_built("b")
        if not self.use_lr:
            return None
        return list(self._b) if self.use_pa else self._b[0]

    @property
    def norm_scale(self):
        """The RMSNorm scale of the Gemma 3n form (`None` with the paper's)."""
        self._require_built("norm_scale")
        return self._norm_scale if self.lr_form == "gemma3n" else None

    @property
    def lowrank_variables(self):
        """Every `A_j` and `B_j` (`[]` without LR)."""
        self._require_built("lowrank_variables")
        return list(self._a) + list(self._b)

    def get_config(self):
        config = super().get_config()
        # The constructor's own settings: the single-variant subclasses take
        # a subset (LaurelRW has no `rank`, ...).
        config.update(self.settings.layer_kwargs(signature_of=type(self)))
        return config
