"""tfgen.tuning: a tiny keras-tuner search scored by the held-out IWAE bound."""
import keras
import keras_tuner
import numpy as np
import pytest

from tfgen import data, evaluation, tuning
from zoo import iwae

EVAL_K = 20


def build_model(units, **config):
    model = iwae.IWAE(image_shape=(8, 8, 1), hidden=((units,),), latent=(4,), seed=0, **config)
    model.adapt(data.load_images("digits", "train").reshape(-1, 64))
    return model


def test_search_returns_best_trial_scored_by_held_out_bound(tmp_path):
    keras.utils.set_random_seed(0)
    valid = data.load("digits", "validation", 100)
    hypermodel = tuning.BoundHyperModel(build_model, {"units": [8, 16], "k": [1, 3]}, validation_data=valid,
                                        eval_k=EVAL_K)
    objective = hypermodel.objective
    assert (objective.name, objective.direction) == (f"val_log_likelihood_k{EVAL_K}", "max")
    tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=2, seed=1,
                                     directory=str(tmp_path), project_name="tiny")
    tuner.search(data.load("digits", "train", 50, seed=0), epochs=1, verbose=0)

    trials = tuner.oracle.get_best_trials(2)
    assert len(trials) == 2
    best = trials[0]
    assert best.score == max(t.score for t in trials)
    assert set(best.hyperparameters.values) == {"learning_rate", "units", "k"}
    assert 1e-4 <= best.hyperparameters.get("learning_rate") <= 1e-2
    # The score is the held-out k-sample bound of the best model (the same samples: seed 0),
    # not a training metric.
    model = tuner.get_best_models(1)[0]
    recomputed = evaluation.log_likelihood(model, valid, k=EVAL_K, verbose=0, seed=0).mean()
    assert recomputed == pytest.approx(best.score, abs=1e-3)


def test_bad_space_and_missing_validation_data_are_refused():
    valid = np.zeros((4, 64), "float32")
    with pytest.raises(ValueError, match="validation_data"):
        tuning.BoundHyperModel(build_model, {"units": [8]})
    with pytest.raises(ValueError, match="'units' is an empty list"):
        tuning.BoundHyperModel(build_model, {"units": []}, validation_data=valid)
    with pytest.raises(ValueError, match="'learning_rate' must be a \\(low, high\\) pair"):
        tuning.BoundHyperModel(build_model, {"learning_rate": (1e-2, 1e-4)}, validation_data=valid)
