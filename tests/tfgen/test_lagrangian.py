"""Projected dual ascent on Lagrange multipliers."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import linear_gaussian
from tfgen import objectives
from tfgen.lagrangian import ConstrainedModel, Constraint, LagrangeMultipliers


@keras.saving.register_keras_serializable(package="tests")
class KLConstrained(ConstrainedModel, linear_gaussian.LinearGaussian):
    """Maximise E log p(x|z) subject to KL(q || p) <= target."""

    def __init__(self, target, **kwargs):
        super().__init__(**kwargs)
        self.target = target
        self.set_constraints({"kl": Constraint(target, initial=1.0, minimum=1e-3, maximum=100.0)})

    def constraint_terms(self, outputs):
        return {"kl": outputs.kl("z")}

    def objective(self, outputs):
        """Minus the Lagrangian per example: ``log p(x|z) - lambda KL``."""
        return tf.reduce_mean(outputs.log_px_z, axis=0) - self.multipliers()["kl"] * outputs.kl("z")

    def get_config(self):
        return {"target": self.target, "data_dim": self.data_dim, "latent_dim": self.latent_dim,
                "noise": self.noise, "seed": self.seed, "name": self.name}


def fit_constrained(target, epochs=3):
    _, x = linear_gaussian.make(n=256)
    model = KLConstrained(target, data_dim=4, latent_dim=2, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), dual_optimizer=keras.optimizers.SGD(0.5))
    history = model.fit(x, batch_size=32, epochs=epochs, verbose=0)
    return model, history.history


def test_multiplier_rises_while_violated():
    model, history = fit_constrained(target=0.0)  # KL > 0 always: violated throughout
    assert all(v > 0 for v in history["violation_kl"])
    assert history["lambda_kl"][-1] > history["lambda_kl"][0] > 1.0


def test_multiplier_falls_to_its_clip_when_satisfied():
    model, history = fit_constrained(target=1e3)  # never binding
    assert all(v < 0 for v in history["violation_kl"])
    assert float(model.multipliers()["kl"]) == pytest.approx(1e-3)


def test_multipliers_are_saved_and_not_trained_by_the_model_optimizer(tmp_path):
    model, _ = fit_constrained(target=0.0, epochs=1)
    assert all("multipliers" not in v.path for v in model.trainable_variables)
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    fresh = KLConstrained(0.0, data_dim=4, latent_dim=2, seed=0)
    fresh.build()
    fresh.load_weights(path)
    np.testing.assert_allclose(float(fresh.multipliers()["kl"]), float(model.multipliers()["kl"]))


def test_keras_file_restores_both_optimizers(tmp_path):
    """``model.save`` / ``keras.saving.load_model``: compiled again with the dual optimizer, whose
    slots and iterations (and the model optimizer's) are the saved ones; evaluate and fit work."""
    model, _ = fit_constrained(target=0.0, epochs=1)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.compiled and type(loaded.dual_optimizer) is keras.optimizers.SGD
    for mine, theirs in zip(model.optimizer.variables + model.dual_optimizer.variables,
                            loaded.optimizer.variables + loaded.dual_optimizer.variables):
        assert mine.path.split("/", 1)[-1] == theirs.path.split("/", 1)[-1]  # "adam" may become "adam_1"
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert loaded.dual_optimizer.iterations.numpy() == 8  # 256 examples in batches of 32
    _, x = linear_gaussian.make(n=64)
    assert np.isfinite(loaded.evaluate(x, verbose=0, return_dict=True)["lambda_kl"])
    loaded.fit(x, batch_size=32, epochs=1, verbose=0)
    assert loaded.dual_optimizer.iterations.numpy() == 10


def test_fixed_multipliers_do_not_move():
    layer = LagrangeMultipliers({"a": Constraint(1.0, initial=2.0, learned=False)})
    layer.ascend({"a": tf.constant(5.0)}, keras.optimizers.SGD(1.0))
    assert float(layer()["a"]) == 2.0


def test_projection_and_bad_initial_value():
    layer = LagrangeMultipliers({"a": {"target": 0.0, "initial": 0.5, "minimum": 1e-4, "maximum": 0.9999}})
    violations = layer.ascend({"a": tf.constant(10.0)}, keras.optimizers.SGD(1.0))
    assert float(violations["a"]) == 10.0
    assert float(layer()["a"]) == pytest.approx(0.9999)
    with pytest.raises(ValueError, match="must start inside"):
        Constraint(0.0, initial=2.0, maximum=1.0)
    assert objectives.check_k(3) == 3
