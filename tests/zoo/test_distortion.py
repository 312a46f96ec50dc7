"""Distortion-targeted top-down VAE and its two-stage secondary, on tiny 8x8 images."""
import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.model import LogWeights
from zoo.distortion import CONFIGS, DistortionConfig, SecondaryVAE, TopDownVAE, paper_optimizers

TINY = {"image_shape": (8, 8, 1), "resolutions": (1, 4, 8), "latent_layers": (1, 1, 1),
        "encoder_blocks": (1, 1, 1), "width": 8, "bottleneck": 4, "latent_channels": 2}

# The smallest hierarchy (two latent layers), for the tests that train.
MICRO = {**TINY, "resolutions": (1, 8), "latent_layers": (1, 1), "encoder_blocks": (0, 1)}


def tiny(**overrides):
    return TopDownVAE(**{**TINY, "seed": 0, **overrides})


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
    optimizer, dual = paper_optimizers(3e-3, dual_lr)
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


def test_objective_is_the_negative_lagrangian_and_track_adds_the_family_metrics():
    model = micro(gamma=2.0, lambda_initial=0.3)
    outputs = model(blobs(6))
    rate = sum(outputs.kl(layer) for layer in model.rate_layers)
    distortion = model.distortion(outputs)
    np.testing.assert_allclose(model.objective(outputs), -(0.7 * rate + 0.3 * distortion), rtol=1e-5)
    tracked = model.track(outputs)
    assert set(tracked) == set(model.metric_names()) >= {"elbo", "kl_z8x8_0", "rate", "distortion"}
    dims_ln2 = 64 * math.log(2)
    np.testing.assert_allclose(tracked["bits_per_dim"], -tracked["elbo"] / dims_ln2, rtol=1e-5)
    np.testing.assert_allclose(tracked["rate_bits_per_dim"], rate / dims_ln2, rtol=1e-5)
    np.testing.assert_allclose(model.constraint_terms(outputs)["distortion"], distortion)
    assert model.predict_step(blobs(6)).shape == (6,)


def test_config_round_trip_and_keras_file(tmp_path):
    model = tiny(merge=False)
    model.build()
    x = blobs(4)
    clone = TopDownVAE.from_config(model.get_config())
    assert clone.config == model.config and clone.get_config() == model.get_config()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.log_weights(x, 2, seed=7).log_w, model.log_weights(x, 2, seed=7).log_w,
                               rtol=1e-5)


def _assert_same_variables(a, b):
    assert len(a) == len(b) > 0
    for u, v in zip(a, b):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v), err_msg=u.path)


@pytest.mark.parametrize("stage", ["primary", "secondary"])
def test_keras_file_restores_the_whole_compile_state(tmp_path, stage):
    """A saved, trained model loads compiled with both optimizers' state, evaluates, and trains
    on exactly as the model it was saved from."""
    x = blobs(32)
    model = compile_fast(micro(gamma=4.0))
    model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    if stage == "secondary":
        model = compile_fast(SecondaryVAE(model, gamma=1.0, seed=1))
        model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model) and loaded.compiled
    _assert_same_variables(loaded.optimizer.variables, model.optimizer.variables)
    _assert_same_variables(loaded.dual_optimizer.variables, model.dual_optimizer.variables)
    assert int(loaded.dual_optimizer.iterations.numpy()) == 2
    assert len(loaded.trainable_variables) == len(model.trainable_variables)
    logs = loaded.evaluate(x, batch_size=16, verbose=0, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert {"rate", "distortion", "lambda_distortion"} <= set(logs)
    loaded.seed_generator.state.assign(model.seed_generator.state)
    for m in (model, loaded):
        m.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    _assert_same_variables(loaded.weights, model.weights)
    _assert_same_variables(loaded.dual_optimizer.variables, model.dual_optimizer.variables)
    assert int(loaded.optimizer.iterations.numpy()) == 4


def test_bad_inputs_and_configs_are_rejected():
    model = tiny()
    with pytest.raises(ValueError, match="0..255"):
        model.fit(blobs(8) / 255.0, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="expects images"):
        model.fit(np.zeros((8, 7, 7, 1)), epochs=1, verbose=0)
    for bad, match in [({"gamma": 0.0}, "gamma"), ({"latent_layers": (1, 1)}, "one entry per resolution"),
                       ({"resolutions": (1, 3, 8)}, "divide"), ({"image_shape": (8, 6, 1)}, "square"),
                       ({"lambda_initial": 1.5}, "lambda_initial"), ({"estimator": "dreg"}, "estimator"),
                       ({"latent_layers": (0, 0, 0)}, "at least one latent layer")]:
        with pytest.raises(ValueError, match=match):
            tiny(**bad)


def test_named_configurations():
    assert CONFIGS.names() == ["cpu28", "cpu32", "svhn", "celeba"]
    assert CONFIGS.get("cpu28").resolutions[-1] == 28 and CONFIGS.get("cpu32").resolutions[-1] == 32
    paper = CONFIGS.get("svhn")
    assert paper == DistortionConfig()  # the defaults are the paper's SVHN model (app. A.1)
    sizes = (paper.width, paper.bottleneck, paper.latent_channels, sum(paper.latent_layers))
    assert sizes == (128, 32, 16, 48)
    assert sum(CONFIGS.get("celeba").latent_layers) == 56 and CONFIGS.get("celeba").image_shape == (64, 64, 3)
    model = TopDownVAE.from_config_name("cpu28", gamma=10.0, width=6, bottleneck=3, latent_channels=2)
    assert model.config.gamma == 10.0 and model.rate_layers == ("z1x1_0", "z7x7_0", "z14x14_0", "z28x28_0")
    with pytest.raises(ValueError, match="Unknown configuration"):
        CONFIGS.get("cifar")
    with pytest.raises(ValueError, match="resolutions must end at the image size 64"):
        CONFIGS.get("cpu32", image_shape=(64, 64, 3))


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
        keras.utils.set_random_seed(0)
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
    secondary = SecondaryVAE(primary, gamma=1.0, seed=1)
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
    assert isinstance(loaded.primary, TopDownVAE) and not loaded.primary.trainable
    # A primary rebuilt from the file is frozen too: the loaded secondary trains its own weights only.
    assert len(loaded.trainable_variables) == len(secondary.trainable_variables)
    assert not {id(v) for v in loaded.trainable_variables} & {id(v) for v in loaded.primary.weights}
    np.testing.assert_allclose(loaded.log_weights(x[:8], 1, seed=0).log_w, lw.log_w, rtol=1e-5)
    assert dataclasses.asdict(loaded.config) == dataclasses.asdict(secondary.config)
