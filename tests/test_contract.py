"""The same checks on every zoo model class (cases in tests/contract.py).

``log_w`` is ``[k, batch]`` and its parts add up; the total and path estimators give the
same values (or the model refuses the path estimator, as flow posteriors do); saving and
loading (a ``.keras`` file, a run folder) give identical ``log_w``;
``fit`` logs the standard keys, finite, also under ``jit_compile=True``, each listed once by
``metrics_names`` and ``evaluate()``; a bad batch raises
before training with the weights unchanged.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.contract import CASES, model_classes
from tfgen import runs

IDS = [case.name for case in CASES]


def built(case):
    keras.utils.set_random_seed(0)
    model = case.make()
    model.build()
    return model


def compiled(case, **kwargs):
    model = built(case)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **case.compile_kwargs(), **kwargs)
    return model


def test_every_model_class_has_a_case():
    covered = {type(built(case)) for case in CASES}
    assert model_classes() - covered == set()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_log_weights_are_k_by_batch_and_their_parts_add_up(case):
    model, x = built(case), case.data()
    lw = model.log_weights(x, 5, seed=1)
    batch = len(tf.nest.flatten(x)[0])
    assert lw.log_w.shape == (5, batch) and lw.log_px_z.shape == (5, batch)
    assert set(lw.log_pz) == set(lw.log_qz) == set(model.latent_names)
    parts = lw.log_px_z + tf.add_n(list(lw.log_pz.values())) - tf.add_n(list(lw.log_qz.values()))
    np.testing.assert_allclose(lw.log_w.numpy(), parts.numpy(), rtol=1e-5, atol=1e-3)
    assert np.all(np.isfinite(lw.log_w.numpy()))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_total_and_path_estimators_give_the_same_values(case):
    model, x = built(case), case.data()
    if not case.path_estimator:
        with pytest.raises(ValueError, match="path"):
            model.log_weights(x, 4, estimator="path", seed=3)
        return
    total = model.log_weights(x, 4, estimator="total", seed=3).log_w.numpy()
    path = model.log_weights(x, 4, estimator="path", seed=3).log_w.numpy()
    np.testing.assert_allclose(path, total, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_keras_file_and_run_folder_round_trips_give_identical_log_weights(case, tmp_path):
    model, x = compiled(case), case.data()
    model.fit(x, batch_size=6, epochs=1, verbose=0)
    reference = model.log_weights(x, 3, seed=7).log_w.numpy()
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.log_weights(x, 3, seed=7).log_w.numpy(), reference)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2
    runs.save(model, tmp_path / "run", {"dataset": "toy"}, case.family)
    from_run, settings = runs.load(tmp_path / "run")
    np.testing.assert_array_equal(from_run.log_weights(x, 3, seed=7).log_w.numpy(), reference)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fit_logs_the_standard_keys_finite(case, jit_compile):
    model, x = compiled(case, jit_compile=jit_compile), case.data()
    assert model.jit_compile is jit_compile  # Keras falls back to no XLA silently for some layers
    traces, train_step = [], model.train_step
    model.train_step = lambda data: traces.append(data) or train_step(data)
    history = model.fit(x, batch_size=6, epochs=2, verbose=0).history
    assert len(traces) == 1  # the variables exist before fit traces its step, which it does once
    assert {"loss", "reconstruction", "kl"} <= set(history)
    assert {f"kl_{layer}" for layer in model.latent_names} <= set(history)
    assert all(np.all(np.isfinite(values)) for values in history.values())
    logs = model.evaluate(x, batch_size=6, verbose=0, return_dict=True)
    assert set(logs) == set(history) - {"learning_rate"}
    # Each metric listed once: metrics_names and evaluate()'s list hold one entry per logged key.
    values = model.evaluate(x, batch_size=6, verbose=0)
    assert sorted(model.metrics_names) == sorted(logs)
    assert len(values) == len(logs) and np.all(np.isfinite(values))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_bad_batch_raises_before_training_with_weights_unchanged(case):
    model = compiled(case)
    before = [w.copy() for w in model.get_weights()]
    bad, match = case.bad()
    with pytest.raises(ValueError, match=match):
        model.fit(bad, batch_size=6, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
