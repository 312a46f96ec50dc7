"""The fused / flattened fast paths compute exactly what the plain TFP formulas compute."""
import numpy as np
import pytest
import tensorflow as tf

from tests import linear_gaussian
from tfgen import evaluation, layers
from tfgen.model import LatentVariableModel
from zoo.iwae import IWAE


def test_bernoulli_log_prob_and_gradient_match_tfp():
    rng = np.random.default_rng(0)
    logits = tf.constant(np.concatenate([rng.normal(0, 5, (3, 4, 10)), np.full((3, 4, 2), 120.0),
                                         np.full((3, 4, 2), -120.0)], -1), "float32")
    x = tf.constant((rng.random((4, 14)) < 0.5).astype("float32"))  # broadcast over k = 3
    head = layers.BernoulliLogits(14)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        fast = head.log_prob(x, logits)
        plain = head.distribution(logits).log_prob(x)
    np.testing.assert_allclose(fast.numpy(), plain.numpy(), rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(tape.gradient(fast, logits).numpy(), tape.gradient(plain, logits).numpy(),
                               rtol=1e-6, atol=1e-6)


def _bernoulli_exact(x, logits):
    """``sum_d x_d l_d - softplus(l_d)`` in numpy (float64 for float64 logits)."""
    return np.sum(x * logits - np.logaddexp(0.0, logits), -1)


@pytest.mark.parametrize("pixels", [1, 113, 784, 3072])
def test_bernoulli_log_prob_takes_its_logs_over_groups_of_pixels(pixels):
    """One log per group of at most 112 pixels (113 pixels: two groups and a padded factor) gives
    the float64 value (numpy's; the test above holds the kernel to TFP) to float32 rounding,
    saturated logits and logits of 0 (the largest factors, 2) included, and a NaN stays NaN."""
    rng = np.random.default_rng(pixels)
    logits = rng.normal(0, 8, (2, 3, pixels))
    logits[0, 0, :: 7] = 120.0
    logits[0, 1, :: 5] = -120.0
    logits[1, 0] = 0.0  # every factor 1 + exp(0) = 2: a group's product 2^112 at most
    x = (rng.random((3, pixels)) < 0.4).astype("float32")
    exact = _bernoulli_exact(x, logits)  # float64
    fast = layers.bernoulli_log_prob(tf.constant(x), tf.constant(logits, "float32")).numpy()
    np.testing.assert_allclose(fast, exact, rtol=2e-6, atol=1e-5)
    logits[1, 2, -1] = np.nan
    fast = layers.bernoulli_log_prob(tf.constant(x), tf.constant(logits, "float32")).numpy()
    assert np.isnan(fast[1, 2]) and np.isfinite(np.delete(fast.ravel(), 5)).all()


def test_bernoulli_log_prob_broadcasts_logits_over_pixels_and_takes_empty_rows_and_float16():
    rng = np.random.default_rng(1)
    x = (rng.random((2, 3, 300)) < 0.4).astype("float32")
    logits = rng.normal(0, 3, (2, 3, 1))  # one logit for every pixel of a row
    np.testing.assert_allclose(layers.bernoulli_log_prob(x, tf.constant(logits, "float32")),
                               _bernoulli_exact(x, logits), rtol=2e-6, atol=1e-5)
    np.testing.assert_array_equal(layers.bernoulli_log_prob(tf.zeros([3, 0]), tf.zeros([3, 0])), np.zeros(3))
    logits = rng.normal(0, 3, (3, 784)).astype("float16")  # 784 factors of up to 2: past float16's range
    half = layers.bernoulli_log_prob(tf.constant(x[0, :, :1].repeat(784, -1), "float16"), logits)
    assert half.dtype == tf.float16
    np.testing.assert_allclose(half, _bernoulli_exact(x[0, :, :1].repeat(784, -1), logits.astype("float64")),
                               rtol=2e-3)


def test_bernoulli_log_prob_keeps_the_static_shape_of_its_call_site():
    """After its trace has relaxed to unknown shapes, a call site still sees the broadcast shape
    (the VRNN's time loop needs its carry's ``[k, None]`` to stay put, under XLA too)."""
    for n in range(1, 4):  # ever new shapes relax the kernel's trace
        layers.bernoulli_log_prob(tf.ones([n, n + 2]), tf.zeros([2, n, n + 2]))
    shapes = []

    @tf.function(input_signature=[tf.TensorSpec([None, 6]), tf.TensorSpec([1, None, 6])])
    def call_site(x, logits):
        result = layers.bernoulli_log_prob(x, logits)
        shapes.append(result.shape.as_list())
        return result

    call_site(tf.ones([3, 6]), tf.zeros([1, 3, 6]))
    assert shapes == [[1, None]]

def test_gelu_and_gradient_match_tensorflow():
    x = tf.constant(np.linspace(-12.0, 12.0, 1001).reshape(7, 11, 13), "float32")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        fast, plain = layers.gelu(x), tf.nn.gelu(x)
    np.testing.assert_allclose(fast.numpy(), plain.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tape.gradient(fast, x).numpy(), tape.gradient(plain, x).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert np.isnan(layers.gelu(tf.constant([np.nan])).numpy()).all()  # not hidden by the zero tail


@pytest.mark.parametrize("head", [layers.DiagonalGaussian(5), layers.Gaussian(5, variance="learned")])
def test_gaussian_log_probs_match_tfp(head):
    h = tf.random.stateless_normal((3, 4, 7), seed=(1, 2))
    loc, scale = head(h)
    x = tf.random.stateless_normal((4, 5), seed=(3, 4))
    np.testing.assert_allclose(head.log_prob(x, loc, scale).numpy(),
                               head.distribution(loc, scale).log_prob(x).numpy(), rtol=1e-5, atol=1e-5)


def test_heads_on_sample_dimensions_equal_row_by_row():
    head = layers.DiagonalGaussian(3, hidden=(6,))
    h = tf.random.stateless_normal((2, 5, 4), seed=(5, 6))
    loc, scale = head(h)
    assert loc.shape == (2, 5, 3) and scale.shape == (2, 5, 3)
    for i in range(2):
        row_loc, row_scale = head(h[i])
        np.testing.assert_allclose(loc[i].numpy(), row_loc.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(scale[i].numpy(), row_scale.numpy(), rtol=1e-6, atol=1e-6)


def test_encode_split_gives_the_same_log_weights():
    x = (np.random.default_rng(2).random((6, 16)) < 0.3).astype("float32")
    model = IWAE(image_shape=(4, 4, 1), hidden=((8,), (8,)), latent=(4, 2), layers=2, seed=0)
    model.build()
    whole = model.log_weights(x, 7, seed=3)
    split = model.log_weights_from(x, model.encode(x), 7, seed=3)
    np.testing.assert_array_equal(whole.log_w.numpy(), split.log_w.numpy())


class Unsplit(LatentVariableModel):
    """A model scored through ``log_weights`` alone: it has no ``encode``."""

    def __init__(self, inner):
        super().__init__(inner.latent_names)
        self.inner = inner

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        return self.inner.log_weights(x, k, estimator, seed, training)

    def validate_inputs(self, x):
        self.inner.validate_inputs(x)


def test_log_likelihood_reuses_the_encoder_with_the_same_estimates():
    x = (np.random.default_rng(3).random((10, 16)) < 0.3).astype("float32")

    def estimate(wrap):
        model = IWAE(image_shape=(4, 4, 1), hidden=((8,),), latent=(3,), seed=0)
        model.build()
        model.set_weights([np.full_like(w, 0.1 * (i + 1)) for i, w in enumerate(model.get_weights())])
        return evaluation.log_likelihood(wrap(model), x, k=40, max_rows=60, verbose=0)  # chunks of 6 + rest

    shared = estimate(lambda model: model)
    recomputed = estimate(Unsplit)
    np.testing.assert_allclose(shared, recomputed, rtol=1e-6)


def test_log_likelihood_without_encode_is_exact_at_the_posterior():
    model, x = linear_gaussian.make(n=20)
    model.set_posterior()
    np.testing.assert_allclose(evaluation.log_likelihood(model, x, k=30, max_rows=50, verbose=0),
                               model.exact_log_likelihood(x.numpy()), rtol=1e-4)


def test_fused_kernels_called_eagerly_on_many_shapes_trace_at_most_twice():
    """Sampling and evaluation call them eagerly on ever new shapes; without relaxed shapes each
    new shape retraced and TensorFlow warned about excessive retracing."""
    traces = {f: f.experimental_get_tracing_count() for f in (layers._gelu, layers._bernoulli_log_prob)}
    for n in range(1, 9):
        layers.gelu(tf.ones([n, n + 1, 3]))
        layers.bernoulli_log_prob(tf.ones([n, 4]), tf.zeros([n, 4]))
    for f, before in traces.items():
        assert f.experimental_get_tracing_count() - before <= 2
