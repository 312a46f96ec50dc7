"""InfoVAE / LagVAE on the bundled 8x8 digits: the Lagrangian, dual ascent, constraints, saving, CLI."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import data, runs
from zoo import cli, infovae

SMALL = {"input_dim": 64, "latent": 4, "hidden": (32, 32), "seed": 0}


@pytest.fixture(scope="module")
def digits():
    images = data.load_images("digits", "train")
    return images.reshape(len(images), -1).astype("float32")


def fit(cls, x, epochs, lr=3e-3, dual_lr=0.05, batch_size=100, **config):
    keras.utils.set_random_seed(0)
    model = cls(**{**SMALL, **config})
    model.adapt(x)
    model.compile(optimizer=infovae.paper_optimizer(lr), dual_optimizer=infovae.paper_dual_optimizer(dual_lr))
    history = model.fit(x, batch_size=batch_size, epochs=epochs, verbose=0)
    return model, history.history


@pytest.mark.parametrize("mi", [1.0, -1.0])
def test_loss_is_the_authors_lagrangian(digits, mi):
    model = infovae.InfoVAE(**SMALL, mi=mi, e1=2.0, e2=3.0)
    model.adapt(digits)
    x = digits[:50]
    outputs = model(x)
    loss = float(model.compute_loss(x, None, outputs))
    d = float(tf.reduce_mean(-outputs.log_weights.log_px_z[0]))
    r = float(tf.reduce_mean(outputs.log_weights.kl("z")))
    mmd = float(model.mmd(outputs))
    if mi > 0:
        expected = (2.0 + mi) * d + 2.0 * r + 3.0 * mmd - 2.0 * 2.0 - 3.0 * 3.0
    else:
        expected = 2.0 * d + (2.0 - mi) * r + 3.0 * mmd - 2.0 * 2.0 - 3.0 * 3.0
    assert loss == pytest.approx(expected, rel=1e-5)


def test_infovae_weights_stay_fixed_and_metrics_are_logged(digits):
    model, history = fit(infovae.InfoVAE, digits, epochs=1, mi=1.0, e1=1.5, e2=2.0)
    assert history["lambda_consistency"] == pytest.approx([1.5])
    assert history["lambda_mmd"] == pytest.approx([2.0])
    for key in ("consistency", "distortion", "rate", "mmd", "mutual_information", "violation_mmd"):
        assert np.all(np.isfinite(history[key])), key
    np.testing.assert_allclose(history["consistency"], -np.array(history["elbo"]), rtol=1e-5)
    assert 0 <= history["mutual_information"][-1] <= np.log(100) + 1e-4  # batch estimate, batch 100


def test_lagvae_multiplier_rises_while_violated_and_falls_to_the_clip_when_satisfied(digits):
    # e1 = 0 is violated by any negative ELBO; e2 = 1e6 is never reached by 10000 * MMD <= 20000.
    model, history = fit(infovae.LagVAE, digits, epochs=2, mi=1.0, e1=0.0, e2=1e6, dual_lr=0.1)
    assert all(v > 0 for v in history["violation_consistency"])
    assert all(v < 0 for v in history["violation_mmd"])
    lam = model.multipliers()
    assert float(lam["consistency"]) > history["lambda_consistency"][0] > 1.0
    assert float(lam["mmd"]) == pytest.approx(0.001)


def test_lagvae_ends_within_tolerance_of_its_constraints(digits):
    """Both constraints start violated; the multipliers rise, then the model ends inside them.

    (mi = -1 drives this small model to a near-zero rate, where the negative ELBO is ~25.)
    """
    e1, e2 = 26.0, 150.0  # e2 x 10000; the biased MMD's floor at batch 100 is ~72 here
    model, history = fit(infovae.LagVAE, digits, epochs=6, mi=-1.0, e1=e1, e2=e2)
    assert history["violation_consistency"][0] > 0 and history["violation_mmd"][0] > 0
    assert max(history["lambda_consistency"]) > 1.0 and max(history["lambda_mmd"]) > 1.0
    final = model.evaluate(digits, batch_size=100, verbose=0, return_dict=True)
    assert final["consistency"] <= 1.05 * e1
    assert final["mmd"] <= 1.1 * e2
    assert final["lambda_mmd"] == pytest.approx(float(model.multipliers()["mmd"]))


def test_save_and_load_round_trip(digits, tmp_path):
    model = infovae.LagVAE(**SMALL, mi=-1.0, e1=0.0, e2=5.0)
    model.adapt(digits)
    model.multipliers.multipliers["mmd"].assign(3.5)
    path = str(tmp_path / "lagvae.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, infovae.LagVAE) and loaded.config == model.config
    for name, value in model.multipliers().items():
        assert float(loaded.multipliers()[name]) == pytest.approx(float(value))
    np.testing.assert_allclose(loaded.predict(digits[:20], verbose=0).shape, (20,))
    x = tf.constant(digits[:20])
    np.testing.assert_allclose(loaded.encoder(x)[0], model.encoder(x)[0], rtol=1e-5)


def test_bad_configuration_and_inputs_raise_clear_errors(digits):
    with pytest.raises(ValueError, match="weights e1, e2 must be >= 0"):
        infovae.InfoVAE(**SMALL, e1=-1.0)
    with pytest.raises(ValueError, match="Unknown MMD kernel"):
        infovae.LagVAE(**SMALL, kernel="cosine")
    with pytest.raises(ValueError, match="lambda_min"):
        infovae.LagVAE(**SMALL, lambda_min=2.0)
    model = infovae.LagVAE(**SMALL)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="expects flat inputs"):
        model.fit(digits.reshape(-1, 8, 8), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="binary data"):
        model.fit(digits * 0.5, epochs=1, verbose=0)


def test_cli_writes_a_loadable_run(tmp_path, capsys):
    out = str(tmp_path / "run")
    argv = ["lagvae", "--mi=1.0", "--e1=40", "--e2=200", "--dataset", "digits", "--latent", "4",
            "--hidden", "16", "--epochs", "1", "--mi-examples", "200", "--verbose", "0", "--out", out]
    assert cli.main(argv) == 0
    metrics = json.load(open(f"{out}/metrics.json"))
    assert {"lambda_mmd", "violation_consistency", "mmd", "consistency"} <= set(metrics["test"])
    assert 0 <= metrics["test_mutual_information"] <= np.log(200) + 1e-4
    model, settings = runs.load(out)
    assert isinstance(model, infovae.LagVAE) and settings["e2"] == 200.0 and model.config.hidden == (16,)
    assert cli.main(argv) == 2  # refuses to overwrite
    assert cli.main(["infovae", "--dataset", "mnist", "--out", str(tmp_path / "x")]) == 2
    assert cli.main(["infovae", "--epochs", "0", "--out", str(tmp_path / "y")]) == 2
    assert "error" in capsys.readouterr().err
