"""`tfgen train iwae` on the paper's schedule: truncation labels, kill + resume, --from-stage, warm starts."""
import json

import numpy as np
import pytest

from tfgen import runs
from zoo import cli
from zoo.iwae import protocol
from zoo.iwae.model import paper_optimizer

TINY = ["train", "iwae", "--dataset", "digits", "--objective", "iwae", "--k", "2", "--layers", "1",
        "--schedule", "paper", "--batch-size", "100", "--seed", "3", "--verbose", "0"]


def weights(path):
    model, _ = runs.load(path)
    return model.get_weights()


def assert_same(a, b):
    for x, y in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(x, y)


class Killed(Exception):
    pass


def test_killed_and_resumed_run_matches_uninterrupted_run(tmp_path, monkeypatch):
    whole, broken = str(tmp_path / "whole"), str(tmp_path / "broken")
    assert cli.main(TINY + ["--passes", "6", "--out", whole]) == 0
    metrics = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert metrics["schedule"]["truncated"] and metrics["schedule"]["passes"] == 6
    assert metrics["schedule"]["full_passes"] == 3280 and "test_log_likelihood_k2" in metrics
    assert set(metrics["active_units"]) == {"z1"}

    steps = []

    def kill_in_epoch_six(self, batch, logs=None):  # 13 steps an epoch: dies mid-way through epoch 6
        steps.append(batch)
        if len(steps) == 5 * 13 + 4:
            raise Killed

    monkeypatch.setattr(runs._Checkpointer, "on_train_batch_end", kill_in_epoch_six, raising=False)
    with pytest.raises(Killed):  # checkpoints at stage ends only: the last full one is after stage 1
        cli.main(TINY + ["--passes", "6", "--checkpoint-every", "100", "--out", broken])
    monkeypatch.undo()
    state = json.loads(open(f"{runs.latest_checkpoint(broken)}/state.json").read())
    assert state["epoch"] == 4
    assert cli.main(TINY + ["--passes", "6", "--checkpoint-every", "100", "--out", broken, "--resume"]) == 0
    assert_same(whole, broken)
    # The recorded wall time counts the 4 checkpointed epochs and the resumed ones, not the lost work.
    resumed = json.loads((tmp_path / "broken" / "metrics.json").read_text())["train_seconds"]
    assert state["train_seconds"] > 0 and resumed > state["train_seconds"]


def test_from_stage_i_restarts_at_stage_i(tmp_path):
    whole = str(tmp_path / "whole")
    assert cli.main(TINY + ["--passes", "5", "--out", whole]) == 0
    first = weights(whole)
    kept = [int(c.rsplit("-", 1)[1]) for c in runs.checkpoints(whole)]
    assert kept == [1, 4, 5]  # stage ends (after stages 0..2) are kept, other epochs pruned
    assert cli.main(TINY + ["--passes", "5", "--out", whole, "--from-stage", "1"]) == 0  # redo epochs 2..5
    for x, y in zip(first, weights(whole)):
        np.testing.assert_array_equal(x, y)
    assert cli.main(TINY + ["--passes", "5", "--out", whole, "--from-stage", "2"]) == 0
    constant = ["constant" if a == "paper" else a for a in TINY]
    assert cli.main(constant + ["--out", whole, "--from-stage", "1"]) == 2


def test_warm_starts_take_the_other_kinds_weights(tmp_path):
    vae = str(tmp_path / "vae")
    args = ["train", "iwae", "--dataset", "digits", "--layers", "1", "--schedule", "paper", "--passes", "1",
            "--batch-size", "100", "--verbose", "0"]
    assert cli.main(args + ["--objective", "vae", "--k", "1", "--out", vae]) == 0
    source, _ = runs.load(vae)
    model = protocol.warm_start(vae, "iwae", 50, optimizer=paper_optimizer())
    assert (model.config.objective, model.k) == ("iwae", 50)
    for x, y in zip(source.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(x, y)
    trained, _ = runs.load_checkpoint(runs.latest_checkpoint(vae))
    assert int(model.optimizer.iterations) == int(trained.optimizer.iterations) == 13
    for mine, theirs in zip(model.optimizer.variables, trained.optimizer.variables):
        if not mine.path.endswith("learning_rate"):
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())

    out = str(tmp_path / "iwae_to_vae")
    assert cli.main(args + ["--exp", "iwae_to_vae", "--init-from", vae, "--out", out]) == 0
    warm, settings = runs.load(out)
    assert (warm.config.objective, warm.k) == ("iwae", 50) and settings["exp"] == "iwae_to_vae"
    metrics = json.loads((tmp_path / "iwae_to_vae" / "metrics.json").read_text())
    assert metrics["schedule"]["stages"] == [{"epochs": 1, "learning_rate": 1e-4}]
    assert metrics["schedule"]["full_passes"] == 3 ** 7
    assert cli.main(args + ["--exp", "vae_to_iwae", "--init-from", out, "--out", str(tmp_path / "back")]) == 0
    assert runs.load(str(tmp_path / "back"))[0].config.objective == "vae"


def test_bad_paper_arguments_fail_before_training(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert cli.main(TINY + ["--passes", "0", "--out", out]) == 2
    assert "--passes must be >= 1" in capsys.readouterr().err
    assert cli.main(TINY + ["--exp", "iwae_to_vae", "--out", out]) == 2
    assert "--init-from" in capsys.readouterr().err
    assert cli.main(TINY + ["--resume", "--out", out]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err


def test_the_papers_mnist_protocol_trains_on_59600_and_validates_on_400(tmp_path, monkeypatch):
    """``--dataset MNIST`` on mock TFDS data (grey-level MNIST is not available here): the
    validation figure is measured on the last 400 training images, binarised once."""
    import tensorflow_datasets as tfds

    from tfgen import data, evaluation

    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    out = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=440):
        code = cli.main(["train", "iwae", "--dataset", "MNIST", "--k", "2", "--latent", "2", "--hidden", "8",
                         "--epochs", "1", "--batch-size", "20", "--eval-every", "1", "--eval-k", "3",
                         "--out", str(out), "--verbose", "0"])
        model, settings = runs.load(str(out))
        held_out = data.load_images("MNIST", "validation")  # the last 400 training images
        assert len(held_out) == 400
        validation = data.validation_batches(held_out.reshape(400, -1) / 255.0, binarize=True, seed=0)
        again = evaluation.log_likelihood(model, validation, 3, seed=0, max_rows=8192).mean()
    assert code == 0 and settings["dataset"] == "MNIST"
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 2 and "val_log_likelihood_k3" in history[0]
    logged = float(history[1].split(",")[history[0].split(",").index("val_log_likelihood_k3")])
    assert logged == pytest.approx(float(again), abs=1e-4)
