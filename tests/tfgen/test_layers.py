"""Distribution heads: densities against closed forms, config round trips."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfgen import layers


def test_diagonal_gaussian_log_prob_and_reparameterised_sample():
    layer = layers.DiagonalGaussian(3, hidden=(5,))
    h = tf.random.normal([4, 2])
    loc, scale = layer(h)
    assert loc.shape == scale.shape == (4, 3) and np.all(scale.numpy() > 0)
    z = layer.sample(loc, scale, seed=keras.random.SeedGenerator(1), k=7)
    assert z.shape == (7, 4, 3)
    expected = stats.norm(loc.numpy(), scale.numpy()).logpdf(z.numpy()).sum(-1)
    np.testing.assert_allclose(layer.log_prob(z, loc, scale), expected, rtol=1e-5, atol=1e-5)
    # Reparameterised: the sample is differentiable in the parameters, dz/dloc = 1.
    with tf.GradientTape() as tape:
        tape.watch(loc)
        z = layer.sample(loc, scale, seed=keras.random.SeedGenerator(1))
    np.testing.assert_allclose(tape.gradient(z, loc), np.ones(loc.shape))


def test_standard_normal_log_prob():
    z = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(layers.standard_normal_log_prob(z), stats.norm().logpdf(z).sum(-1), rtol=1e-5)


def test_bernoulli_log_prob_mean_and_bias_from_mean():
    layer = layers.BernoulliLogits(6, hidden=(4,))
    h = tf.random.normal([3, 2])
    (logits,) = layer(h)
    x = (np.random.default_rng(1).random((3, 6)) < 0.5).astype("float32")
    p = tf.sigmoid(logits).numpy()
    expected = (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(-1)
    np.testing.assert_allclose(layer.log_prob(x, logits), expected, rtol=1e-5)
    np.testing.assert_allclose(layer.mean(logits), p)
    layer.set_bias_from_mean(np.array([0.5, 0.25, 0.0, 1.0, 0.9, 0.1]))
    bias = layer.heads["logits"].bias.numpy()
    np.testing.assert_allclose(bias[:2], [0.0, np.log(1 / 3)], atol=1e-6)
    np.testing.assert_allclose(bias[2:4], [np.log(1e-3 / (1 - 1e-3)), -np.log(1e-3 / (1 - 1e-3))], rtol=1e-5)


def test_bernoulli_refuses_non_binary_data():
    layers.BernoulliLogits.validate(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="binary data.*0.5"):
        layers.BernoulliLogits.validate(np.array([[0.0, 0.5]]))


@pytest.mark.parametrize("variance", ["fixed", "learned"])
def test_gaussian_likelihood(variance):
    layer = layers.Gaussian(3, hidden=(4,), variance=variance, scale=0.3)
    loc, scale = layer(tf.random.normal([2, 5]))
    if variance == "fixed":
        np.testing.assert_allclose(scale, np.full((2, 3), 0.3), rtol=1e-6)
    x = np.random.default_rng(2).normal(size=(2, 3)).astype("float32")
    expected = stats.norm(loc.numpy(), scale.numpy()).logpdf(x).sum(-1)
    np.testing.assert_allclose(layer.log_prob(x, loc, scale), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="variance must be"):
        layers.Gaussian(3, variance="diagonal")


@pytest.mark.parametrize("make", [
    lambda: layers.MLP((4, 3), "relu"),
    lambda: layers.DiagonalGaussian(3, (4,), "tanh"),
    lambda: layers.BernoulliLogits(5, (4, 4)),
    lambda: layers.Gaussian(2, (3,), variance="learned", scale=0.5),
])
def test_config_round_trip_keeps_outputs(make):
    layer = make()
    x = tf.random.normal([2, 6])
    out = layer(x)
    clone = layer.__class__.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    for a, b in zip(tf.nest.flatten(out), tf.nest.flatten(clone(x))):
        np.testing.assert_allclose(a, b, rtol=1e-6)
