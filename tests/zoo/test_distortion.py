"""Distortion-targeted top-down VAE and its two-stage secondary, on tiny 8x8 images."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.model import LogWeights
from zoo import distortion

TINY = {"image_shape": (8, 8, 1), "resolutions": (1, 4, 8), "latent_layers": (1, 1, 1),
        "encoder_blocks": (1, 1, 1), "width": 8, "bottleneck": 4, "latent_channels": 2}

# The smallest hierarchy (two latent layers), for the tests that train.
MICRO = {**TINY, "resolutions": (1, 8), "latent_layers": (1, 1), "encoder_blocks": (0, 1)}


def tiny(**overrides):
    return distortion.TopDownVAE(**{**TINY, "seed": 0, **overrides})


def micro(**overrides):
    return tiny(**{**MICRO, **overrides})


def blobs(n=128, seed=0):
    """Smooth 8x8 images (0..255): a bright Gaussian blob at a random place and width."""
    rng = np.random.default_rng(seed)
    grid = np.arange(8)[None, :, None]
    cy, cx, w = rng.uniform(1, 7, (3, n, 1, 1))
    img = 255 * np.exp(-((grid - cy) ** 2 + (grid.transpose(0, 2, 1) - cx) ** 2) / (2 * (0.8 + w / 4) ** 2))
    return np.round(img)[..., None].astype("uint8")


def compile_fast(model, dual_lr=0.05):
    optimizer, dual = distortion.paper_optimizers(3e-3, dual_lr)
    model.compile(optimizer, dual_optimizer=dual)
    return model


def test_log_weights_shapes_and_per_layer_parts():
    model = tiny()
    lw = model.log_weights(blobs(5), k=3)
    assert lw.log_w.shape == (3, 5) and lw.log_px_z.shape == (3, 5)
    assert list(lw.log_pz) == list(lw.log_qz) == ["z1x1_0", "z4x4_0", "z8x8_0"] == list(model.latent_names)
    total = lw.log_px_z + sum(lw.log_pz.values()) - sum(lw.log_qz.values())
    np.testing.assert_allclose(lw.log_w, total, rtol=1e-5)


def test_distortion_inverts_the_observation_model():
    model = tiny(gamma=3.0)
    sse = tf.constant([[0.5, 2.0, 7.0]])
    lw = LogWeights(None, model.observation_log_prob(sse), {}, {})
    np.testing.assert_allclose(model.distortion(lw), [0.5, 2.0, 7.0], rtol=1e-4)
    # At D = gamma: log N = -d/2 - d/2 log(2 pi gamma/d) - d log 256 (d = 64 pixels).
    d = 64
    expected = -d / 2 - d / 2 * np.log(2 * np.pi * 3.0 / d) - d * np.log(256)
    np.testing.assert_allclose(float(model.observation_log_prob(3.0)), expected, rtol=1e-6)


def test_config_round_trip_and_keras_file(tmp_path):
    model = tiny(merge=False)
    model.build()
    x = blobs(4)
    clone = distortion.TopDownVAE.from_config(model.get_config())
    assert clone.config == model.config
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.log_weights(x, 2, seed=7).log_w, model.log_weights(x, 2, seed=7).log_w,
                               rtol=1e-5)


def test_bad_inputs_and_configs_are_rejected():
    model = tiny()
    with pytest.raises(ValueError, match="0..255"):
        model.fit(blobs(8) / 255.0, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="expects images"):
        model.fit(np.zeros((8, 7, 7, 1)), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="gamma"):
        tiny(gamma=0.0)
    with pytest.raises(ValueError, match="one entry per resolution"):
        tiny(latent_layers=(1, 1))


def test_cpu_and_paper_configs():
    assert distortion.cpu_config((28, 28, 1)).resolutions[-1] == 28
    assert distortion.cpu_config((32, 32, 3)).resolutions[-1] == 32
    paper = distortion.paper_config("svhn")
    sizes = (paper.width, paper.bottleneck, paper.latent_channels, sum(paper.latent_layers))
    assert sizes == (128, 32, 16, 48)
    assert sum(distortion.paper_config("celeba").latent_layers) == 56
    with pytest.raises(ValueError):
        distortion.cpu_config((64, 64, 3))


@pytest.mark.parametrize("gamma, direction", [(1e-3, 1), (1e6, -1)])
def test_lambda_moves_toward_the_distortion_target(gamma, direction):
    model = compile_fast(micro(gamma=gamma, lambda_initial=0.5))
    history = model.fit(blobs(48), batch_size=16, epochs=1, verbose=0).history
    assert np.sign(history["violation_distortion"][-1]) == direction
    assert np.sign(float(model.multipliers()["distortion"]) - 0.5) == direction


def test_rate_falls_as_gamma_rises():
    x = blobs(256)
    rates = {}
    for gamma in (0.5, 20.0):
        model = compile_fast(micro(gamma=gamma, lambda_initial=0.5))
        model.fit(x, batch_size=32, epochs=4, verbose=0)
        lw = model.log_weights(x, 1, seed=0)
        rates[gamma] = float(np.mean(sum(lw.kl(layer) for layer in model.rate_layers)))
    assert rates[20.0] < 0.5 * rates[0.5]


def test_secondary_starts_at_the_primary_and_leaves_it_frozen(tmp_path):
    x = blobs(64)
    primary = micro(gamma=4.0)
    primary.build()
    before = [w.copy() for w in primary.get_weights()]
    secondary = distortion.SecondaryVAE(primary, gamma=1.0, seed=1)
    secondary.build()
    assert secondary.config.latent_layers == primary.config.latent_layers
    assert list(secondary.latent_names) == list(primary.latent_names) + ["s1x1_0", "s8x8_0"]
    own = {id(v) for v in secondary.trainable_variables}
    assert not own & {id(v) for v in primary.weights}
    # Its mean starts at x_hat = mu(z) of the primary, with the same z.
    np.testing.assert_allclose(secondary.reconstruct(x[:4], seed=3), primary.reconstruct(x[:4], seed=3),
                               atol=1e-6)
    compile_fast(secondary)
    history = secondary.fit(x, batch_size=16, epochs=1, verbose=0).history
    assert "kl_z8x8_0" in history and "kl_s8x8_0" in history
    for a, b in zip(before, primary.get_weights()):
        np.testing.assert_array_equal(a, b)
    # The two-stage ELBO counts both stages' rates; the loss's rate only the secondary's.
    lw = secondary.log_weights(x[:8], 1, seed=0)
    assert set(lw.log_qz) == set(secondary.latent_names)
    path = str(tmp_path / "s.keras")
    secondary.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.primary, distortion.TopDownVAE) and not loaded.primary.trainable
    np.testing.assert_allclose(loaded.log_weights(x[:8], 1, seed=0).log_w, lw.log_w, rtol=1e-5)
    assert dataclasses.asdict(loaded.config) == dataclasses.asdict(secondary.config)
