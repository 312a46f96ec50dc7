"""Schedules, resumable batches, checkpoints, multi-sample evaluation and active units."""
import json

import keras
import numpy as np
import pytest

from tests import linear_gaussian
from tfgen import callbacks, evaluation, objectives, schedules
from zoo import iwae, iwae_paper


def test_burda_schedule_has_3280_passes_and_the_codes_rates():
    schedule = schedules.StagedSchedule.burda()
    assert [e for e, _ in schedule.stages] == [3 ** i for i in range(8)]
    assert schedule.epochs == schedules.BURDA_PASSES == 3280 and not schedule.truncated
    rates = [lr for _, lr in schedule.stages]
    np.testing.assert_allclose(rates, [1e-3, 7.2e-4, 5.2e-4, 3.7e-4, 2.7e-4, 1.9e-4, 1.4e-4, 1e-4])
    np.testing.assert_allclose(rates, [1e-3 * 10 ** (-i / 7) for i in range(8)], rtol=0.02)
    assert schedule(0) == 1e-3 and schedule(1) == schedule(3) == rates[1] and schedule(4) == rates[2]
    assert schedule(3279) == rates[7]


def test_a_passes_budget_truncates_the_schedule_in_order():
    schedule = schedules.StagedSchedule.burda(passes=6)
    assert schedule.stages == [(1, 1e-3), (3, 7.2e-4), (2, 5.2e-4)]
    assert schedule.truncated and schedule.describe()["truncated"] and schedule.boundaries == [0, 1, 4, 6]
    assert schedule.start_of(2) == 4 and schedule.stage_of(5) == 2
    with pytest.raises(ValueError, match="outside"):
        schedule(6)
    with pytest.raises(ValueError, match="passes"):
        schedules.StagedSchedule.burda(passes=0)


def test_epoch_batches_depend_only_on_seed_and_epoch():
    x = np.arange(23, dtype="float32")[:, None]
    full, steps = callbacks.epoch_batches(x, 5, seed=3, first_epoch=0, epochs=4)
    tail, _ = callbacks.epoch_batches(x, 5, seed=3, first_epoch=2, epochs=4)
    full = [b.numpy() for b in full]
    assert steps == 5 and len(full) == 20
    for a, b in zip(full[10:], tail):
        np.testing.assert_array_equal(a, b)
    for epoch in range(4):  # every epoch is a permutation of the data ...
        np.testing.assert_array_equal(np.sort(np.concatenate(full[5 * epoch:5 * epoch + 5])[:, 0]), x[:, 0])
    assert not np.array_equal(np.concatenate(full[:5]), np.concatenate(full[5:10]))  # ... a new one


def test_dynamic_binarization_draws_bernoulli_batches():
    x = np.full((4000, 1), 0.3, dtype="float32")
    batches, _ = callbacks.epoch_batches(x, 1000, seed=0, first_epoch=0, epochs=1, dynamic_binarization=True)
    values = np.concatenate([b.numpy() for b in batches])
    assert set(np.unique(values)) == {0.0, 1.0} and abs(values.mean() - 0.3) < 0.03


def _tiny_iwae(k=2, layers=1, seed=0):
    keras.utils.set_random_seed(seed)
    latent, hidden = ((3,), ((8,),)) if layers == 1 else ((4, 3), ((8,), (6,)))
    model = iwae.IWAE(input_dim=6, layers=layers, k=k, latent=latent, hidden=hidden, seed=seed)
    model.build()
    model.compile(optimizer=iwae.paper_optimizer())
    return model


def test_checkpoint_round_trip_restores_weights_optimizer_and_noise(tmp_path):
    model = _tiny_iwae()
    x = (np.random.default_rng(0).random((40, 6)) < 0.5).astype("float32")
    model.fit(x, epochs=2, batch_size=10, verbose=0)
    callbacks.save_checkpoint(model, tmp_path, "latest", 2, train_seconds=12.34)
    restored, state = callbacks.load_checkpoint(tmp_path, "latest")
    assert state["epoch"] == 2 and state["train_seconds"] == 12.3 and int(restored.optimizer.iterations) == 8
    mine, theirs = model.optimizer.variables + model.weights, restored.optimizer.variables + restored.weights
    for a, b in zip(mine, theirs):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(model.seed_generator.state.numpy(), restored.seed_generator.state.numpy())
    with pytest.raises(FileNotFoundError, match="stage3"):
        callbacks.load_checkpoint(tmp_path, "stage3")


def test_multi_sample_evaluation_reaches_history_and_metrics_without_touching_training(tmp_path):
    def run(with_callback):
        keras.utils.set_random_seed(0)  # the same initial weights in both runs
        model, x = linear_gaussian.make(seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        cbs = [callbacks.MultiSampleEvaluation(x, k=500, every=2, seed=5, metrics_dir=str(tmp_path))]
        batches, steps = callbacks.epoch_batches(x.numpy(), 64, seed=1, first_epoch=0, epochs=3)
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
    model = _tiny_iwae(layers=2)
    x = (np.random.default_rng(0).random((60, 6)) < 0.5).astype("float32")
    activity = callbacks.ActiveUnits(x, iwae_paper.posterior_means)
    history = model.fit(x, epochs=1, batch_size=20, verbose=0, callbacks=[activity])
    counts, _, _ = activity.measure()
    assert set(counts) == {"z1", "z2"} and 0 <= counts["z1"] <= 4 and 0 <= counts["z2"] <= 3
    assert history.history["active_units_z1"] == [counts["z1"]]


@pytest.mark.parametrize("layers", [1, 2])
def test_removing_units_makes_them_prior_and_invisible(layers):
    model = _tiny_iwae(layers=layers)
    x = (np.random.default_rng(1).random((5, 6)) < 0.5).astype("float32")
    masks = {name: np.ones(q.units, bool) for name, q in zip(model.latent_names, model.encoder)}
    masks["z1"][[0, 2]] = False
    before = model.log_weights(x, 3, seed=7).log_w.numpy()
    iwae_paper.remove_inactive_units(model, masks)
    after = model.log_weights(x, 3, seed=7)
    assert not np.allclose(before, after.log_w.numpy())
    loc, scale = model.encoder[0](x)
    np.testing.assert_array_equal(loc.numpy()[:, [0, 2]], 0.0)
    np.testing.assert_array_equal(scale.numpy()[:, [0, 2]], 1.0)
    z = np.random.default_rng(2).normal(size=(5, 4 if layers == 2 else 3)).astype("float32")
    moved = z.copy()
    moved[:, [0, 2]] += 3.0  # the removed units' values reach nothing downstream
    readers = [model.likelihood] + model.encoder[1:]
    for head in readers:
        for a, b in zip(head(z), head(moved)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    if layers == 2:  # p(z1 | z2) of the removed units is N(0, 1) too, so log p - log q cancels
        loc, scale = model.priors[0](np.zeros((5, 3), "float32"))
        np.testing.assert_array_equal(loc.numpy()[:, [0, 2]], 0.0)
        np.testing.assert_array_equal(scale.numpy()[:, [0, 2]], 1.0)


@pytest.mark.parametrize("at,steps", [("batch", 1), ("epoch", 4)])
def test_time_budget_stops_after_a_batch_or_a_whole_epoch(at, steps):
    model, x = linear_gaussian.make(n=64)
    model.compile(optimizer="adam")
    model.fit(x, batch_size=16, epochs=3, verbose=0, callbacks=[callbacks.TimeBudget(0.0, at=at)])
    assert int(model.optimizer.iterations) == steps  # a zero budget: stop at the first check
    with pytest.raises(ValueError, match="'batch' or 'epoch'"):
        callbacks.TimeBudget(1.0, at="step")
