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
from tfgen import data, presets, runs, sequences
from zoo import cli, iwae, vrnn
from zoo.presets import families

SHIPPED = "iwae_digits_k5_l1"


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny_run(tmp_path):
    keras.utils.set_random_seed(0)
    model = iwae.IWAE(input_dim=64, hidden=((8,),), latent=(2,), k=2, seed=0)
    model.adapt(np.full((1, 64), 0.3))
    model.compile(optimizer=iwae.paper_optimizer(2e-3))
    run = tmp_path / "run"
    runs.prepare_dir(str(run))
    settings = {"model": "iwae", "dataset": "digits", "k": 2, "epochs": 3, "overwrite": False}
    runs.save(model, str(run), settings)
    runs.update_metrics(str(run), train_seconds=4.2, epochs=3)
    return run


def test_every_shipped_preset_is_listed_verified_and_loads(capsys):
    shipped = zoo.available()
    assert SHIPPED in shipped
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "dataset", "objective", "k", "test", "LL", "(k)", "passes"]
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
    assert meta["command"] == "tfgen train --dataset digits --epochs 3 --k 2 --model iwae"
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
    code, out, _ = run_cli(capsys, "tune", "--max-trials", 1, "--epochs", 1, "--k", 1, "--units", 8,
                           "--eval-k", 5, "--batch-size", 100, "--out", tmp_path, "--verbose", 0)
    assert code == 0
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["objective"] == "val_log_likelihood_k5" and np.isfinite(best["score"]) and best["score"] < 0
    assert best["hyperparameters"]["units"] == 8 and best["hyperparameters"]["k"] == 1
    code, _, err = run_cli(capsys, "tune", "--objective", "gan", "--out", tmp_path)
    assert code == 2 and "vae or iwae" in err


# --- sequence (VRNN) presets: zoo.presets.families ------------------------------------------------
SEQUENCE_PRESET = "vrnn_jsb_fivo_k4"


@pytest.fixture
def tiny_vrnn_run(tmp_path):
    """A VRNN run on an .npz of 6 binary sequences (the offline route of tfgen vrnn-train)."""
    rng = np.random.default_rng(0)
    lengths = np.array([7, 6, 5, 7, 4, 3])
    frames = (rng.random((6, 7, 6)) < 0.3) * sequences.mask_from_lengths(lengths, 7)[..., None]
    npz = tmp_path / "seqs.npz"
    np.savez(npz, frames=frames.astype("float32"), lengths=lengths)
    model = vrnn.VRNN(input_dim=6, rnn_units=8, latent=3, features=8, k=2, objective="fivo", seed=0)
    model.build()
    run = tmp_path / "vrnn_run"
    runs.prepare_dir(str(run))
    runs.save(model, str(run), {"dataset": str(npz), "objective": "fivo", "k": 2, "epochs": 2,
                                "epochs_done": 2, "learning_rate": 2e-3})
    runs.update_metrics(str(run), dataset=str(npz), epochs=2, train_seconds=1.5)
    return run


@requires_data
@pytest.mark.parametrize("name", [SEQUENCE_PRESET])
def test_sequence_presets_reproduce_their_quick_figures(name):
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
    # nats per time step of the 77 JSB test chorales (4725 steps)
    logs = model.evaluate(test, verbose=0, return_dict=True)  # the FIVO_4 training bound, per chorale
    assert logs["fivo_k4"] == pytest.approx(meta["test_evaluate"]["fivo_k4"], abs=0.2)
    assert measured["total_steps"] == headline["total_steps"] == 4725
    assert headline["log_likelihood"] >= quick["log_likelihood"] - 0.01  # IWAE_1000 >= IWAE_100
    assert measured["elbo_per_step"] < measured[f"fivo_k{model.k}_per_step"]


@pytest.mark.parametrize("name", [SEQUENCE_PRESET])
def test_tampered_sequence_presets_are_refused(tmp_path, name):
    copy = tmp_path / name
    shutil.copytree(presets.registered()[name], copy)
    presets.verify(str(copy))
    weights = bytearray((copy / "model.weights.h5").read_bytes())
    weights[len(weights) // 2] ^= 0x01
    (copy / "model.weights.h5").write_bytes(bytes(weights))
    with pytest.raises(presets.PresetIntegrityError, match="refused"):
        zoo.load(str(copy))


def test_vrnn_run_evaluates_samples_and_becomes_a_preset(capsys, tmp_path, tiny_vrnn_run):
    code, out, _ = run_cli(capsys, "evaluate", tiny_vrnn_run, "--k", 20, "--verbose", 0)
    assert code == 0 and "(k = 20)" in out and "nats per time step" in out
    metrics = runs.read_metrics(str(tiny_vrnn_run))
    assert metrics["test_log_likelihood_k20_total_steps"] == 32
    key = "test_log_likelihood_k20"
    assert metrics[key] == pytest.approx(metrics[f"{key}_iwae_k20_per_step"])
    assert metrics[key] > metrics[f"{key}_elbo_per_step"]
    png = tmp_path / "roll.png"
    code, _, _ = run_cli(capsys, "sample", tiny_vrnn_run, "--steps", 6, "--seed", 1, "--out", png)
    assert code == 0 and image.imread(png).shape[0] > 100
    code, _, err = run_cli(capsys, "sample", tiny_vrnn_run, "--num", 3, "--out", png)
    assert code == 2 and "one sequence" in err
    code, _, err = run_cli(capsys, "evaluate", tiny_vrnn_run, "--k", 0)
    assert code == 2 and "k" in err

    code, _, _ = run_cli(capsys, "preset", tiny_vrnn_run, "--name", "tiny_vrnn", "--k", 20,
                         "--directory", tmp_path / "zoo", "--verbose", 0)
    assert code == 0
    folder = tmp_path / "zoo" / "tiny_vrnn"
    meta = presets.verify(str(folder))
    assert (meta["family"], meta["test_k"], meta["passes"], meta["train_seconds"]) == ("sequence", 20, 2, 1.5)
    assert [e["k"] for e in meta["evaluations"]] == [20, families.SEQUENCE.quick_k]
    assert meta["command"].startswith("tfgen vrnn-train --dataset") and "epochs-done" not in meta["command"]
    assert meta["optimizer"]["config"]["learning_rate"] == pytest.approx(2e-3)
    code, out, _ = run_cli(capsys, "evaluate", folder, "--k", 20, "--verbose", 0)  # the same seed repeats it
    assert code == 0 and f"{meta['test_log_likelihood']:.2f} nats per time step" in out
    assert isinstance(zoo.load(str(folder)), vrnn.VRNN)
