"""The sigmoid belief network family: every estimator trains, the Concrete relaxation is only a
training objective, the command line, and the configuration's checks."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import data
from zoo import cli
from zoo.iwae.model import IWAE
from zoo.sbn.configs import ESTIMATORS as SBN_ESTIMATORS
from zoo.sbn.configs import SBNConfig
from zoo.sbn.model import SBN

DIGITS = data.load_images("digits", "train")[:300].reshape(300, -1).astype("float32")


def bound(model, x, k=20):
    return float(tf.reduce_mean(model.bound_of(model.log_weights(x, k, seed=7))))


@pytest.mark.parametrize("cls,estimator", [(SBN, e) for e in SBN_ESTIMATORS]
                         + [(IWAE, e) for e in ("dreg", "vimco")])  # total, path: the IWAE tests
def test_every_estimator_trains(cls, estimator):
    keras.utils.set_random_seed(0)
    fields = {"latent": (20,)} if cls is SBN else {"latent": (8,), "hidden": ((32,),)}
    model = cls(image_shape=(8, 8, 1), k=4, objective="iwae", estimator=estimator, seed=0, **fields)
    model.build()
    model.likelihood.set_bias_from_mean(DIGITS.mean(axis=0))  # a good start: the mean image
    model.compile(optimizer=keras.optimizers.Adam(1e-2 if cls is SBN else 3e-3))
    before = bound(model, DIGITS)
    history = model.fit(DIGITS, batch_size=30, epochs=4 if cls is SBN else 6, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert bound(model, DIGITS) > before + 0.3  # IWAE_20 on the training images, nats


def test_the_concrete_relaxation_trains_and_evaluation_scores_the_binary_model():
    model = SBN(image_shape=(8, 8, 1), latent=(6,), k=3, estimator="concrete", seed=0)
    model.build()
    x = DIGITS[:10]
    relaxed = model.log_weights(x, 3, estimator="concrete", seed=1, training=True)
    binary = model.log_weights(x, 3, estimator="concrete", seed=1, training=False)
    assert not np.allclose(relaxed.log_w, binary.log_w)  # densities of logits, not of bits
    np.testing.assert_array_equal(binary.log_w, model.log_weights(x, 3, estimator="nvil", seed=1).log_w)
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(model.bound_of(model(x, training=True)))
    gradients = tape.gradient(value, model.posteriors[0].trainable_variables)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)  # pathwise through the relaxation


@pytest.mark.parametrize("fields,message", [
    ({"estimator": "vimco", "k": 1}, "needs k >= 2"), ({"estimator": "dreg"}, "Unknown estimator 'dreg'"),
    ({"temperature": 0.0}, "temperature must be > 0"), ({"layers": 2, "hidden": ((),)}, "hidden stacks"),
    ({"objective": "rws"}, "Unknown objective"), ({"latent": (10, 5)}, "latent needs 1 entries"),
])
def test_bad_hyper_parameters_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        SBNConfig(**fields)


def test_train_sbn_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "sbn", "--dataset", "digits", "--config", "vimco200", "--latent", "20",
                     "--epochs", "2", "--train-size", "200", "--batch-size", "100", "--kl-warmup", "1",
                     "--eval-k", "5", "--test-size", "50", "--out", str(out), "--verbose", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["test_size"] == 50
    assert np.isfinite([metrics["test_log_likelihood_k5"], metrics["initial_test_log_likelihood_k5"]]).all()
    config = json.loads((out / "config.json").read_text())["model"]["config"]
    assert config["estimator"] == "vimco" and config["k"] == 5 and config["latent"] == [20]
    assert metrics["final_train"]["kl_weight"] == 1.0
    assert "from" in capsys.readouterr().out
    assert cli.main(["train", "sbn", "--estimator", "vimco", "--k", "1", "--out", str(tmp_path / "bad")]) == 2
    assert "needs k >= 2" in capsys.readouterr().err and not (tmp_path / "bad").exists()
