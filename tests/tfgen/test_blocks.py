"""Convolutional hierarchical-VAE blocks: shapes, densities, precision merging, serialisation."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfgen import blocks, config


def test_bottleneck_shapes_identity_start_and_round_trip():
    x = tf.random.normal((3, 8, 8, 6), seed=0)
    block = blocks.Bottleneck(4, 6, zero_last=True)
    np.testing.assert_allclose(block(x), x)  # residual with a zero last conv: the identity
    head = blocks.Bottleneck(4, 5, residual=False)
    assert head(x).shape == (3, 8, 8, 5)
    clone = blocks.Bottleneck.from_config(head.get_config())
    clone.build(x.shape)
    clone.set_weights(head.get_weights())
    np.testing.assert_allclose(clone(x), head(x), rtol=1e-6)
    with pytest.raises(ValueError, match="residual"):
        blocks.Bottleneck(4, 5)(x)


@pytest.mark.parametrize("kernel", [1, 3])
def test_conv2d_is_keras_conv2d_with_its_checkpoints(tmp_path, kernel):
    x = tf.random.normal((3, 5, 7, 6), seed=1)
    ours, theirs = blocks.Conv2D(4, kernel, padding="same"), keras.layers.Conv2D(4, kernel, padding="same")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.bias.assign(tf.range(4.0))
    keras.Sequential([keras.Input(x.shape[1:]), theirs]).save_weights(tmp_path / "theirs.weights.h5")
    model = keras.Sequential([keras.Input(x.shape[1:]), ours])
    model.load_weights(tmp_path / "theirs.weights.h5")  # a Keras Conv2D checkpoint loads as it is
    model.save(tmp_path / "ours.keras")
    reloaded = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(reloaded(x), theirs(x), rtol=1e-5, atol=1e-6)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y, expected = ours(x), theirs(x)
        loss, expected_loss = tf.reduce_sum(tf.sin(y)), tf.reduce_sum(tf.sin(expected))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    for a, b in zip(tape.gradient(loss, [x, ours.kernel, ours.bias]),
                    tape.gradient(expected_loss, [x, theirs.kernel, theirs.bias])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_bottom_up_gives_one_activation_per_resolution():
    encoder = blocks.BottomUp((1, 4, 8), (1, 1, 2), width=6, middle=3)
    acts = encoder(tf.zeros((2, 8, 8, 1)))
    assert {r: tuple(a.shape) for r, a in acts.items()} == {
        "8": (2, 8, 8, 6), "4": (2, 4, 4, 6), "1": (2, 1, 1, 6)}


def test_check_resolutions():
    assert config.check_resolutions([1, 4, 8], 8) == config.check_resolutions("1,4,8", 8) == (1, 4, 8)
    for bad in ((1, 3, 8), (1, 4), (4, 1, 8), ()):
        with pytest.raises(ValueError):
            config.check_resolutions(bad, 8)


def test_precision_weighting_is_the_product_of_gaussians():
    mu, sigma = blocks.precision_weighted(*(tf.constant(v) for v in (1.0, 2.0, -1.0, 1.0)))
    # N(1, 4) N(-1, 1) is proportional to N(-3/5, 4/5).
    np.testing.assert_allclose([float(mu), float(sigma) ** 2], [-0.6, 0.8], rtol=1e-6)


def test_image_log_prob_sums_normal_densities():
    z, loc, scale = (np.random.default_rng(0).normal(size=(2, 3, 3, 2)) for _ in range(3))
    scale = np.abs(scale) + 0.1
    expected = stats.norm(loc, scale).logpdf(z).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(blocks.image_log_prob(z, loc, scale), expected, rtol=1e-5)


@pytest.mark.parametrize("merge", [False, True])
def test_latent_group_posterior_and_prior_paths(merge):
    group = blocks.LatentGroup(width=6, middle=3, latent=2, merge=merge)
    h, acts = tf.random.normal((4, 4, 4, 6), seed=1), tf.random.normal((4, 4, 4, 6), seed=2)
    seed = keras.random.SeedGenerator(0)
    out, z, log_p, log_q = group(h, acts, seed=seed)
    assert out.shape == h.shape and z.shape == (4, 4, 4, 2)
    assert log_p.shape == (4,) and log_q.shape == (4,)
    out, z, log_p, log_q = group(h, seed=seed)
    assert log_q is None and log_p.shape == (4,)
    # The prior starts as N(0, 1): its last conv is zero, so log p(z) is the standard normal's.
    np.testing.assert_allclose(log_p, stats.norm(0, 1 + 1e-3).logpdf(z).sum(axis=(1, 2, 3)), rtol=1e-4)
