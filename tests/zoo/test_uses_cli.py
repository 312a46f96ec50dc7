"""The tutorial's uses end to end through ``tfgen``: ``train ssvae`` on MNIST from (mock) TFDS,
``train draw`` and ``figures draw``, and the application commands on a shipped preset, offline."""
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from matplotlib import image

from tfgen import data
from zoo import cli


def run(*argv):
    return cli.main([str(a) for a in argv])


def test_ssvae_trains_on_a_hundred_labels_of_tfds_mnist(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    out = tmp_path / "m2"
    with tfds.testing.mock_data(num_examples=140):  # labels 0..9 at random: 10 of each is drawable
        code = run("train", "ssvae", "--dataset", "mnist", "--labels-per-class", 2, "--validation", 20,
                   "--epochs", 1, "--batch-size", 50, "--labelled-batch-size", 10, "--hidden", 8, "--latent",
                   2, "--eval-k", 2, "--seed", 0, "--verbose", 0, "--out", out)
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labelled"] == 20 and metrics["unlabelled"] == 100
    assert 0.0 <= metrics["test_error"] <= 1.0 and metrics["test_log_likelihood_k2"] < 0


def test_ssvae_refuses_a_dataset_without_labels(tmp_path, capsys):
    assert run("train", "ssvae", "--dataset", "digits", "--out", tmp_path / "x") != 0
    assert "needs labels" in capsys.readouterr().err


def test_draw_trains_and_draws_its_canvas_sequence(tmp_path):
    out = tmp_path / "draw"
    assert run("train", "draw", "--dataset", "digits", "--epochs", 1, "--steps", 3, "--rnn-units", 8,
               "--latent", 2, "--write-size", 3, "--eval-k", 2, "--verbose", 0, "--out", out) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_log_likelihood_k2"] >= metrics["test_elbo"] - 1.0  # IWAE_2 vs a 1-sample mean
    assert run("figures", "draw", "--run", out, "--num", 4, "--out", tmp_path / "canvas.png") == 0
    grid = image.imread(tmp_path / "canvas.png")
    rows, columns = (np.array(grid.shape[:2]) + 3) // (3 * 9)  # 8x8 digits, 1-pixel borders, scale 3
    assert (rows, columns) == (4, 3)  # a row per sample, a column per step


@pytest.mark.parametrize("verb, flags", [
    ("inpaint", ["--mask", "random", "--steps", 2]),
    ("denoise", ["--flip", 0.2]),
    ("latent", []),
])
def test_application_commands_write_their_figure(tmp_path, verb, flags):
    out = tmp_path / f"{verb}.png"
    assert run(verb, "vae_digits_k5_l1", "--num", 6, "--out", out, *flags) == 0
    assert image.imread(out).shape[0] > 24


def test_amortisation_command_reports_a_nonnegative_gap(capsys):
    code = run("amortisation", "vae_digits_k5_l1", "--num", 20, "--steps", 50, "--samples", 20, "--k", 50,
               "--verbose", 0)
    assert code == 0
    line = capsys.readouterr().out
    gap, stderr = (float(v) for v in line.split("amortisation gap ")[1].split(";")[0].split(" +- "))
    assert gap > -3 * stderr
