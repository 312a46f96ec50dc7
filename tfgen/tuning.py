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
import keras
import keras_tuner

from tfgen import callbacks as tfgen_callbacks
from tfgen import objectives

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
        optimizer: ``optimizer(learning_rate) -> keras.optimizers.Optimizer``; Adam by default.
    """

    def __init__(self, build_model, space=None, validation_data=None, eval_k=100, optimizer=None, **kwargs):
        super().__init__(**kwargs)
        if validation_data is None:
            raise ValueError("BoundHyperModel needs validation_data: the objective is a held-out bound.")
        self.build_model = build_model
        self.space = {**DEFAULT_SPACE, **(space or {})}
        for name, spec in self.space.items():
            _check_spec(name, spec)
        self.validation_data = validation_data
        self.eval_k = objectives.check_k(eval_k)
        self.optimizer = optimizer or keras.optimizers.Adam

    @property
    def objective(self):
        """The ``keras_tuner.Objective`` to pass to a tuner: held-out bound, maximised."""
        return keras_tuner.Objective(f"val_log_likelihood_k{self.eval_k}", direction="max")

    def build(self, hp):
        values = {name: _sample(hp, name, spec) for name, spec in self.space.items()}
        learning_rate = values.pop("learning_rate")
        model = self.build_model(**values)
        if not model.built:
            model.build()
        model.compile(optimizer=self.optimizer(learning_rate))
        return model

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
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
