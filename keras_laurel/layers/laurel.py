"""The LAuReL residual connection, every variant and combination in one layer."""

import keras
from keras import ops

from keras_laurel.layers.settings import LAYER_SETTINGS
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
    | `"layerscale"` | `lambda * fx + x` (LayerScale, `lambda` per channel)      |
    | `"rezero"`   | `alpha * fx + x` (ReZero, one scalar `alpha`)               |

    `A` is `D x rank`, `B` is `rank x D`, products are taken along `axis` (the
    channel axis), `j` runs over `0 .. k-1` with `x_{i-0} = x`. With PA the
    layer is called as `layer([fx, x, x_prev1, ..., x_prev_m])`, `m <= k - 1`:
    the first blocks of a network have fewer previous activations, and the
    layer then creates only the `m + 1` mixing weights it uses.

    Initialisation keeps the layer an exact plain residual (`fx + x`), so it
    can be added to a pretrained network: `alpha = beta = 1`, `B = 0` (as in
    LoRA), `gamma = 0` when `h_j` is the identity and `gamma = 1` when `h_j`
    is low rank (with `B_j = 0`; `gamma = 0` there would leave `gamma`, `A_j`
    and `B_j` without any gradient, forever). LayerScale's `lambda` and
    ReZero's `alpha` start at `init_value`, 1.0 by default.

    Args:
        variant: one of `"rw"`, `"lr"`, `"pa"`, `"rw+lr"`, `"rw+pa"`,
            `"lr+pa"`, `"rw+lr+pa"` (any order of the names), or one of the
            RW-family relatives `"layerscale"` and `"rezero"`.
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
        init_value: `"layerscale"` and `"rezero"` only: the initial `lambda`
            or `alpha`; `None` gives 1.0, the plain residual.
        lr_form: variant `"lr"` only: `"paper"` (default) or `"gemma3n"`,
            the form of Gemma 3n's built-in LAuReL block,
            `(fx + x + x + RMSNorm((x A) B)) / sqrt(2)` with a learned
            RMSNorm scale (starting at 1, normalised in float32): not the
            plain residual at init (`(fx + 2 x) / sqrt(2)`), so for models
            trained with it from the start; docs/method.md compares the two.
        rw_regularizer, a_regularizer, b_regularizer, gamma_regularizer,
            norm_scale_regularizer: regularizers of RW's weights, `A`, `B`,
            `gamma` and the Gemma 3n form's norm scale.
        rw_constraint, a_constraint, b_constraint, gamma_constraint,
            norm_scale_constraint: constraints of the same weights.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Weights (attributes set in `build`, `None` where the variant has none):
        alpha_logit, beta_logit: RW with `normalization="softmax"`.
        mix_logit: RW with `normalization="sigmoid"`.
        alpha_weight, beta_weight: RW with `normalization=None`.
        scale: LayerScale's `lambda` (`(D,)`) or ReZero's `alpha` (`()`).
        gamma: PA's mixing weights `gamma_j` (`j = 0` is `x`), shape `(m + 1,)`.
        a, b: with LR, tuples of the low-rank factors, one `A_j` (`D x r`)
            and `B_j` (`r x D`) per term: one term without PA.
        norm_scale: the Gemma 3n form's RMSNorm scale, shape `(D,)`.

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

    # The constructor's settings, in `get_config`'s order; a single-variant
    # subclass lists its own (and fixes `VARIANT`).
    ARGUMENTS = LAYER_SETTINGS
    VARIANT = None

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
        init_value=None,
        lr_form="paper",
        rw_regularizer=None,
        a_regularizer=None,
        b_regularizer=None,
        gamma_regularizer=None,
        norm_scale_regularizer=None,
        rw_constraint=None,
        a_constraint=None,
        b_constraint=None,
        gamma_constraint=None,
        norm_scale_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        settings = LaurelSettings.create(
            f"{type(self).__name__} '{self.name}'",
            variant=variant,
            rank=rank,
            k=k,
            normalization=normalization,
            per_channel=per_channel,
            a_initializer=a_initializer,
            b_initializer=b_initializer,
            gamma_initializer=gamma_initializer,
            axis=axis,
            init_value=init_value,
            lr_form=lr_form,
            rw_regularizer=rw_regularizer,
            a_regularizer=a_regularizer,
            b_regularizer=b_regularizer,
            gamma_regularizer=gamma_regularizer,
            norm_scale_regularizer=norm_scale_regularizer,
            rw_constraint=rw_constraint,
            a_constraint=a_constraint,
            b_constraint=b_constraint,
            gamma_constraint=gamma_constraint,
            norm_scale_constraint=norm_scale_constraint,
        )
        if settings.uses_streams or settings.uses_depth_average:
            layers = (
                "keras_laurel.HyperConnection or keras_laurel.ManifoldHyperConnection"
                if settings.uses_streams
                else "keras_laurel.DepthWeightedAverage"
            )
            raise ValueError(
                f"{type(self).__name__} '{self.name}': variant {settings.variant!r} carries "
                "state between layers, which `keras_laurel.rewrite` places in transformer "
                f"layers; as a layer, use {layers}."
            )
        # Held once: `variant`, `rank`, ... are read-only views of it.
        self._settings = settings.with_axis(-1)
        self.supports_masking = True

    @property
    def settings(self):
        """The layer's `LaurelSettings` (the axis resolved, no placement)."""
        return self._settings

    variant = property(lambda self: self._settings.variant, doc="The canonical variant name.")
    rank = property(lambda self: self._settings.rank, doc="Rank of `A`, `B`; `None` without LR.")
    k = property(lambda self: self._settings.k, doc="Activations PA mixes; `None` without PA.")
    normalization = property(lambda self: self._settings.normalization, doc="RW's bound.")
    per_channel = property(lambda self: self._settings.per_channel, doc="RW per channel.")
    axis = property(lambda self: self._settings.axis, doc="The channel axis.")
    lr_form = property(lambda self: self._settings.lr_form, doc='"paper" or "gemma3n".')
    init_value = property(lambda self: self._settings.init_value, doc="LayerScale's, ReZero's.")
    use_rw = property(lambda self: self._settings.use_rw, doc="Whether the variant has RW.")
    use_lr = property(lambda self: self._settings.use_lr, doc="Whether the variant has LR.")
    use_pa = property(lambda self: self._settings.use_pa, doc="Whether the variant has PA.")

    @classmethod
    def from_settings(cls, settings, **kwargs):
        """The layer for a `LaurelSettings` (`kwargs`: `name`, `dtype`, ...).

        `placement` is a rewriter's setting and is ignored here; a
        single-variant class raises if `settings` holds another variant.
        """
        settings = settings.with_axis(-1)
        if cls.VARIANT is not None and settings.variant != cls.VARIANT:
            raise ValueError(
                f"{cls.__name__}.from_settings: the settings hold variant "
                f"{settings.variant!r}; use keras_laurel.Laurel for it."
            )
        layer = cls(**settings.layer_kwargs(cls.ARGUMENTS), **kwargs)
        if layer.settings != settings.replace(placement=None):
            left_out = sorted(
                name
                for name in LAYER_SETTINGS
                if getattr(layer.settings, name) != getattr(settings, name)
            )
            raise ValueError(
                f"{cls.__name__}.from_settings: {cls.__name__} does not take "
                f"{left_out}; use keras_laurel.Laurel for these settings."
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
        layer_scale = self._settings.branch_scale == "layerscale"
        needs_dim = self.use_lr or (self.use_rw and self.per_channel) or layer_scale
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

        def weight(name, shape, initializer, kind, autocast=True):
            return self.add_weight(
                shape,
                initializer,
                name=name,
                regularizer=self._settings.regularizer(kind),
                constraint=self._settings.constraint(kind),
                autocast=autocast,
            )

        # Created in this order (a `.keras` file stores a layer's weights by it).
        rw_shape = (dim,) if self.per_channel else ()
        softmax = self.use_rw and self.normalization == "softmax"
        sigmoid = self.use_rw and self.normalization == "sigmoid"
        raw = self.use_rw and self.normalization is None
        self.alpha_logit = weight("alpha_logit", rw_shape, "zeros", "rw") if softmax else None
        self.beta_logit = weight("beta_logit", rw_shape, "zeros", "rw") if softmax else None
        self.mix_logit = weight("mix_logit", rw_shape, "zeros", "rw") if sigmoid else None
        self.alpha_weight = weight("alpha", rw_shape, "ones", "rw") if raw else None
        self.beta_weight = weight("beta", rw_shape, "ones", "rw") if raw else None
        self.scale = None
        if self._settings.branch_scale is not None:
            constant = keras.initializers.Constant(self.init_value)
            self.scale = weight("scale", (dim,) if layer_scale else (), constant, "rw")
        terms = self.num_inputs - 1 if self.use_pa else 1
        self.gamma = None
        if self.use_pa:
            self.gamma = weight("gamma", (terms,), self._settings.initializer("gamma"), "gamma")
        self.a = self.b = None
        if self.use_lr:
            a_init, b_init = self._settings.initializer("a"), self._settings.initializer("b")
            suffixes = [f"_{j}" for j in range(terms)] if self.use_pa else [""]
            pairs = [
                (
                    weight("a" + s, (dim, self.rank), a_init, "a"),
                    weight("b" + s, (self.rank, dim), b_init, "b"),
                )
                for s in suffixes
            ]
            self.a, self.b = (tuple(p) for p in zip(*pairs))
        self.norm_scale = None
        if self.lr_form == "gemma3n":
            # Kept in float32 under mixed precision, as the norm it scales.
            self.norm_scale = weight("norm_scale", (dim,), "ones", "norm_scale", autocast=False)

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
            alpha = 2.0 * ops.sigmoid(self.alpha_logit - self.beta_logit)
            beta = 2.0 * ops.sigmoid(self.beta_logit - self.alpha_logit)
        elif self.normalization == "sigmoid":
            alpha = 2.0 * ops.sigmoid(self.mix_logit)
            beta = 2.0 * ops.sigmoid(-self.mix_logit)
        else:
            alpha = ops.convert_to_tensor(self.alpha_weight)
            beta = ops.convert_to_tensor(self.beta_weight)
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
        if self.scale is not None:  # LayerScale, ReZero: exactly fx + x at scale 1, x at 0
            return x + self._broadcast(self.scale) * fx
        if self.lr_form == "gemma3n":
            return self._gemma3n_form(fx, x)
        acts = list(inputs[1:]) if self.use_pa else [x]
        alpha, beta = self._residual_weights() if self.use_rw else (None, None)
        gamma = self.gamma

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
                projected.append(ops.matmul(self._to_channels_last(act), self.a[j]))
                c = coefficient(j)
                factors.append(self.b[j] if c is None else self.b[j] * c)
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
        channel axis in float32 with its learned per-channel scale."""
        low = ops.matmul(ops.matmul(self._to_channels_last(x), self.a[0]), self.b[0])
        low = ops.cast(low, "float32")
        mean_square = ops.mean(ops.square(low), axis=-1, keepdims=True)
        normed = low * ops.rsqrt(mean_square + self._GEMMA3N_EPSILON) * self.norm_scale
        normed = ops.cast(normed, self.compute_dtype)
        return (fx + x + x + self._from_channels_last(normed)) * (0.5**0.5)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return mask[1] if isinstance(mask, (list, tuple)) else mask

    def _built_only(self, name):
        if not self.built:
            raise ValueError(
                f"{self._owner()}: `{name}` exists once the layer is built (call it "
                "on inputs, or `build` it, first)."
            )

    @property
    def alpha(self):
        """The effective `alpha`, the weight of `fx` (a tensor, after
        normalisation; LayerScale's `lambda`, ReZero's `alpha`); `None`
        without RW."""
        self._built_only("alpha")
        if self.scale is not None:
            return ops.convert_to_tensor(self.scale)
        return self._residual_weights()[0] if self.use_rw else None

    @property
    def beta(self):
        """The effective `beta` (a tensor, after normalisation); `None` without RW."""
        self._built_only("beta")
        return self._residual_weights()[1] if self.use_rw else None

    @property
    def rw_variables(self):
        """RW's variables (the logits, or raw `alpha`, `beta`; LayerScale's and
        ReZero's scale); `[]` without any."""
        self._built_only("rw_variables")
        names = ("alpha_logit", "beta_logit", "mix_logit", "alpha_weight", "beta_weight", "scale")
        return [v for v in (getattr(self, n) for n in names) if v is not None]

    @property
    def lowrank_variables(self):
        """Every `A_j` and `B_j` (`[]` without LR)."""
        self._built_only("lowrank_variables")
        return list(self.a) + list(self.b) if self.use_lr else []

    def get_config(self):
        config = super().get_config()
        config.update(self._settings.layer_kwargs(self.ARGUMENTS))
        return config
