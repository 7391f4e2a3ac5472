"""Hyper-connections (static and dynamic) and mHC against numpy references of
their papers' equations, with random weights, on the current backend: equal
streams stay the plain network at the default initialisation, config and
`.keras` round trips, and errors that name the argument."""

import keras
import numpy as np
import pytest

import keras_laurel as kl

RNG = np.random.default_rng(0)
N, D = 4, 8


def arr(*shape):
    return RNG.normal(size=shape).astype("float32")


def out(v):
    return keras.ops.convert_to_numpy(v).astype("float64")


def branch():
    """f: a dense layer with random weights (numpy: x @ W + b)."""
    dense = keras.layers.Dense(D)
    dense.build((None, D))
    dense.kernel.assign(arr(D, D))
    dense.bias.assign(arr(D))
    return dense


def numpy_branch(dense):
    w, b = out(dense.kernel), out(dense.bias)
    return lambda h: h @ w + b


def layer_norm(x, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + eps)


def hc_reference(H, f, a_m, a_r, b, dynamic=None):
    """Hyper-Connections: h = sum_k A_m[k] H_k; H'_j = sum_k A_r[k, j] H_k + B[j] f(h);
    dynamic: A(H) = s_a tanh(norm(H) W) + A, B(H) = s_b tanh(norm(H) W_b) + B."""
    H = H.astype("float64")
    if dynamic is not None:
        w, w_b, s_a, s_b = dynamic
        Hn = layer_norm(H)
        t = np.tanh(Hn @ w)  # (..., n, 1 + n)
        a_m = a_m + s_a * t[..., 0]
        a_r = a_r + s_a * t[..., 1:]
        b = b + s_b * np.tanh(Hn @ w_b)
    else:
        a_m, a_r, b = (np.broadcast_to(c, H.shape[:-2] + c.shape) for c in (a_m, a_r, b))
    h = np.einsum("...kd,...k->...d", H, a_m)
    o = f(h)
    return np.einsum("...kd,...kj->...jd", H, a_r) + b[..., :, None] * o[..., None, :]


def sinkhorn_reference(logits, iterations):
    m = np.exp(logits)
    for _ in range(iterations):
        m = m / m.sum(-1, keepdims=True)
        m = m / m.sum(-2, keepdims=True)
    return m


def mhc_reference(x, f, gamma, phi, scales, b_pre, b_post, b_res, iterations, eps=1e-6):
    """mHC: x'_j = sum_k H_res[j, k] x_k + H_post[j] f(sum_k H_pre[k] x_k), with
    v = RMSNorm(vec(x)), H_pre = sigmoid(a v phi_pre + b), H_post = 2 sigmoid(...),
    H_res = Sinkhorn-Knopp(a mat(v phi_res) + b) (Eqs. 7-9)."""
    x = x.astype("float64")
    n = x.shape[-2]
    flat = x.reshape(x.shape[:-2] + (-1,))
    v = flat / np.sqrt((flat**2).mean(-1, keepdims=True) + eps) * gamma
    logits = v @ phi
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    pre = sig(scales[0] * logits[..., :n] + b_pre)
    post = 2 * sig(scales[1] * logits[..., n : 2 * n] + b_post)
    res = scales[2] * logits[..., 2 * n :].reshape(logits.shape[:-1] + (n, n)) + b_res
    res = sinkhorn_reference(res, iterations)
    h = np.einsum("...kd,...k->...d", x, pre)
    return np.einsum("...jk,...kd->...jd", res, x) + post[..., :, None] * f(h)[..., None, :]


@pytest.mark.parametrize("dynamic", [False, True])
def test_hyper_connection_is_the_plain_network_at_init(dynamic):
    x = arr(2, 5, D)
    f = branch()
    layer = kl.HyperConnection(f, streams=N, layer_index=6, dynamic=dynamic)
    streams = kl.ExpandStreams(N)(x)
    result = layer(streams)
    plain = keras.ops.convert_to_numpy(f(x)) + x
    for j in range(N):  # every stream is x + f(x), exactly
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(result)[:, :, j], plain)
    np.testing.assert_array_equal(out(layer.width), np.eye(N)[6 % N])


@pytest.mark.parametrize("dynamic", [False, True])
def test_hyper_connection_against_numpy(dynamic):
    H = arr(2, 5, N, D)
    f = branch()
    layer = kl.HyperConnection(f, streams=N, dynamic=dynamic)
    layer.build(H.shape)
    for v in layer.weights:
        if v is not f.kernel and v is not f.bias and "stream_norm" not in v.path:
            v.assign(arr(*v.shape) if len(v.shape) else np.float32(0.3))
    dyn = None
    if dynamic:
        dyn = (out(layer.width_dynamic), out(layer.depth_dynamic), 0.3, 0.3)
    want = hc_reference(
        H, numpy_branch(f), out(layer.width), out(layer.residual_mix), out(layer.depth), dyn
    )
    np.testing.assert_allclose(out(layer(H)), want, rtol=1e-4, atol=1e-4)


def test_sinkhorn_is_doubly_stochastic():
    from keras_laurel.relatives.manifold_hyper_connection import sinkhorn

    logits = arr(3, N, N)
    m = out(sinkhorn(keras.ops.convert_to_tensor(logits), 20))
    np.testing.assert_allclose(m, sinkhorn_reference(logits.astype("float64"), 20), rtol=1e-4)
    np.testing.assert_allclose(m.sum(-2), 1.0, rtol=1e-5)  # columns exactly (the last step)
    np.testing.assert_allclose(m.sum(-1), 1.0, atol=1e-3)  # rows nearly


def test_mhc_is_the_plain_network_at_init():
    x = arr(2, 5, D)
    f = branch()
    layer = kl.ManifoldHyperConnection(f, streams=N)
    result = out(layer(kl.ExpandStreams(N)(x)))
    plain = keras.ops.convert_to_numpy(f(x)).astype("float64") + x
    for j in range(N):  # equal up to rounding in the averages
        np.testing.assert_allclose(result[:, :, j], plain, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        out(kl.ReduceStreams()(layer(kl.ExpandStreams(N)(x)))), plain, rtol=1e-5, atol=1e-5
    )


def test_mhc_against_numpy():
    x = arr(2, 5, N, D)
    f = branch()
    layer = kl.ManifoldHyperConnection(f, streams=N, sinkhorn_iterations=7)
    layer.build(x.shape)
    layer.norm_scale.assign(1 + 0.1 * arr(N * D))
    layer.projection.assign(0.2 * arr(N * D, 2 * N + N * N))
    layer.scales.assign(np.array([0.5, 0.7, 0.9], "float32"))
    for v in (layer.bias_pre, layer.bias_post, layer.bias_res):
        v.assign(arr(*v.shape))
    want = mhc_reference(
        x,
        numpy_branch(f),
        out(layer.norm_scale),
        out(layer.projection),
        out(layer.scales),
        out(layer.bias_pre),
        out(layer.bias_post),
        out(layer.bias_res),
        7,
    )
    np.testing.assert_allclose(out(layer(x)), want, rtol=1e-4, atol=1e-4)


def test_streams_in_and_out():
    x = arr(2, 3, D)
    streams = kl.ExpandStreams(3)(x)
    assert tuple(streams.shape) == (2, 3, 3, D)
    np.testing.assert_allclose(
        out(kl.ReduceStreams("sum")(streams)), 3 * x.astype("float64"), rtol=1e-6
    )
    np.testing.assert_allclose(out(kl.ReduceStreams()(streams)), x, rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: kl.HyperConnection(keras.layers.Dense(D), streams=N, layer_index=2, dynamic=True),
        lambda: kl.HyperConnection(keras.layers.Dense(D), streams=N),
        lambda: kl.ManifoldHyperConnection(keras.layers.Dense(D), streams=N, sinkhorn_iterations=5),
    ],
)
def test_config_and_keras_round_trip(make, tmp_path):
    layer = make()
    assert (
        type(layer).from_config(layer.get_config()).get_config().keys() == layer.get_config().keys()
    )
    inputs = keras.Input((4, D))
    y = kl.ReduceStreams()(layer(kl.ExpandStreams(N)(inputs)))
    model = keras.Model(inputs, y)
    for v in model.weights:
        v.assign(0.3 * arr(*v.shape) if len(v.shape) else np.float32(0.2))
    data = arr(2, 4, D)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(data)), keras.ops.convert_to_numpy(model(data))
    )


def test_a_fit_step_trains_every_weight():
    inputs = keras.Input((4, D))
    x = kl.ExpandStreams(N)(inputs)
    x = kl.HyperConnection(keras.layers.Dense(D), streams=N, dynamic=True)(x)
    # Two mHC blocks: the first one's H_res shapes what the second reads.
    # The last one's cannot reach the output: the mean over streams of its
    # H_res mix is the mean of its inputs (H_res's columns sum to 1).
    blocks = [kl.ManifoldHyperConnection(keras.layers.Dense(D), streams=N) for _ in range(2)]
    for block in blocks:
        x = block(x)
    model = keras.Model(inputs, kl.ReduceStreams()(x))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    # From random weights: while the streams are equal (at init), mixing them
    # with any doubly stochastic H_res gives the same, so b_res has no gradient.
    for v in model.weights:
        v.assign(v + 0.1 * arr(*v.shape))
    start = [np.copy(keras.ops.convert_to_numpy(v)) for v in model.trainable_weights]
    model.fit(arr(4, 4, D), arr(4, 4, D), batch_size=2, epochs=1, verbose=0)
    unmoved = [
        v.path
        for s, v in zip(start, model.trainable_weights)
        if np.array_equal(s, keras.ops.convert_to_numpy(v))
    ]
    assert unmoved == [blocks[-1].bias_res.path]


@pytest.mark.parametrize(
    "make, inputs, error, match",
    [
        (lambda: kl.ExpandStreams(0), None, ValueError, r"`streams` must be a positive integer"),
        (lambda: kl.ReduceStreams("max"), None, ValueError, r"`reduction` must be 'mean' or 'sum'"),
        (
            lambda: kl.HyperConnection(keras.layers.Dense(D), layer_index=-1),
            None,
            ValueError,
            r"`layer_index` must be",
        ),
        (
            lambda: kl.HyperConnection(keras.layers.Dense(D), dynamic="yes"),
            None,
            TypeError,
            r"`dynamic` must be",
        ),
        (
            lambda: kl.ManifoldHyperConnection(keras.layers.Dense(D), streams=1),
            None,
            ValueError,
            r"`streams` must be at least 2",
        ),
        (
            lambda: kl.ManifoldHyperConnection(keras.layers.Dense(D), sinkhorn_iterations=0),
            None,
            ValueError,
            r"`sinkhorn_iterations`",
        ),
        (
            lambda: kl.HyperConnection(keras.layers.Dense(D), streams=N),
            arr(2, 5, D),
            ValueError,
            r"streams=4, channels",
        ),
        (
            lambda: kl.ManifoldHyperConnection(keras.layers.Dense(D), streams=N),
            arr(2, 5, 3, D),
            ValueError,
            r"streams=4, channels",
        ),
    ],
)
def test_bad_input_names_the_argument(make, inputs, error, match):
    with pytest.raises(error, match=match):
        make()(inputs) if inputs is not None else make()


# Through `rewrite` (the contract on Llama and ViT: tests/test_contract.py).


def test_stream_settings_are_validated_once():
    hc, mhc = kl.LaurelSettings("HC"), kl.LaurelSettings("mhc", streams=2)
    assert (hc.variant, hc.streams, hc.dynamic) == ("hc", 4, True)
    assert (mhc.streams, mhc.dynamic) == (2, None) and mhc.uses_streams
    for kwargs, error, match in [
        (dict(variant="rw", streams=2), ValueError, r"`streams` applies only to variants"),
        (dict(variant="hc", streams=1), ValueError, r"`streams` must be an integer >= 2"),
        (dict(variant="hc", streams=2.0), TypeError, r"`streams` must be an integer"),
        (dict(variant="mhc", dynamic=True), ValueError, r"`dynamic` applies only to variant"),
        (dict(variant="hc", dynamic="yes"), TypeError, r"`dynamic` must be True or False"),
        (dict(variant="hc", per_channel=True), ValueError, r"`per_channel` apply to RW's"),
    ]:
        with pytest.raises(error, match=match):
            kl.LaurelSettings(**kwargs)
    with pytest.raises(ValueError, match=r"use keras_laurel.HyperConnection"):
        kl.Laurel("hc")


def test_rewrite_refuses_streams_where_blocks_cannot_read_them():
    import supported
    from llms import backbone

    with pytest.raises(ValueError, match=r"`placement` must be 'both'"):
        kl.rewrite(backbone("llama"), "hc", placement="attention")
    with pytest.raises(ValueError, match=r"blocks of a functional graph .* read their input"):
        kl.rewrite(supported.MODELS["resnet"].backbone(), "mhc")
    # BERT is post-norm: its feedforward residual adds to the normalised sum.
    # Refused while the model is built: the message is the layer's, without
    # the "Could not automatically infer the output shape" Keras wraps around
    # an error in a symbolic call (internals.raised_inside).
    with pytest.raises(ValueError, match=r"'feedforward' adds to another value") as error:
        kl.rewrite(supported.MODELS["bert"].backbone(), "hc")
    assert "infer the output shape" not in str(error.value)
    # Gemma 3n's layers carry AltUp's stack of predictions, and mix it themselves.
    gemma3n = backbone("gemma3n")
    for variant in ("hc", "denseformer"):
        with pytest.raises(ValueError, match=r"Gemma3nTextDecoderBlock: .* AltUp's stack"):
            kl.rewrite(gemma3n, variant)


def test_static_hyper_connections_in_llama_and_their_parameters():
    from llms import HIDDEN
    from llms import LAYERS
    from llms import backbone
    from llms import token_inputs

    base = backbone("llama")
    x = token_inputs(name="llama")
    new = kl.rewrite(base, "hc", streams=2, dynamic=False)
    np.testing.assert_array_equal(out(new(x)), out(base(x)))  # n = 2: the mean is exact
    sites = kl.laurel_layers(new)
    assert len(sites) == 2 * LAYERS and all(s.dim == HIDDEN for s in sites)
    assert new.count_params() - base.count_params() == 2 * LAYERS * (2 + 4 + 2)  # A_m, A_r, B
    # Each site's width connection starts one-hot at its place in the network.
    starts = [int(np.argmax(out(s.width))) for s in sites]
    assert starts == [i % 2 for i in range(2 * LAYERS)]
