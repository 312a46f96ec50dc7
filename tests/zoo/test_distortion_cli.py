"""``tfgen train distortion`` and ``tfgen figures distortion`` end to end, offline.

Data come from ``tfds.testing.mock_data`` (TFDS' fake ``tfds.load``: random examples with the
real features, the same for every split, no download): ``fashion_mnist`` is then read into
memory (the exactly resumable route), ``svhn`` and ``celeb_a`` are streamed.
"""
import csv
import json
import math
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from matplotlib import image

import zoo
from tfgen import data, presets, runs
from zoo import cli
from zoo.distortion import CONFIGS, family

SMALL = ["--width", 8, "--bottleneck", 4, "--latent-channels", 2]  # the cpu28 layout, narrow


@pytest.fixture(autouse=True)
def no_local_files(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)


def run_cli(*argv, examples=8):
    with tfds.testing.mock_data(num_examples=examples):
        return cli.main([str(a) for a in argv])


def train(out, *flags, examples=8):
    return run_cli("train", "distortion", "--dataset", "fashion_mnist", "--seed", 0, "--out", out,
                   "--verbose", 0, *flags, examples=examples)


def test_figures_of_reads_the_keys_evaluate_writes():
    metrics = {"test_log_likelihood_k1": -5.0, "test_log_likelihood_k1_rate": 2.0, "epochs": 3}
    assert family.figures_of(metrics) == {"rate": 2.0}


# celeb_a: cropped and resized to the 32x32 CPU layout; svhn: resized to 28x28 (the cheaper
# CPU layout, to keep the test short; its own 32x32 goes through the same pipeline).
@pytest.mark.parametrize("dataset, size, config", [("celeb_a", 32, "cpu32"), ("svhn", 28, "cpu28")])
def test_train_streams_colour_images(tmp_path, dataset, size, config):
    out = tmp_path / "run"
    code = run_cli("train", "distortion", "--dataset", dataset, "--image-size", size, "--config", config,
                   "--gamma", 20, "--train-size", 16, "--test-size", 8, "--batch-size", 8, "--epochs", 2,
                   "--learning-rate", 1e-2, "--seed", 0, "--out", out, "--verbose", 0, examples=16)
    assert code == 0
    for name in ("config.json", "model.weights.h5", "metrics.json", "history.csv", "checkpoints/epoch-000002",
                 "logs"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["image_shape"] == [size, size, 3] and metrics["status"] == "finished"
    counts = (metrics["train_images"], metrics["test_images"], metrics["steps"], metrics["epochs"])
    assert counts == (16, 8, 4, 2)
    test = family.figures_of(metrics)
    assert all(math.isfinite(v) for v in test.values())
    assert metrics["test_log_likelihood_k1"] == test["elbo"] and test["distortion"] > 0 and test["rate"] > 0
    assert {f"kl_z{r}x{r}_0" for r in CONFIGS.get(config).resolutions} <= set(test)
    # Bits per dimension count all three channels.
    dims_ln2 = size * size * 3 * math.log(2)
    np.testing.assert_allclose(test["bits_per_dim"], -test["elbo"] / dims_ln2, rtol=1e-4)
    np.testing.assert_allclose(test["rate_bits_per_dim"], test["rate"] / dims_ln2, rtol=1e-4)
    with open(out / "history.csv") as f:
        loss = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(loss) == 2 and loss[1] < 0.8 * loss[0]
    saved = json.loads((out / runs.CONFIG).read_text())
    assert saved["family"] == "distortion" and saved["model"]["config"]["image_shape"] == [size, size, 3]
    assert saved["settings"]["dataset"] == dataset and saved["settings"]["model"]["resolutions"][-1] == size
    png = tmp_path / "samples.png"
    assert run_cli("sample", out, "--num", 4, "--scale", 1, "--seed", 0, "--out", png) == 0
    grid = image.imread(png)
    assert grid.shape[:2] == (2 * size + 1, 2 * size + 1) and grid.shape[2] in (3, 4)  # 2 x 2 colour images


def test_train_rejects_bad_flags_and_missing_data(tmp_path, monkeypatch, capsys):
    def refused(*flags, examples=4):
        assert run_cli("train", "distortion", "--epochs", 1, *flags, examples=examples) == 2
        return capsys.readouterr().err

    err = refused("--dataset", "celeb_a", "--out", tmp_path / "a")
    assert "--config cpu28 is for 28x28 images, the data are 64x64x3: pass --image-size 28, or --config " \
           "celeba" in err
    err = refused("--dataset", "celeb_a", "--config", "celeba", "--image-size", 32, "--out", tmp_path / "b")
    assert "--config celeba is for 64x64 images, the data are 32x32x3: pass --image-size 64, or --config " \
           "cpu32 / svhn" in err
    assert "binary pixels" in refused("--dataset", "digits", "--out", tmp_path / "c")
    assert "must be >= 1" in refused("--batch-size", 0, "--out", tmp_path / "d")
    assert "gamma must be > 0.0" in refused("--gamma", 0, "--out", tmp_path / "e")

    def no_internet(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.setattr(tfds, "load", no_internet)
    err = refused("--dataset", "celeb_a", "--image-size", 32, "--config", "cpu32", "--out", tmp_path / "f")
    assert "Dataset 'celeb_a'" in err and "tfds build celeb_a" in err and "TFDS_DATA_DIR" in err
    assert not any((tmp_path / d).exists() for d in "abcdef")  # refused before any run folder


def _checkpoint_state(out):
    model, state = runs.load_checkpoint(runs.latest_checkpoint(str(out)))
    return model, state


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    common = [*SMALL, "--gamma", 100, "--batch-size", 4, "--learning-rate", 3e-3,
              "--dual-learning-rate", 0.05]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(straight, *common, "--epochs", 3, "--checkpoint-every", 2) == 0
    assert sorted(os.listdir(straight / "checkpoints")) == ["epoch-000002", "epoch-000003"]
    # Interrupted by the time budget after its first epoch, then resumed to the same 3 epochs.
    assert train(resumed, *common, "--epochs", 3, "--max-minutes", 1e-4) == 0
    assert runs.read_metrics(str(resumed))["status"] == "time_budget"
    assert sorted(os.listdir(resumed / "checkpoints")) == ["epoch-000001"]
    assert train(resumed, *common, "--epochs", 3, "--resume") == 0

    a, b = (runs.load(str(out))[0] for out in (straight, resumed))
    for u, v in zip(a.weights, b.weights):  # lambda is a weight too
        np.testing.assert_array_equal(u.numpy(), v.numpy(), err_msg=u.path)
    assert float(a.multipliers()["distortion"]) < 0.9999  # lambda moved
    (ma, sa), (mb, sb) = _checkpoint_state(straight), _checkpoint_state(resumed)
    assert sa["epoch"] == sb["epoch"] == 3 and sa["seed_generator_state"] == sb["seed_generator_state"]
    for optimizer in ("optimizer", "dual_optimizer"):
        for u, v in zip(getattr(ma, optimizer).variables, getattr(mb, optimizer).variables):
            np.testing.assert_array_equal(u.numpy(), v.numpy(), err_msg=u.path)
    assert int(mb.dual_optimizer.iterations.numpy()) == 6
    ra, rb = runs.read_metrics(str(straight)), runs.read_metrics(str(resumed))
    assert ra["status"] == rb["status"] == "finished" and ra["epochs"] == rb["epochs"] == 3
    assert ra["final_train"] == rb["final_train"] and family.figures_of(ra) == family.figures_of(rb)
    # --resume refuses changed settings.
    assert train(resumed, *common, "--epochs", 4, "--gamma", 10, "--resume") == 2


def test_a_diverging_run_exits_1_and_keeps_its_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "--gamma", 20, "--batch-size", 8, "--epochs", 6, "--learning-rate", 0.3) == 1
    assert "diverged" in capsys.readouterr().err
    metrics = runs.read_metrics(str(out))
    assert metrics["status"] == "diverged"
    assert metrics["last_good_checkpoint"].startswith("checkpoints/epoch-")
    assert not (out / runs.WEIGHTS).exists() and not (out / runs.CONFIG).exists()
    model, state = runs.load_checkpoint(str(out / metrics["last_good_checkpoint"]))
    assert state["epoch"] >= 1 and all(np.isfinite(w).all() for w in model.get_weights())


@pytest.fixture(scope="module")
def primary_run(tmp_path_factory):
    """A narrow cpu28 primary at gamma 40, 2 epochs on 16 mock Fashion-MNIST images."""
    out = tmp_path_factory.mktemp("distortion") / "primary"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(data.DATA_DIR_ENV, raising=False)
        assert train(out, *SMALL, "--gamma", 40, "--batch-size", 8, "--epochs", 2, "--test-size", 8,
                     "--learning-rate", 1e-3, "--dual-learning-rate", 2e-3, "--clipnorm", 200,
                     examples=16) == 0
    return out


def test_two_stage_training_and_the_figures(tmp_path, primary_run, capsys):
    secondary = tmp_path / "secondary"
    assert train(secondary, "--primary", primary_run, "--gamma", 40, examples=16) == 2
    assert "smaller --gamma than its primary's 40, got 40" in capsys.readouterr().err
    assert train(secondary, "--primary", primary_run, "--gamma", 20, "--batch-size", 8, "--epochs", 1,
                 "--test-size", 8, examples=16) == 0
    metrics = runs.read_metrics(str(secondary))
    test, primary = family.figures_of(metrics), family.figures_of(metrics["primary"])
    assert {"kl_z28x28_0", "kl_s28x28_0"} <= set(test) and "kl_s28x28_0" not in primary
    # The secondary starts at the primary's mean; its rate is its own layers', its ELBO the whole model's.
    assert test["rate"] == pytest.approx(sum(v for k, v in test.items() if k.startswith("kl_s")), rel=1e-4)
    assert test["kl"] == pytest.approx(test["rate"] + primary["rate"], rel=0.05)
    model, settings = runs.load(str(secondary))
    assert type(model).__name__ == "SecondaryVAE" and not model.primary.trainable
    assert settings["primary"] == str(primary_run) and settings["model"]["gamma"] == 20.0

    figures = tmp_path / "figures"
    assert run_cli("figures", "distortion", "--primaries", primary_run, "--two-stage", secondary,
                   "--examples", 4, "--out", figures, examples=16) == 0
    table = capsys.readouterr().out
    assert "secondary of gamma=40" in table and f"| {primary_run} | primary | 40 |" in table
    assert sorted(os.listdir(figures)) == ["distortion_rate_elbo.png", "distortion_reconstructions.png",
                                           "distortion_samples.png", "distortion_two_stage.png"]
    assert run_cli("figures", "distortion", "--primaries", secondary, "--out", figures) == 2
    assert "--primaries take TopDownVAE runs" in capsys.readouterr().err


def test_run_evaluates_samples_and_becomes_a_preset(tmp_path, primary_run, capsys):
    recorded = runs.read_metrics(str(primary_run))
    assert run_cli("evaluate", primary_run, "--verbose", 0, examples=16) == 0  # the seed of training: 0
    out = capsys.readouterr().out
    assert "(k = 1)" in out and "nats per image (ELBO)" in out
    metrics = runs.read_metrics(str(primary_run))
    again = family.figures_of(metrics)  # the training's figures, measured again with the same noise
    for key, value in family.figures_of(recorded).items():
        assert again[key] == pytest.approx(value, rel=1e-5), key
    elbo = metrics["test_log_likelihood_k1"]
    assert run_cli("evaluate", primary_run, "--k", 8, "--verbose", 0, examples=16) == 0
    assert runs.read_metrics(str(primary_run))["test_log_likelihood_k8"] > elbo  # IWAE_8 > ELBO
    png = tmp_path / "grid.png"
    assert run_cli("sample", primary_run, "--num", 4, "--scale", 1, "--out", png) == 0
    assert image.imread(png).shape[:2] == (57, 57)  # 2 x 2 images of 28 x 28, 1-pixel gaps
    assert run_cli("sample", primary_run, "--steps", 5, "--out", png) == 2
    assert "--steps is for sequence models" in capsys.readouterr().err

    assert run_cli("preset", "build", primary_run, "--name", "tiny_dt", "--directory", tmp_path / "zoo",
                   "--verbose", 0, examples=16) == 0
    folder = tmp_path / "zoo" / "tiny_dt"
    meta = presets.verify(str(folder))
    assert (meta["family"], meta["test_k"], meta["passes"]) == ("distortion", 1, 2)
    assert [(e["k"], e.get("examples")) for e in meta["evaluations"]] == [(1, None), (1, 8)]
    assert meta["optimizer"]["config"]["global_clipnorm"] == pytest.approx(200.0)
    assert meta["dual_optimizer"]["config"]["learning_rate"] == pytest.approx(2e-3)
    command = meta["command"]
    assert command.startswith("tfgen train distortion ") and "--dataset fashion_mnist" in command
    assert "--gamma 40.0" in command and "--width 8" in command and "--primary" not in command
    model = zoo.load(str(folder))
    assert model.dual_optimizer.learning_rate.numpy() == pytest.approx(2e-3)
    assert run_cli("evaluate", folder, "--verbose", 0, examples=16) == 0
    assert f"{meta['test_log_likelihood']:.2f} nats per image" in capsys.readouterr().out
