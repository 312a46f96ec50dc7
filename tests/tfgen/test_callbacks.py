"""Multi-sample evaluation and active units."""
import json

import keras
import numpy as np
import pytest

from tests import linear_gaussian
from tests.models import tiny_iwae
from tfgen import callbacks, data, evaluation, objectives
from zoo.iwae import protocol


def test_multi_sample_evaluation_reaches_history_and_metrics_without_touching_training(tmp_path):
    def run(with_callback):
        keras.utils.set_random_seed(0)  # the same initial weights in both runs
        model, x = linear_gaussian.make(seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        cbs = [callbacks.MultiSampleEvaluation(x, k=500, every=2, seed=5, metrics_dir=str(tmp_path))]
        batches, steps = data.epoch_batches(x.numpy(), 64, seed=1, first_epoch=0, epochs=3)
        history = model.fit(batches, epochs=3, steps_per_epoch=steps, verbose=0,
                            callbacks=cbs if with_callback else [])
        return model, x, history

    model, x, history = run(True)
    plain, _, _ = run(False)
    key = "test_log_likelihood_k500"
    assert len(history.history[key]) == 2  # epochs 2 and 3 (the last)
    # The same chunking as the callback's, so the same draws.
    expected = evaluation.log_likelihood(model, x, k=500, verbose=0, seed=5, max_rows=8192).mean()
    assert history.history[key][-1] == pytest.approx(expected, abs=1e-6)
    elbo = float(np.mean(objectives.elbo(model.log_weights(x, 500, seed=1).log_w)))
    assert expected > elbo + 0.05  # the k = 500 estimate is the tighter bound
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics[key] == pytest.approx(expected) and metrics[f"{key}_epoch"] == 3
    for a, b in zip(model.weights, plain.weights):  # its own noise: training is unchanged
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_active_units_thresholds_the_variance_of_posterior_means():
    rng = np.random.default_rng(0)
    means = {"z1": rng.normal(size=(2000, 4)) * np.array([1.0, 0.2, 0.05, 0.0])}
    counts, masks, variances = callbacks.active_units(means)
    assert counts == {"z1": 2} and masks["z1"].tolist() == [True, True, False, False]
    np.testing.assert_allclose(variances["z1"], [1.0, 0.04, 0.0025, 0.0], rtol=0.1, atol=1e-12)


def test_active_units_callback_logs_counts_per_layer():
    model = tiny_iwae(layers=2)
    x = (np.random.default_rng(0).random((60, 6)) < 0.5).astype("float32")
    activity = callbacks.ActiveUnits(x, protocol.posterior_means)
    history = model.fit(x, epochs=1, batch_size=20, verbose=0, callbacks=[activity])
    counts, _, _ = activity.measure()
    assert set(counts) == {"z1", "z2"} and 0 <= counts["z1"] <= 4 and 0 <= counts["z2"] <= 3
    assert history.history["active_units_z1"] == [counts["z1"]]


def test_kl_warmup_ramps_the_weight_the_objective_reads_and_logs_it():
    model, x = linear_gaussian.make(seed=0, n=60, bound="elbo")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    outputs = model.log_weights(x, 1, seed=2)
    model.kl_weight.assign(0.0)  # beta = 0: the bound is the reconstruction term alone
    np.testing.assert_allclose(model.objective(outputs), outputs.log_px_z[0], rtol=1e-6)
    seen = []
    spy = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        float(model.kl_weight.numpy())))
    history = model.fit(x, batch_size=20, epochs=3, verbose=0, callbacks=[callbacks.KLWarmup(2), spy])
    np.testing.assert_allclose(seen, [min(1.0, step / 6) for step in range(9)], atol=1e-7)  # 3 steps/epoch
    np.testing.assert_allclose(history.history["kl_weight"], [2 / 6, 5 / 6, 1.0], atol=1e-7)
    assert float(model.kl_weight.numpy()) == 1.0
    # A resumed run continues the ramp from its epoch.
    model.fit(x, batch_size=20, epochs=2, initial_epoch=1, verbose=0, callbacks=[callbacks.KLWarmup(4), spy])
    np.testing.assert_allclose(seen[9:12], [0.25, 0.25 + 1 / 12, 0.25 + 2 / 12], atol=1e-7)


def test_kl_warmup_refuses_objectives_that_do_not_read_it():
    from zoo.vrnn.model import VRNN

    with pytest.raises(ValueError, match="KL warm-up lasts >= 1 epochs"):
        callbacks.KLWarmup(0)
    fivo = VRNN(input_dim=3, rnn_units=4, latent=2, features=4, k=2, objective="fivo", seed=0)
    with pytest.raises(ValueError, match="does not read the KL weight"):
        callbacks.KLWarmup(2).set_model(fivo)
