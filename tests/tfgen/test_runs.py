"""The run driver: folders, checkpoints with exact resume, NaN stop, time budget, history."""
import csv
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import data, runs
from tfgen.errors import DivergedError
from zoo import presets_cli
from zoo.iwae.model import IWAE, paper_optimizer

X = (np.random.default_rng(0).random((60, 6)) < 0.5).astype("float32")
SETTINGS = {"dataset": "toy", "batch_size": 20, "epochs": 4}


def tiny_model(seed=0, learning_rate=1e-3):
    keras.utils.set_random_seed(seed)
    model = IWAE(image_shape=(6, 1, 1), latent=(3,), hidden=((8,),), k=2, seed=seed)
    model.build()
    model.compile(optimizer=paper_optimizer(learning_rate))
    return model


def epochs_from(first, epochs=4):
    return data.epoch_batches(X, 20, seed=1, first_epoch=first, epochs=epochs)[0]


def train(out, epochs, resume=False, overwrite=False, settings=SETTINGS, **fit):
    run = runs.Run(out, {**settings, "epochs": epochs}, "iwae", resume=resume, overwrite=overwrite)
    model = run.restore() or tiny_model()
    history = run.fit(model, lambda first: epochs_from(first, epochs), epochs, steps_per_epoch=3, verbose=0,
                      **fit)
    return run, model, history


def test_a_finished_run_holds_config_weights_metrics_history_logs_and_checkpoints(tmp_path):
    run, model, history = train(tmp_path / "run", 4, checkpoint_every=2)
    metrics = run.finish(model, test_figure=-1.5)
    names = set(os.listdir(tmp_path / "run"))
    assert {"config.json", "model.weights.h5", "metrics.json", "history.csv", "logs", "checkpoints"} <= names
    kept = [os.path.basename(c) for c in runs.checkpoints(tmp_path / "run")]
    assert kept == ["epoch-000002", "epoch-000004"]
    assert metrics["status"] == "finished" and metrics["epochs"] == 4 and metrics["test_figure"] == -1.5
    assert set(metrics["final_train"]) >= {"loss", "elbo", "iwae_k2"} and len(history["loss"]) == 4
    loaded, settings = runs.load(tmp_path / "run")
    assert settings["epochs"] == 4
    assert json.loads((tmp_path / "run" / "config.json").read_text())["family"] == "iwae"
    np.testing.assert_array_equal(loaded.log_weights(X, 3, seed=2).log_w.numpy(),
                                  model.log_weights(X, 3, seed=2).log_w.numpy())


def test_resume_gives_the_weights_optimizer_and_noise_of_an_uninterrupted_run(tmp_path):
    _, straight, _ = train(tmp_path / "straight", 4)
    train(tmp_path / "killed", 2)  # as if killed after epoch 2
    run, resumed, history = train(tmp_path / "killed", 4, resume=True)
    assert run.initial_epoch == 2 and len(history["loss"]) == 4
    assert int(resumed.optimizer.iterations) == int(straight.optimizer.iterations) == 12
    state = straight.weights + straight.optimizer.variables
    for a, b in zip(state, resumed.weights + resumed.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    rows = list(csv.DictReader(open(tmp_path / "killed" / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]


def test_the_step_runs_several_batches_per_call_and_trains_the_same_weights(tmp_path):
    assert [runs.steps_per_call(n) for n in (500, 1875, 229, 3, None)] == [10, 5, 1, 3, 1]
    validation = tf.data.Dataset.from_tensor_slices(X[:50]).batch(20)  # a short last batch
    _, model, history = train(tmp_path / "run", 2, validation_data=validation)
    assert model.steps_per_execution == 3
    plain = tiny_model()  # Keras' default: one step per call
    plain_history = plain.fit(epochs_from(0, 2), epochs=2, steps_per_epoch=3, validation_data=validation,
                              verbose=0).history
    assert plain.steps_per_execution == 1 and int(model.optimizer.iterations) == 6
    for a, b in zip(model.weights + model.optimizer.variables, plain.weights + plain.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(history["val_loss"], plain_history["val_loss"], rtol=1e-6)


def test_checkpoints_appear_whole_or_not_at_all(tmp_path):
    train(tmp_path / "run", 2)
    half = tmp_path / "run" / "checkpoints" / ".tmp-killed"  # a kill during a checkpoint write
    half.mkdir()
    (half / "model.keras").write_bytes(b"partial")
    assert runs.latest_checkpoint(tmp_path / "run").endswith("epoch-000002")
    run, _, _ = train(tmp_path / "run", 3, resume=True)
    assert run.initial_epoch == 2


def test_resume_refuses_changed_settings_and_a_folder_without_checkpoints(tmp_path):
    train(tmp_path / "run", 2)
    with pytest.raises(ValueError, match=r"batch_size: 20 -> 50"):
        train(tmp_path / "run", 4, resume=True, settings={**SETTINGS, "batch_size": 50})
    with pytest.raises(ValueError, match="holds no checkpoint"):
        runs.Run(tmp_path / "empty", SETTINGS, "iwae", resume=True)
    with pytest.raises(ValueError, match="either --overwrite"):
        runs.Run(tmp_path / "run", SETTINGS, "iwae", resume=True, overwrite=True)


def test_resume_accepts_a_checkpoint_whose_settings_name_their_family(tmp_path):
    """Checkpoints of older code record the command's family in their settings (the long MNIST
    runs of docs/runs/iwae_paper); the family is the checkpoint's model class, not a setting."""
    train(tmp_path / "run", 2, settings={**SETTINGS, "family": "iwae"})
    run, _, history = train(tmp_path / "run", 3, resume=True)
    assert run.initial_epoch == 2 and len(history["loss"]) == 3
    with pytest.raises(ValueError, match=r"batch_size: 20 -> 50"):
        train(tmp_path / "run", 4, resume=True, settings={**SETTINGS, "batch_size": 50})


def test_an_existing_run_is_refused_unless_overwritten(tmp_path):
    train(tmp_path / "run", 1)
    with pytest.raises(ValueError, match="already holds a run"):
        runs.Run(tmp_path / "run", SETTINGS, "iwae")
    runs.Run(tmp_path / "run", SETTINGS, "iwae", overwrite=True)
    assert not os.path.exists(tmp_path / "run" / "checkpoints")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        runs.Run(tmp_path / "file", SETTINGS, "iwae")


def test_a_diverging_run_stops_keeps_its_last_good_checkpoint_and_writes_no_weights(tmp_path):
    out = tmp_path / "run"
    train(out, 1)
    good = runs.load_checkpoint(runs.latest_checkpoint(out))[0].get_weights()
    run = runs.Run(out, {**SETTINGS, "epochs": 3}, "iwae", resume=True)
    model = run.restore()
    model.optimizer.learning_rate.assign(1e12)  # diverges within the next epoch
    with pytest.raises(DivergedError, match=r"epoch 2.*epoch-000001"):
        run.fit(model, lambda first: epochs_from(first, 3), 3, steps_per_epoch=3, verbose=0)
    assert runs.latest_checkpoint(out).endswith("epoch-000001")
    for a, b in zip(good, runs.load_checkpoint(runs.latest_checkpoint(out))[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    metrics = json.loads((out / "metrics.json").read_text())  # valid JSON
    assert metrics["status"] == "diverged" and not os.path.exists(out / "model.weights.h5")
    assert metrics["diverged_at"] == "epoch 2, batches 1-3"  # one call of the step runs all three


def test_a_time_budget_ends_at_an_epoch_boundary_and_is_recorded(tmp_path):
    run, model, history = train(tmp_path / "run", 4, max_minutes=1e-9)
    assert len(history["loss"]) == 1 and int(model.optimizer.iterations) == 3
    assert run.finish(model)["status"] == "time_budget"
    assert runs.latest_checkpoint(tmp_path / "run").endswith("epoch-000001")


class LateColumn(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            logs["val_figure"] = float(epoch)


def test_history_has_every_column_even_one_first_logged_late(tmp_path):
    train(tmp_path / "run", 4, callbacks=[LateColumn()])
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert rows[0]["epoch"] == "1" and rows[2]["val_figure"] == "2.0" and rows[3]["val_figure"] == ""


def test_metrics_json_stays_valid_json_with_non_finite_values(tmp_path):
    runs.update_metrics(tmp_path, figure=float("nan"), nested={"a": float("inf"), "b": 1.0})
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == {"figure": None, "nested": {"a": None, "b": 1.0}}


class Scripted(keras.callbacks.Callback):
    """Logs a held-out figure that peaks after epoch 2 (and would peak again at epoch 5)."""

    VALUES = [1.0, 3.0, 2.0, 2.5, 5.0, 5.0]

    def on_epoch_end(self, epoch, logs=None):
        logs["val_figure"] = self.VALUES[epoch]


def test_early_stopping_ends_with_the_best_weights_and_resumes_to_the_same_stop(tmp_path):
    _, at_best, _ = train(tmp_path / "two_epochs", 2)  # the weights after epoch 2, the best one
    stop = {"callbacks": [Scripted()], "monitor": "val_figure", "patience": 2}
    run, model, history = train(tmp_path / "straight", 6, **stop)
    assert history["val_figure"] == [1.0, 3.0, 2.0, 2.5]  # two epochs without improvement
    metrics = run.finish(model)
    assert metrics["status"] == "early_stopped" and metrics["epochs"] == 4
    assert metrics["best_epoch"] == 2 and metrics["best_val_figure"] == 3.0
    final, _ = runs.load(tmp_path / "straight")
    for a, b in zip(at_best.get_weights(), final.get_weights()):
        np.testing.assert_array_equal(a, b)
    # An early-stopped run is finished: tfgen evaluate / sample / preset build load it.
    loaded, _, folder = presets_cli.load_model(str(tmp_path / "straight"))
    assert folder == str(tmp_path / "straight") and loaded.count_params() == final.count_params()

    train(tmp_path / "killed", 6, max_minutes=1e-9, **stop)  # stops after epoch 1
    # epoch 2, the best one
    train(tmp_path / "killed", 6, resume=True, checkpoint_every=1, max_minutes=1e-9, **stop)
    assert os.path.exists(tmp_path / "killed" / "checkpoints" / "epoch-000002" / runs.BEST_WEIGHTS)
    run, resumed, history = train(tmp_path / "killed", 6, resume=True, **stop)
    assert history["val_figure"] == [1.0, 3.0, 2.0, 2.5] and run.finish(resumed)["best_epoch"] == 2
    for a, b in zip(at_best.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="already stopped early"):
        train(tmp_path / "killed", 8, resume=True, **stop)
