"""Constraints ``E[c_i] <= epsilon_i`` with Lagrange multipliers learned by projected dual ascent.

For a primal loss ``f(theta)`` and constraints ``E[c_i] <= epsilon_i`` the Lagrangian is
``L(theta, lambda) = f(theta) + sum_i lambda_i (E[c_i] - epsilon_i)``, ``lambda_i >= 0``.
Training alternates a descent step on ``theta`` (the model's optimizer, ``lambda`` held
fixed) with an ascent step on ``lambda`` (its own optimizer, ``theta`` held fixed):

    lambda_i <- proj_[min_i, max_i](lambda_i + eta * (E[c_i] - epsilon_i))

(with ``eta * gradient`` replaced by the dual optimizer's update), so a multiplier grows
while its constraint is violated and shrinks toward ``min_i`` once it holds. Zhao, Song &
Ermon (2018) use RMSProp and ``[0.001, 100]``; distortion targeting (seed 004, app. B) uses
Adam with beta_1 = 0 and ``[1e-4, 0.9999]``. A constraint with ``learned=False`` keeps its
multiplier fixed (InfoVAE's weights).
"""
import dataclasses
import math

import keras
import tensorflow as tf

from tfgen.model import LatentVariableModel, scale_for_replicas


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

    def __init__(self, constraints, **kwargs):
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

    def violations(self, terms):
        """``E[c_i] - epsilon_i`` for each constraint, from batch means ``terms[name]``."""
        return {name: terms[name] - c.target for name, c in self.constraints.items()}

    def ascend(self, terms, optimizer):
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
    :meth:`constraint_terms` and uses ``self.multipliers()`` in its ``compute_loss``, which
    returns the plain (unscaled) loss: :meth:`train_step` scales it for replicas itself. Compile
    with ``dual_optimizer=`` for the multipliers' own optimizer. Adds the metrics
    ``lambda_{name}`` (the multiplier after the step) and ``violation_{name}``.
    """

    def constraint_terms(self, x, log_weights):
        """``{name: [batch] per-example constraint terms c_i}`` for the constraints."""
        raise NotImplementedError

    def compile(self, optimizer="adam", dual_optimizer="rmsprop", **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        self.dual_optimizer = keras.optimizers.get(dual_optimizer)

    def set_constraints(self, constraints):
        """Declare ``{name: Constraint or its fields}``; creates the multipliers and metrics."""
        self.multipliers = LagrangeMultipliers(constraints, name="multipliers")
        for name in self.multipliers.constraints:
            for kind in ("lambda", "violation"):
                self.trackers[f"{kind}_{name}"] = keras.metrics.Mean(name=f"{kind}_{name}")

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight, training=True)
            scaled = scale_for_replicas(loss)  # the log below keeps the unscaled loss
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        terms = {n: tf.reduce_mean(t) for n, t in self.constraint_terms(x, y_pred).items()}
        self._update_dual_trackers(self.multipliers.ascend(terms, self.dual_optimizer))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        terms = {n: tf.reduce_mean(t) for n, t in self.constraint_terms(x, y_pred).items()}
        self._update_dual_trackers(self.multipliers.violations(terms))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def _update_dual_trackers(self, violations):
        for name, value in self.multipliers().items():
            self.trackers[f"lambda_{name}"].update_state(value)
            self.trackers[f"violation_{name}"].update_state(violations[name])
