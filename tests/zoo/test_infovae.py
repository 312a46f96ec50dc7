"""InfoVAE / LagVAE (Zhao, Song & Ermon 2018) on the bundled 8x8 digits: the Lagrangian, dual ascent,
constraints, blocks, the .keras round trip, the held-out measures, ``tfgen train infovae`` and the preset."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.markers import requires_data
from tfgen import data, divergences, presets, runs
from tfgen.lagrangian import LagrangeMultipliers
from zoo import cli, families
from zoo.infovae import (
    InfoVAE,
    InfoVAEConfig,
    LagVAE,
    LagVAEConfig,
    held_out_measures,
    paper_dual_optimizer,
    paper_optimizer,
)
from zoo.infovae.family import FAMILY

SMALL = {"image_shape": (8, 8, 1), "latent": 4, "hidden": (32, 32), "seed": 0}
TINY_RUN = ["train", "infovae", "--method", "lagvae", "--dataset", "digits", "--latent", "4",
            "--hidden", "16",
            "--e1", "20", "--e2", "100", "--batch-size", "100", "--learning-rate", "3e-3",
            "--dual-learning-rate", "0.05", "--eval-k", "5", "--seed", "1", "--verbose", "0"]


@pytest.fixture(scope="module")
def digits():
    images = data.load_images("digits", "train")
    return images.reshape(len(images), -1).astype("float32")


@pytest.fixture
def ported(monkeypatch):
    """The dispatcher over the families whose ``cli`` has ``VERBS`` (the families being ported
    to packages, issue 12, may not import yet); a no-op once every family is ported."""
    def has_verbs(name):
        try:
            return hasattr(families.module(name, "cli"), "VERBS")
        except ImportError:
            return False

    monkeypatch.setattr(families, "NAMES", tuple(name for name in families.NAMES if has_verbs(name)))


def fit(cls, x, epochs, lr=3e-3, dual_lr=0.05, batch_size=100, **config):
    keras.utils.set_random_seed(0)
    model = cls(**{**SMALL, **config})
    model.adapt(x)
    model.compile(optimizer=paper_optimizer(lr), dual_optimizer=paper_dual_optimizer(dual_lr))
    history = model.fit(x, batch_size=batch_size, epochs=epochs, verbose=0)
    return model, history.history


# --- the model -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mi", [1.0, -1.0])
def test_loss_is_the_authors_lagrangian(digits, mi):
    model = InfoVAE(**SMALL, mi=mi, e1=2.0, e2=3.0)
    model.adapt(digits)
    x = digits[:50]
    outputs = model(x)
    loss = float(model.compute_loss(x, None, outputs))
    d = float(tf.reduce_mean(-outputs.log_weights.log_px_z[0]))
    r = float(tf.reduce_mean(outputs.log_weights.kl("z")))
    mmd = float(outputs.mmd)
    assert mmd == pytest.approx(10000 * float(divergences.mmd(outputs.z, outputs.prior_z)), rel=1e-6)
    if mi > 0:
        expected = (2.0 + mi) * d + 2.0 * r + 3.0 * mmd - 2.0 * 2.0 - 3.0 * 3.0
    else:
        expected = 2.0 * d + (2.0 - mi) * r + 3.0 * mmd - 2.0 * 2.0 - 3.0 * 3.0
    assert loss == pytest.approx(expected, rel=1e-5)
    terms = model.constraint_terms(outputs)
    np.testing.assert_allclose(terms["consistency"], -outputs.log_weights.log_w[0], rtol=1e-6)
    np.testing.assert_allclose(terms["mmd"], np.full(50, mmd), rtol=1e-6)


def test_defaults_are_the_authors_architecture_and_readme_examples():
    model = InfoVAE()
    model.build()
    dense = [(784, 1024), (1024, 1024), (1024, 64), (1024, 64), (64, 1024), (1024, 1024), (1024, 784)]
    assert model.count_params() == sum(a * b + b for a, b in dense) + 2  # + the two multipliers
    assert model.encoder.activation == model.decoder.activation == "softplus"
    assert (model.config.mi, model.config.e1, model.config.e2) == (1.0, 1.0, 1.0)
    assert not any(c.learned for c in model.multipliers.constraints.values())
    lagvae = LagVAE.from_config_name("zhao2018_lagvae", latent=8)
    assert (lagvae.config.e1, lagvae.config.e2, lagvae.config.latent) == (86.0, 5.0, 8)
    assert (lagvae.config.lambda_min, lagvae.config.lambda_max) == (0.001, 100.0)
    assert lagvae.name == "lagvae" and isinstance(lagvae.multipliers, LagrangeMultipliers)
    assert lagvae.metric_names()[-4:] == ["consistency", "rate", "mmd", "mutual_information"]


def test_blocks_compose_a_convolutional_gaussian_model(digits):
    x = 0.1 + 0.8 * digits  # intensities in [0, 1]
    model = LagVAE.from_config_name("conv", image_shape=(8, 8, 1), latent=3, hidden=(16,),
                                    likelihood="gaussian", seed=0)
    model.adapt(x)
    model.compile(optimizer=paper_optimizer(1e-3), dual_optimizer=paper_dual_optimizer())
    logs = model.fit(x.reshape(-1, 8, 8, 1)[:200], batch_size=50, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][-1]) and np.isfinite(logs["mmd"][-1])
    decoded = model.decode(tf.zeros([2, 3]))
    assert decoded.event_shape == [64] and decoded.sample(seed=1).shape == (2, 64)
    assert model.sample(4, seed=0).shape == (4, 64)


def test_infovae_weights_stay_fixed_and_metrics_are_logged(digits):
    model, history = fit(InfoVAE, digits, epochs=1, mi=1.0, e1=1.5, e2=2.0)
    assert set(history) == {"loss", "elbo", "iwae_k1", "reconstruction", "kl", "kl_z", "consistency", "rate",
                            "mmd", "mutual_information", "lambda_consistency", "lambda_mmd",
                            "violation_consistency", "violation_mmd"}  # no "distortion": another family's
    assert history["lambda_consistency"] == pytest.approx([1.5])
    assert history["lambda_mmd"] == pytest.approx([2.0])
    np.testing.assert_allclose(history["consistency"], -np.array(history["elbo"]), rtol=1e-5)
    np.testing.assert_allclose(history["rate"], history["kl_z"], rtol=1e-5)
    assert 0 <= history["mutual_information"][-1] <= np.log(100) + 1e-4  # batch estimate, batch 100


def test_lagvae_multiplier_rises_while_violated_and_falls_to_the_clip_when_satisfied(digits):
    # e1 = 0 is violated by any negative ELBO; e2 = 1e6 is never reached by 10000 * MMD <= 20000.
    model, history = fit(LagVAE, digits, epochs=2, mi=1.0, e1=0.0, e2=1e6, dual_lr=0.1)
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
    model, history = fit(LagVAE, digits, epochs=6, mi=-1.0, e1=e1, e2=e2)
    assert history["violation_consistency"][0] > 0 and history["violation_mmd"][0] > 0
    assert max(history["lambda_consistency"]) > 1.0 and max(history["lambda_mmd"]) > 1.0
    final = model.evaluate(digits, batch_size=100, verbose=0, return_dict=True)
    assert final["consistency"] <= 1.05 * e1
    assert final["mmd"] <= 1.1 * e2
    assert final["lambda_mmd"] == pytest.approx(float(model.multipliers()["mmd"]))


def test_keras_file_restores_the_whole_compile_state(digits, tmp_path):
    """model.save / keras.saving.load_model: weights, multipliers and both optimizers' slots and
    iterations as saved; the loaded model evaluates and continues fitting as the original."""
    model, _ = fit(LagVAE, digits[:600], epochs=1, mi=-1.0, e1=0.0, e2=5.0)
    path = str(tmp_path / "lagvae.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, LagVAE) and loaded.config == model.config and loaded.compiled
    assert type(loaded.dual_optimizer) is keras.optimizers.RMSprop
    assert loaded.dual_optimizer.iterations.numpy() == model.dual_optimizer.iterations.numpy() == 6

    def state(m):  # variables by group and path below the optimizer's name (which may become "adam_1")
        groups = (m.weights, m.optimizer.variables, m.dual_optimizer.variables)
        return {(i, v.path.split("/", 1)[-1]): v.numpy() for i, group in enumerate(groups) for v in group}

    saved, restored = state(model), state(loaded)
    assert saved.keys() == restored.keys() and (2, "multipliers_mmd_velocity") in saved
    for key, value in saved.items():
        np.testing.assert_array_equal(restored[key], value, err_msg=key)
    # The sampling noise is the run's state, not the file's (tfgen.runs checkpoints it): align it.
    loaded.seed_generator.state.assign(model.seed_generator.state)
    logs = [m.evaluate(digits[:200], batch_size=100, verbose=0, return_dict=True) for m in (model, loaded)]
    assert logs[1] == logs[0] and np.isfinite(logs[1]["loss"])
    for m in (model, loaded):
        m.fit(digits[:300], batch_size=100, epochs=1, shuffle=False, verbose=0)
    continued = state(loaded)
    for key, value in state(model).items():
        np.testing.assert_array_equal(continued[key], value, err_msg=key)


def test_bad_configuration_and_inputs_raise_clear_errors(digits):
    for cls, fields, match in [(InfoVAE, {"e1": -1.0}, "weight e1 must be >= 0"),
                               (LagVAE, {"kernel": "cosine"}, "Unknown kernel 'cosine'"),
                               (LagVAE, {"mmd_estimator": "path"}, "Unknown mmd_estimator 'path'"),
                               (LagVAE, {"lambda_min": 2.0}, "lambda_min must be > 0.0 and <= 1.0"),
                               (LagVAE, {"latent": 0}, "latent must be an integer >= 1")]:
        with pytest.raises(ValueError, match=match):
            cls(**{**SMALL, **fields})
    assert LagVAE(**SMALL, e1=-5.0).config.e1 == -5.0  # a target, not a weight
    model = LagVAE(**SMALL)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"shape \(batch, 8, 8, 1\) or flat \(batch, 64\)"):
        model.fit(digits.reshape(-1, 8, 8), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="binary data"):
        model.fit(digits * 0.5, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Unknown MMD estimator 'path'"):
        divergences.check_mmd_estimator("path")  # a gradient estimator's name is no MMD estimator


def test_held_out_measures_are_seeded_means_over_fixed_batches(digits):
    model, _ = fit(InfoVAE, digits, epochs=1)
    x = data.load_images("digits", "test").reshape(-1, 64)  # 300 examples: one full batch of 250
    first = held_out_measures(model, x, batch_size=250, seed=3)
    assert held_out_measures(model, x, batch_size=250, seed=3) == first  # the seed repeats it
    assert 0 < first["rate"] < first["consistency"]
    assert 0 <= first["mutual_information"] <= np.log(300) + 1e-4
    # The MMD is that of the full batches of 250 shuffled examples only.
    shuffled = x[np.random.default_rng(3).permutation(300)].astype("float32")
    generator = keras.random.SeedGenerator(3)
    outputs = model.forward(tf.constant(shuffled[:250]), seed=generator)
    assert first["mmd"] == pytest.approx(float(outputs.mmd), rel=1e-5)
    rest = model.forward(tf.constant(shuffled[250:]), seed=generator)
    consistency = -np.concatenate([outputs.log_weights.log_w[0], rest.log_weights.log_w[0]]).mean()
    assert first["consistency"] == pytest.approx(consistency, rel=1e-5)


# --- tfgen train infovae, tfgen evaluate --------------------------------------------------------------
def test_cli_trains_then_evaluates_a_run(tmp_path, capsys, ported):
    out = tmp_path / "run"
    assert cli.main(TINY_RUN + ["--epochs", "1", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    key = "test_log_likelihood_k5"
    assert {f"{key}_{name}" for name in ("consistency", "rate", "mmd", "mutual_information")} <= set(metrics)
    assert metrics[key] > -metrics[f"{key}_consistency"]  # IWAE_5 above the ELBO
    assert {"lambda_mmd", "violation_consistency", "mmd", "consistency"} <= set(metrics["final_train"])
    model, settings = runs.load(str(out))
    assert isinstance(model, LagVAE) and model.config.hidden == (16,) and model.config.e2 == 100.0
    assert settings["method"] == "lagvae" and settings["model"]["image_shape"] == [8, 8, 1]
    command = FAMILY.command(settings)
    assert command.startswith("tfgen train infovae ") and "--resume" not in command
    for flags in ("--method lagvae", "--latent 4", "--hidden 16", "--e1 20.0", "--e2 100.0",
                  "--batch-size 100"):
        assert f" {flags}" in command
    assert "test log-likelihood (k = 5)" in capsys.readouterr().out

    assert cli.main(["evaluate", str(out), "--k", "50", "--seed", "1", "--verbose", "0"]) == 0
    evaluated = runs.read_metrics(str(out))
    assert evaluated["test_log_likelihood_k50"] > -evaluated["test_log_likelihood_k50_consistency"]
    for name in ("consistency", "mmd", "mutual_information"):  # the same seed: the same held-out draws
        assert evaluated[f"test_log_likelihood_k50_{name}"] == pytest.approx(metrics[f"{key}_{name}"])
    assert cli.main(TINY_RUN + ["--epochs", "1", "--out", str(out)]) == 2  # refuses to overwrite
    assert "already holds a run" in capsys.readouterr().err


@pytest.mark.parametrize("flags,message", [
    (["--method", "infovae", "--lambda-min", "0.5"], "--lambda-min is for --method lagvae"),
    (["--method", "infovae", "--e1", "-1"], "InfoVAE's weight e1 must be >= 0"),
    (["--kernel", "cosine"], "invalid choice: 'cosine'"),
    (["--mmd-estimator", "path"], "invalid choice: 'path'"),
    (["--method", "lagvae", "--config", "zhao2018_infovae"], "Unknown configuration 'zhao2018_infovae'"),
    (["--dataset", "cifar10"], "Unknown dataset 'cifar10'"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--dual-learning-rate", "0"], "--dual-learning-rate must be > 0.0"),
])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, ported, flags, message):
    out = tmp_path / "run"
    assert cli.main(["train", "infovae", *flags, "--out", str(out), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_time_budget_then_resume_match_an_uninterrupted_run(tmp_path, ported):
    """A run stopped by --max-minutes after epoch 1 and resumed to epoch 3 ends with the weights,
    multipliers and both optimizers of a straight 3-epoch run."""
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    assert cli.main(TINY_RUN + ["--epochs", "3", "--out", straight]) == 0
    assert cli.main(TINY_RUN + ["--epochs", "3", "--max-minutes", "1e-6", "--out", resumed]) == 0
    stopped = runs.read_metrics(resumed)
    assert (stopped["status"], stopped["epochs"]) == ("time_budget", 1)
    assert cli.main(TINY_RUN + ["--epochs", "3", "--out", resumed, "--resume"]) == 0
    assert (runs.read_metrics(resumed)["status"], runs.read_metrics(resumed)["epochs"]) == ("finished", 3)
    a, _ = runs.load_checkpoint(runs.latest_checkpoint(straight))
    b, _ = runs.load_checkpoint(runs.latest_checkpoint(resumed))
    variables = [(m.weights, m.optimizer.variables, m.dual_optimizer.variables) for m in (a, b)]
    assert b.dual_optimizer.iterations.numpy() == 3 * 13  # 1297 images in batches of 100
    for group_a, group_b in zip(*variables):
        for x, y in zip(group_a, group_b):
            assert x.path.split("/", 1)[-1] == y.path.split("/", 1)[-1]  # "adam/..." vs "adam_1/..."
            np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=x.path)
    for x, y in zip(runs.load(straight)[0].weights, runs.load(resumed)[0].weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert cli.main(TINY_RUN + ["--epochs", "3", "--e1", "21", "--out", resumed, "--resume"]) == 2


def test_a_diverged_run_exits_1_and_keeps_no_final_weights(tmp_path, capsys, ported, monkeypatch):
    monkeypatch.setattr(LagVAE, "objective", lambda self, outputs: outputs.log_weights.log_w[0] * np.nan)
    out = tmp_path / "run"
    assert cli.main(TINY_RUN + ["--epochs", "2", "--out", str(out)]) == 1
    assert "diverged" in capsys.readouterr().err
    assert runs.read_metrics(str(out))["status"] == "diverged" and not (out / "model.weights.h5").exists()


# --- the shipped preset ----------------------------------------------------------------------------
@requires_data
def test_lagvae_preset_reproduces_its_quick_figure():
    import zoo
    import zoo.presets

    name = "lagvae_binarized_mnist_mi1_e140_e3"
    meta = zoo.available()[name]
    model = zoo.load(name)
    assert isinstance(model, LagVAE) and model.compiled
    assert type(model.dual_optimizer) is keras.optimizers.RMSprop
    assert families.of(model) is FAMILY and meta["family"] == "infovae" and meta["test_k"] == FAMILY.default_k
    assert "distortion" not in json.dumps({key: meta[key] for key in ("run_metrics", "test_evaluate")})
    headline, quick = meta["evaluations"]
    assert (quick["k"], quick.get("examples")) == (FAMILY.quick_k, FAMILY.quick_examples)
    settings = zoo.presets.read_config(presets.registered()[name])["settings"]
    measured = FAMILY.measure(model, FAMILY.test_data(model, settings), quick["k"], quick["seed"])
    assert measured["log_likelihood"] == pytest.approx(quick["log_likelihood"], abs=0.2)
    assert measured["mmd"] == pytest.approx(quick["mmd"], rel=1e-3)
    assert measured["mmd"] <= 1.1 * model.config.e2  # the MMD constraint (e2 = 3) holds on the test set
    assert headline["log_likelihood"] >= quick["log_likelihood"]  # IWAE_1000 >= IWAE_100
    assert headline["log_likelihood"] > -headline["consistency"]  # and above the ELBO


def test_config_classes_need_no_tensorflow():
    import pathlib
    import subprocess
    import sys

    code = ("import sys, zoo.infovae, zoo.infovae.cli, zoo.infovae.family; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    root = pathlib.Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
    assert InfoVAEConfig().e1 == 1.0 and LagVAEConfig().e1 == 86.0
