"""The shipped presets and ``tfgen list | sample | evaluate PRESET | preset | tune``, for every family."""
import json
import re
import shutil

import keras
import numpy as np
import pytest
from matplotlib import image

import zoo
from tests.markers import requires_data
from tfgen import data, presets, runs
from zoo import cli, distortion, iwae

SHIPPED = "iwae_digits_k5_l1"


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny_run(tmp_path):
    keras.utils.set_random_seed(0)
    model = iwae.IWAE(image_shape=(8, 8, 1), hidden=((8,),), latent=(2,), k=2, seed=0)
    model.build()
    model.likelihood.set_bias_from_mean(np.full(64, 0.3))
    model.compile(optimizer=iwae.paper_optimizer(2e-3))
    run = tmp_path / "run"
    runs.prepare_dir(str(run))
    settings = {"dataset": "digits", "epochs": 3, "overwrite": False, "model": {"k": 2}}
    runs.save(model, str(run), settings, "iwae")
    runs.update_metrics(str(run), train_seconds=4.2, epochs=3)
    return run


def test_every_shipped_preset_is_listed_verified_and_loads(capsys):
    shipped = zoo.available()
    assert SHIPPED in shipped
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "family", "dataset", "k", "test", "figure", "(k)", "passes"]
    for name, meta in shipped.items():
        presets.verify(presets.registered()[name])
        row = next(line for line in lines if line.startswith(name + " "))
        assert f"{meta['test_log_likelihood']:.2f} ({meta['test_k']})" in row
        assert row.endswith(str(meta["passes"]))
        assert zoo.load(name).compiled


def test_shipped_preset_reproduces_its_recorded_figure(capsys):
    meta = zoo.available()[SHIPPED]
    assert meta["test_k"] == 5000 and meta["dataset"] == "digits" and meta["passes"] > 0
    recorded = {e["k"]: e["log_likelihood"] for e in meta["evaluations"]}
    code, out, _ = run_cli(capsys, "evaluate", SHIPPED, "--k", 100, "--verbose", 0)
    assert code == 0
    measured = float(re.search(r"\(k = 100\): (-?\d+\.\d+) nats", out).group(1))
    assert measured == pytest.approx(recorded[100], abs=0.2)
    assert recorded[5000] >= recorded[100] - 0.05  # L_k grows with k (Burda et al., Theorem 1)
    logs = zoo.load(SHIPPED).evaluate(data.load("digits", "test", 100), verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(meta["test_evaluate"]["loss"], abs=0.2)


@requires_data
@pytest.mark.parametrize("name", ["vae_binarized_mnist_k1_l1", "iwae_binarized_mnist_k50_l1",
                                  "vae_binarized_mnist_k1_l2", "iwae_binarized_mnist_k50_l2"])
def test_mnist_presets_reproduce_their_recorded_figures(capsys, name):
    meta = zoo.available()[name]
    recorded = {e["k"]: e["log_likelihood"] for e in meta["evaluations"]}
    code, out, _ = run_cli(capsys, "evaluate", name, "--k", 100, "--verbose", 0)
    assert code == 0
    measured = float(re.search(r"\(k = 100\): (-?\d+\.\d+) nats", out).group(1))
    assert measured == pytest.approx(recorded[100], abs=0.2)
    assert recorded[5000] > recorded[100]  # L_k grows with k (Burda et al., Theorem 1)


def test_tampered_preset_is_refused_by_the_cli(capsys, tmp_path):
    copy = tmp_path / SHIPPED
    shutil.copytree(presets.registered()[SHIPPED], copy)
    weights = bytearray((copy / "model.weights.h5").read_bytes())
    weights[len(weights) // 2] ^= 0x01  # one flipped bit
    (copy / "model.weights.h5").write_bytes(bytes(weights))
    code, _, err = run_cli(capsys, "evaluate", copy, "--k", 10)
    assert code == 2 and "sha256" in err and "refused" in err


@pytest.mark.parametrize("source", ["preset", "run"])
def test_sample_writes_a_png_grid(capsys, tmp_path, tiny_run, source):
    out = tmp_path / "grid.png"
    code, _, _ = run_cli(capsys, "sample", SHIPPED if source == "preset" else tiny_run, "--num", 16,
                         "--out", out, "--scale", 2, "--seed", 1)
    assert code == 0
    grid = image.imread(out)
    assert grid.shape[:2] == (2 * (4 * 9 - 1), 2 * (4 * 9 - 1))  # 4 x 4 images of 8 x 8, 1-pixel gaps
    assert grid[..., 0].std() > 0.05  # not blank


def test_preset_command_builds_a_registered_folder_from_a_run(capsys, tmp_path, tiny_run):
    code, _, _ = run_cli(capsys, "preset", tiny_run, "--name", "tiny", "--k", 10,
                         "--directory", tmp_path / "zoo", "--verbose", 0)
    assert code == 0
    folder = tmp_path / "zoo" / "tiny"
    meta = presets.verify(str(folder))
    assert (meta["test_k"], meta["passes"], meta["train_seconds"], meta["k"]) == (10, 3, 4.2, 2)
    assert [e["k"] for e in meta["evaluations"]] == [10, 100]
    assert set(meta["test_evaluate"]) >= {"loss", "elbo", "iwae_k2", "kl"}
    assert meta["test_log_likelihood"] == meta["evaluations"][0]["log_likelihood"]
    assert meta["command"] == "tfgen train iwae --dataset digits --epochs 3 --k 2"
    assert meta["optimizer"]["config"]["learning_rate"] == pytest.approx(2e-3)
    model = zoo.load(str(folder))
    assert model.optimizer.learning_rate.numpy() == pytest.approx(2e-3)
    code, _, err = run_cli(capsys, "preset", tiny_run, "--name", "../escape", "--directory", tmp_path)
    assert code == 2 and "plain folder name" in err


def test_preset_can_reuse_the_figure_tfgen_evaluate_measured(capsys, tmp_path, tiny_run):
    args = ("preset", tiny_run, "--name", "tiny", "--k", 40, "--directory", tmp_path / "zoo",
            "--verbose", 0, "--reuse-evaluation")
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "tfgen evaluate" in err and not (tmp_path / "zoo" / "tiny").exists()
    assert run_cli(capsys, "evaluate", tiny_run, "--k", 40, "--verbose", 0)[0] == 0
    measured = runs.read_metrics(str(tiny_run))["test_log_likelihood_k40"]
    assert run_cli(capsys, *args)[0] == 0
    meta = presets.verify(str(tmp_path / "zoo" / "tiny"))
    assert meta["test_log_likelihood"] == pytest.approx(measured, abs=1e-4)
    assert "tfgen evaluate" in meta["evaluations"][0]["source"]
    assert [e["k"] for e in meta["evaluations"]] == [40, 100]


def test_preset_records_the_passes_a_scheduled_run_trained(capsys, tmp_path, tiny_run):
    runs.update_metrics(str(tiny_run), schedule={"passes": 2, "full_passes": 3280, "truncated": True})
    code, _, _ = run_cli(capsys, "preset", tiny_run, "--name", "tiny", "--k", 10,
                         "--directory", tmp_path / "zoo", "--verbose", 0)
    assert code == 0 and presets.verify(str(tmp_path / "zoo" / "tiny"))["passes"] == 2  # not --epochs 3


def test_tune_command_writes_the_best_trial(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "tune", "iwae", "--max-trials", 1, "--epochs", 1, "--k", 1, "--units", 8,
                           "--eval-k", 5, "--batch-size", 100, "--out", tmp_path, "--verbose", 0)
    assert code == 0
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["objective"] == "val_log_likelihood_k5" and np.isfinite(best["score"]) and best["score"] < 0
    assert best["hyperparameters"]["units"] == 8 and best["hyperparameters"]["k"] == 1
    with pytest.raises(SystemExit):
        run_cli(capsys, "tune", "iwae", "--objective", "gan", "--out", tmp_path)
    assert "invalid choice: 'gan'" in capsys.readouterr().err


# --- distortion-targeted presets: zoo.presets.families (VRNN: tests/zoo/test_vrnn_cli.py) -------------
DISTORTION_PRESET = "distortion_fashion_mnist_g10"


@pytest.fixture
def tiny_distortion_run(tmp_path):
    """A distortion-targeted VAE run on the 8x8 digits (offline), 10 steps of batch 32 on 64 images."""
    model = distortion.TopDownVAE(image_shape=(8, 8, 1), resolutions=(1, 4, 8), latent_layers=(1, 1, 1),
                                  encoder_blocks=(1, 1, 1), width=8, bottleneck=4, latent_channels=2,
                                  gamma=2.0, seed=0)
    model.build()
    run = tmp_path / "distortion_run"
    runs.prepare_dir(str(run))
    runs.save(model, str(run), {"dataset": "digits", "gamma": 2.0, "batch_size": 32, "epochs": 100,
                                "learning_rate": 1e-3, "dual_learning_rate": 2e-3, "clipnorm": 200.0,
                                "primary": None})
    runs.update_metrics(str(run), dataset="digits", steps=10, train_images=64, train_seconds=2.5)
    return run


@requires_data
@pytest.mark.parametrize("name", [DISTORTION_PRESET])
def test_sequence_and_distortion_presets_reproduce_their_quick_figures(name):
    meta = zoo.available()[name]
    model = zoo.load(name)
    family = families.of(model)
    assert model.compiled and meta["family"] == family.name and meta["test_unit"] == family.unit
    headline, quick = meta["evaluations"]
    assert (meta["test_k"], meta["test_log_likelihood"]) == (headline["k"], headline["log_likelihood"])
    assert (quick["k"], quick.get("examples")) == (family.quick_k, family.quick_examples)
    test = family.test_data(zoo.presets.read_config(presets.registered()[name])["settings"])
    measured = family.measure(model, families.subset(test, family.quick_examples), quick["k"], quick["seed"])
    assert measured["log_likelihood"] == pytest.approx(quick["log_likelihood"], abs=0.2)
    # the ELBO with its parts: bits/dim = -ELBO / (784 ln 2), rate = sum of the layers' KL
    assert (meta["test_k"], model.config.gamma) == (1, 10.0)
    assert measured["bits_per_dim"] == pytest.approx(-measured["elbo"] / (784 * np.log(2)), rel=1e-4)
    kls = sum(value for key, value in measured.items() if key.startswith("kl_"))
    assert measured["rate"] == pytest.approx(kls, rel=1e-4)
    assert headline["distortion"] == pytest.approx(model.config.gamma, rel=0.1)


@pytest.mark.parametrize("name", [DISTORTION_PRESET])
def test_tampered_sequence_and_distortion_presets_are_refused(tmp_path, name):
    copy = tmp_path / name
    shutil.copytree(presets.registered()[name], copy)
    presets.verify(str(copy))
    weights = bytearray((copy / "model.weights.h5").read_bytes())
    weights[len(weights) // 2] ^= 0x01
    (copy / "model.weights.h5").write_bytes(bytes(weights))
    with pytest.raises(presets.PresetIntegrityError, match="refused"):
        zoo.load(str(copy))


def test_distortion_run_evaluates_samples_and_becomes_a_preset(capsys, tmp_path, tiny_distortion_run):
    code, out, _ = run_cli(capsys, "evaluate", tiny_distortion_run, "--verbose", 0)
    assert code == 0 and "(k = 1)" in out and "nats per image (ELBO)" in out
    metrics = runs.read_metrics(str(tiny_distortion_run))
    elbo = metrics["test_log_likelihood_k1"]
    assert elbo == metrics["test_log_likelihood_k1_elbo"] < 0
    assert {"test_log_likelihood_k1_distortion", "test_log_likelihood_k1_rate"} <= set(metrics)
    assert run_cli(capsys, "evaluate", tiny_distortion_run, "--k", 8, "--verbose", 0)[0] == 0
    assert runs.read_metrics(str(tiny_distortion_run))["test_log_likelihood_k8"] > elbo  # IWAE_8 > ELBO
    png = tmp_path / "grid.png"
    code, _, _ = run_cli(capsys, "sample", tiny_distortion_run, "--num", 4, "--scale", 1, "--out", png)
    assert code == 0 and image.imread(png).shape[:2] == (17, 17)  # 2 x 2 images of 8 x 8, 1-pixel gaps
    code, _, err = run_cli(capsys, "sample", tiny_distortion_run, "--steps", 5, "--out", png)
    assert code == 2 and "--steps is for sequence models" in err

    code, _, _ = run_cli(capsys, "preset", tiny_distortion_run, "--name", "tiny_dt", "--directory",
                         tmp_path / "zoo", "--verbose", 0)
    assert code == 0
    folder = tmp_path / "zoo" / "tiny_dt"
    meta = presets.verify(str(folder))
    assert (meta["family"], meta["test_k"], meta["passes"]) == ("distortion", 1, 5.0)  # 10 steps of 2 a pass
    assert [(e["k"], e.get("examples")) for e in meta["evaluations"]] == [(1, None), (1, 300)]
    assert meta["optimizer"]["config"]["global_clipnorm"] == pytest.approx(200.0)
    assert meta["dual_optimizer"]["config"]["learning_rate"] == pytest.approx(2e-3)
    assert meta["command"].startswith("tfgen distortion-train") and "--primary" not in meta["command"]
    model = zoo.load(str(folder))
    assert model.dual_optimizer.learning_rate.numpy() == pytest.approx(2e-3)
    code, out, _ = run_cli(capsys, "evaluate", folder, "--verbose", 0)
    assert code == 0 and f"{meta['test_log_likelihood']:.2f} nats per image" in out
