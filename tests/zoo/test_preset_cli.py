"""The shipped presets and ``tfgen list | sample | evaluate PRESET | preset build | preset upload | tune``."""
import json
import re
import shutil

import huggingface_hub.constants
import keras
import numpy as np
import pytest
from matplotlib import image

import zoo
from tests.fake_hub import FakeHub
from tests.markers import requires_data
from tfgen import data, presets, runs
from zoo import cli, iwae
from zoo import presets as zoo_presets

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
    runs.update_metrics(str(run), status="finished", train_seconds=4.2, epochs=3)
    return run


def test_every_shipped_preset_is_listed_verified_and_loads(capsys):
    shipped = zoo.available()
    assert SHIPPED in shipped
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "family", "dataset", "objective", "estimator", "k", "test", "figure",
                                "(k)", "passes", "where"]
    for name, meta in shipped.items():
        presets.verify(presets.registered()[name])
        row = next(line for line in lines if line.startswith(name + " "))
        assert f"{meta['test_log_likelihood']:.2f} ({meta['test_k']})" in row
        assert row.split()[-2:] == [str(meta["passes"]), "shipped"]
        assert row.split()[3:6] == [str(meta.get(key, "-")) for key in ("objective", "estimator", "k")]
        assert zoo.load(name).compiled


def test_every_shipped_preset_records_one_value_per_measure():
    """A held-out measure is in ``evaluations`` (the family's protocol, the one the docs quote),
    never again in ``test_evaluate`` or among the run's own held-out figures (``run_metrics``);
    and every preset names the command that trained it."""
    for name, meta in zoo.available().items():
        measured = {key for entry in meta["evaluations"] for key in entry} - {"k", "seconds", "seed", "split"}
        assert not measured & set(meta["test_evaluate"]), name
        assert not [key for key in meta["run_metrics"] if key.startswith(("test", "val"))], name
        assert "tfgen train " in meta["command"], name


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
                                  "vae_binarized_mnist_k1_l2", "iwae_binarized_mnist_k50_l2",
                                  "vae_binarized_mnist_k1_l1_geo800", "iwae_binarized_mnist_k50_l1_geo600"])
def test_mnist_presets_reproduce_their_recorded_figures(capsys, name):
    meta = zoo.available()[name]
    recorded = {e["k"]: e["log_likelihood"] for e in meta["evaluations"]}
    code, out, _ = run_cli(capsys, "evaluate", name, "--k", 100, "--verbose", 0)
    assert code == 0
    measured = float(re.search(r"\(k = 100\): (-?\d+\.\d+) nats", out).group(1))
    assert measured == pytest.approx(recorded[100], abs=0.2)
    assert recorded[5000] > recorded[100]  # L_k grows with k (Burda et al., Theorem 1)


@pytest.mark.parametrize("name", zoo_presets.shipped())
def test_every_shipped_preset_refuses_one_flipped_bit(capsys, tmp_path, name):
    copy = tmp_path / name
    shutil.copytree(presets.registered()[name], copy)
    presets.verify(str(copy))
    weights = bytearray((copy / "model.weights.h5").read_bytes())
    weights[len(weights) // 2] ^= 0x01  # one flipped bit
    (copy / "model.weights.h5").write_bytes(bytes(weights))
    with pytest.raises(presets.PresetIntegrityError, match="refused"):
        zoo.load(str(copy))
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
    code, _, _ = run_cli(capsys, "preset", "build", tiny_run, "--name", "tiny", "--k", 10,
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
    code, _, err = run_cli(capsys, "preset", "build", tiny_run, "--name", "../escape",
                           "--directory", tmp_path)
    assert code == 2 and "plain folder name" in err


def test_user_presets_are_listed_beside_the_shipped_ones_and_shared_through_a_hub(
        capsys, tmp_path, tiny_run, tfgen_home, monkeypatch):
    code, _, _ = run_cli(capsys, "preset", "build", tiny_run, "--name", "my_tiny", "--k", 10, "--verbose", 0)
    assert code == 0
    folder = tfgen_home / "presets" / "my_tiny"
    meta = presets.verify(str(folder))
    card = (folder / "README.md").read_text()
    assert "(samples.png)" in card and "Importance Weighted Autoencoders" in card and meta["command"] in card
    assert image.imread(folder / "samples.png")[..., 0].std() > 0.05  # the card's samples, not blank
    code, out, _ = run_cli(capsys, "list")
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:-1]}
    assert rows["my_tiny"] == "user" and rows[SHIPPED] == "shipped" and str(tfgen_home) in out
    code, _, err = run_cli(capsys, "preset", "build", tiny_run, "--name", SHIPPED, "--k", 10)
    assert code == 2 and "shipped preset" in err

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    with FakeHub() as hub:
        hub.serve_as_hf_endpoint(monkeypatch)
        code, out, _ = run_cli(capsys, "preset", "upload", "my_tiny", "hf://me/tfgen-presets/my_tiny")
        assert code == 0
        pinned = re.search(r"hf://me/tfgen-presets/my_tiny@[0-9a-f]{40}", out).group(0)
        online, offline = tmp_path / "online.png", tmp_path / "offline.png"
        assert run_cli(capsys, "sample", pinned, "--num", 4, "--seed", 3, "--out", online)[0] == 0
    code, _, _ = run_cli(capsys, "sample", pinned, "--num", 4, "--seed", 3, "--out", offline)
    assert code == 0  # from the cache, the hub gone
    np.testing.assert_array_equal(image.imread(offline), image.imread(online))
    assert isinstance(zoo.load(pinned), iwae.IWAE)


def test_preset_can_reuse_the_figure_tfgen_evaluate_measured(capsys, tmp_path, tiny_run):
    args = ("preset", "build", tiny_run, "--name", "tiny", "--k", 40, "--directory", tmp_path / "zoo",
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
    code, _, _ = run_cli(capsys, "preset", "build", tiny_run, "--name", "tiny", "--k", 10,
                         "--directory", tmp_path / "zoo", "--verbose", 0)
    assert code == 0 and presets.verify(str(tmp_path / "zoo" / "tiny"))["passes"] == 2  # not --epochs 3


def test_tune_command_writes_the_best_trial(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "tune", "iwae", "--max-trials", 1, "--epochs", 1, "--k", 1, "--units", 8,
                           "--eval-k", 5, "--batch-size", 100, "--out", tmp_path, "--verbose", 0)
    assert code == 0
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["objective"] == "val_log_likelihood_k5" and np.isfinite(best["score"]) and best["score"] < 0
    assert best["hyperparameters"]["units"] == 8 and best["hyperparameters"]["k"] == 1
    code, _, err = run_cli(capsys, "tune", "iwae", "--objective", "gan", "--out", tmp_path)
    assert code == 2 and "invalid choice: 'gan'" in err
