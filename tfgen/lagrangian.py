"""Constraints ``E[c_i] <= epsilon_i`` with Lagrange multipliers learned by projected dual ascent.

For a primal loss ``f(theta)`` and constraints ``E[c_i] <= epsilon_i`` the Lagrangian is
``L(theta, lambda) = f(theta) + sum_i lambda_i (E[c_i] - epsilon_i)``, ``lambda_i >= 0``.
Training alternates a descent step on ``theta`` (the model's optimizer, ``lambda`` held
fixed) with an ascent step on ``lambda`` (its own optimizer, ``theta`` held fixed):

    lambda_i <- proj_[min_i, max_i](lambda_i + eta * (E[c_i] - epsilon_i))

(with ``eta * gradient`` replaced by the dual optimizer's update), so a multiplier grows
while its constraint is violated and shrinks toward ``min_i`` once it holds. Zhao, Song &
Ermon (2018) use RMSProp and ``[0.001, 100]``; distortion targeting ("Mind Your Bits and
Errors", anonymous ICLR 2021 submission, app. B) uses Adam with beta_1 = 0 and
``[1e-4, 0.9999]``. A constraint with ``learned=False`` keeps its multiplier fixed (InfoVAE's
weights).
"""
from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf

from tfgen.model import LatentVariableModel


@dataclasses.dataclass
class Constraint:
    """``E[term] <= target`` with multiplier ``initial``, projected onto ``[minimum, maximum]``."""

    target: float
    initial: float = 1.0
    minimum: float = 0.0
    maximum: float = math.inf
    learned: bool = True

    def __post_init__(self):
        if not self.minimum <= self.initial <= self.maximum:
            raise ValueError(
                f"A multiplier must start inside [{self.minimum}, {self.maximum}], got {self.initial}."
            )


@keras.saving.register_keras_serializable(package="tfgen")
class LagrangeMultipliers(keras.layers.Layer):
    """Multipliers of named constraints, stored as non-trainable Keras variables.

    They are saved with the model's weights but never touched by the model's optimizer;
    :meth:`ascend` moves them. Calling the layer returns ``{name: lambda}`` with gradients
    stopped, for use in the primal loss.
    """

    def __init__(self, constraints: dict[str, Constraint | dict], **kwargs):
        super().__init__(**kwargs)
        self.constraints = {
            name: c if isinstance(c, Constraint) else Constraint(**c) for name, c in constraints.items()
        }
        self.multipliers = {
            name: self.add_weight(shape=(), name=name, trainable=False,
                                  initializer=keras.initializers.Constant(c.initial))
            for name, c in self.constraints.items()
        }
        self.built = True

    def call(self, inputs=None):
        return {name: tf.stop_gradient(value) for name, value in self.multipliers.items()}

    def violations(self, terms: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """``E[c_i] - epsilon_i`` for each constraint, from batch means ``terms[name]``."""
        return {name: terms[name] - c.target for name, c in self.constraints.items()}

    def ascend(self, terms: dict[str, tf.Tensor],
               optimizer: keras.optimizers.Optimizer) -> dict[str, tf.Tensor]:
        """One projected dual-ascent step from the batch estimates ``terms[name]`` (scalars)."""
        violations = self.violations(terms)
        learned = [name for name, c in self.constraints.items() if c.learned]
        if learned:
            optimizer.apply([-violations[n] for n in learned], [self.multipliers[n] for n in learned])
            for name in learned:
                c = self.constraints[name]
                self.multipliers[name].assign(tf.clip_by_value(self.multipliers[name], c.minimum, c.maximum))
        return violations

    def get_config(self):
        return {**super().get_config(),
                "constraints": {n: dataclasses.asdict(c) for n, c in self.constraints.items()}}


class ConstrainedModel(LatentVariableModel):
    """A :class:`~tfgen.model.LatentVariableModel` with constraints learned by dual ascent.

    A subclass calls :meth:`set_constraints` in its ``__init__``, implements
    :meth:`constraint_terms` and overrides :meth:`objective` with the per-example negative
    Lagrangian, reading ``self.multipliers()``. Compile with ``dual_optimizer=`` for the
    multipliers' own optimizer; both optimizers (and their slots) are saved in ``.keras``
    files and restored by ``keras.saving.load_model``. Adds the metrics ``lambda_{name}``
    (the multiplier after the step) and ``violation_{name}``.
    """

    def constraint_terms(self, outputs) -> dict[str, tf.Tensor]:
        """``{name: [batch] per-example constraint terms c_i}`` of the outputs of ``call``."""
        raise NotImplementedError

    def compile(self, optimizer: str | keras.optimizers.Optimizer = "adam",
                dual_optimizer: str | keras.optimizers.Optimizer = "rmsprop", **kwargs) -> None:
        """Keras' ``compile`` plus ``dual_optimizer``, the multipliers' own optimizer."""
        super().compile(optimizer=optimizer, **kwargs)
        self.dual_optimizer = keras.optimizers.get(dual_optimizer)

    def get_compile_config(self):
        config = super().get_compile_config()
        if self.compiled:
            config["dual_optimizer"] = keras.optimizers.serialize(self.dual_optimizer)
        return config

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:  # create both optimizers' variables, so a saved state can be loaded into them
            self.build_optimizers()

    def build_optimizers(self) -> None:
        """The optimizer's variables, and the dual optimizer's for the learned multipliers."""
        super().build_optimizers()
        if not self.dual_optimizer.built:
            self.dual_optimizer.build(self.learned_multipliers())

    def set_constraints(self, constraints: dict[str, Constraint | dict]) -> None:
        """Declare ``{name: Constraint or its fields}``; creates the multipliers and metrics."""
        self.multipliers = LagrangeMultipliers(constraints, name="multipliers")
        for name in self.multipliers.constraints:
            for kind in ("lambda", "violation"):
                self.trackers[f"{kind}_{name}"] = keras.metrics.Mean(name=f"{kind}_{name}")

    def learned_multipliers(self) -> list[keras.Variable]:
        """The multiplier variables the dual optimizer moves."""
        m = self.multipliers
        return [m.multipliers[name] for name, c in m.constraints.items() if c.learned]

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(self.checked_data(data))
        with tf.GradientTape() as tape:
            outputs = self(x, training=True)
            loss = self.compute_loss(x, y, outputs, sample_weight, training=True)  # scaled for replicas
        self._loss_tracker.update_state(loss * _replicas(), sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        terms = {n: tf.reduce_mean(t) for n, t in self.constraint_terms(outputs).items()}
        self._update_dual_trackers(self.multipliers.ascend(terms, self.dual_optimizer))
        return self.compute_metrics(x, y, outputs, sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(self.checked_data(data))
        outputs = self(x, training=False)
        loss = self.compute_loss(x, y, outputs, sample_weight, training=False)
        self._loss_tracker.update_state(loss * _replicas(), sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        terms = {n: tf.reduce_mean(t) for n, t in self.constraint_terms(outputs).items()}
        self._update_dual_trackers(self.multipliers.violations(terms))
        return self.compute_metrics(x, y, outputs, sample_weight)

    def _update_dual_trackers(self, violations):
        for name, value in self.multipliers().items():
            self.trackers[f"lambda_{name}"].update_state(value)
            self.trackers[f"violation_{name}"].update_state(violations[name])


def _replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync
