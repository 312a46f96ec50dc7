"""Hyper-parameter search with keras-tuner, scored by a held-out multi-sample bound.

The objective of every trial is ``val_log_likelihood_k{K}``, the IWAE bound on held-out data,

    L_K(x) = E[ log (1/K) sum_{k=1..K} w_k ],   w_k = p(x, z_k) / q(z_k | x)

(Burda et al. 2016, eq. 8), averaged over the held-out examples and maximised. It is the
model-comparison figure of the zoo (``L_K`` tends to ``log p(x)`` as ``K`` grows), unlike the
training loss, whose meaning changes with the trial's own ``k`` and objective.
:class:`tfgen.callbacks.MultiSampleEvaluation` (``name="val"``, every epoch, fixed samples)
writes it into the epoch logs, so keras-tuner's oracle, checkpoints and ``History`` all see it.

A search space is a dict ``{name: spec}``: a list is a choice, a ``(low, high)`` pair of
floats a log-uniform range (uniform if ``low <= 0``), of ints an integer range, anything else
a fixed value (recorded by the tuner when it is a scalar). ``learning_rate`` sets the
optimizer; every other value is passed to the user's ``build_model(**values)``, which
returns an uncompiled model::

    hypermodel = BoundHyperModel(
        lambda units, **c: IWAE(input_dim=64, hidden=((units, units),), **c),
        {"learning_rate": (1e-4, 1e-2), "k": [1, 5, 50], "units": [100, 200]},
        validation_data=valid, eval_k=100)
    tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=10)
    tuner.search(train, epochs=20)
"""
from __future__ import annotations

from collections.abc import Callable

import keras
import keras_tuner
import numpy as np
import tensorflow as tf

from tfgen import callbacks as tfgen_callbacks
from tfgen import objectives, optimizers

DEFAULT_SPACE = {"learning_rate": (1e-4, 1e-2)}


class BoundHyperModel(keras_tuner.HyperModel):
    """A keras-tuner ``HyperModel`` for tfgen models with a held-out bound as the objective.

    Args:
        build_model: ``build_model(**values) -> model`` (uncompiled) for the sampled values of
            every key of ``space`` except ``learning_rate``.
        space: ``{name: spec}`` (see the module docstring); ``learning_rate`` defaults to a
            log-uniform ``(1e-4, 1e-2)``.
        validation_data: held-out data (array or ``tf.data.Dataset``) scored each epoch.
        eval_k: importance samples of the held-out bound.
        optimizer: ``optimizer(learning_rate) -> keras.optimizers.Optimizer``;
            :class:`tfgen.optimizers.Adam` by default.
    """

    def __init__(self, build_model: Callable[..., keras.Model], space: dict | None = None,
                 validation_data: tf.data.Dataset | np.ndarray | None = None, eval_k: int = 100,
                 optimizer: Callable[[float], keras.optimizers.Optimizer] | None = None, **kwargs):
        super().__init__(**kwargs)
        if validation_data is None:
            raise ValueError("BoundHyperModel needs validation_data: the objective is a held-out bound.")
        self.build_model = build_model
        self.space = {**DEFAULT_SPACE, **(space or {})}
        for name, spec in self.space.items():
            _check_spec(name, spec)
        self.validation_data = validation_data
        self.eval_k = objectives.check_k(eval_k)
        self.optimizer = optimizer or optimizers.Adam

    @property
    def objective(self) -> keras_tuner.Objective:
        """The ``keras_tuner.Objective`` to pass to a tuner: held-out bound, maximised."""
        return keras_tuner.Objective(f"val_log_likelihood_k{self.eval_k}", direction="max")

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """A compiled model of the values ``hp`` samples from the space."""
        values = {name: _sample(hp, name, spec) for name, spec in self.space.items()}
        learning_rate = values.pop("learning_rate")
        model = self.build_model(**values)
        if not model.built:
            model.build()
        model.compile(optimizer=self.optimizer(learning_rate))
        return model

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args, callbacks=None, **kwargs):
        """``model.fit`` with the held-out bound evaluated after every epoch."""
        # First, so the tuner's own callbacks (after it) find the objective in the logs.
        held_out = tfgen_callbacks.MultiSampleEvaluation(self.validation_data, self.eval_k, every=1,
                                                         name="val")
        callbacks = [held_out] + list(callbacks or [])
        return model.fit(*args, callbacks=callbacks, **kwargs)


def _check_spec(name, spec):
    if isinstance(spec, list) and not spec:
        raise ValueError(f"Search space entry {name!r} is an empty list of choices.")
    if isinstance(spec, tuple):
        if len(spec) != 2 or not all(isinstance(v, (int, float)) for v in spec) or spec[0] >= spec[1]:
            raise ValueError(
                f"Search space entry {name!r} must be a (low, high) pair with low < high, got {spec}.")


def _sample(hp, name, spec):
    if isinstance(spec, list):
        return hp.Choice(name, spec)
    if isinstance(spec, tuple):
        low, high = spec
        if isinstance(low, int) and isinstance(high, int):
            return hp.Int(name, low, high)
        return hp.Float(name, float(low), float(high), sampling="log" if low > 0 else "linear")
    if isinstance(spec, (bool, int, float, str)):
        return hp.Fixed(name, spec)
    return spec  # e.g. a tuple of layer sizes: passed through, not recorded by the tuner
