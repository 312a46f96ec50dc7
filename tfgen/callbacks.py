"""Keras callbacks for latent-variable models: held-out multi-sample bounds, active units, KL warm-up.

They write their figures into the epoch's logs, so the run driver (:mod:`tfgen.runs`) puts
them in ``history.csv``, TensorBoard and the checkpoints; place them before it.
"""
from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from tfgen import evaluation, runs


class MultiSampleEvaluation(keras.callbacks.Callback):
    """Estimates ``log p(x)`` on ``data`` with ``k`` importance samples during ``fit``.

    ``log p(x) ~= log (1/k) sum_i w_i`` (Burda et al. 2016, eq. 8; the paper uses k = 5000),
    computed by :func:`tfgen.evaluation.log_likelihood` (chunks over k, streaming
    log-sum-exp, so memory does not grow with k). Runs after every ``every``-th epoch and
    after the last one, and writes ``{name}_log_likelihood_k{k}`` into the epoch's logs, so
    History, TensorBoard and CSVLogger placed after this callback record it, and into
    ``metrics_dir/metrics.json`` when given. Samples come from their own generator
    (``seed``), so evaluating does not change the training noise. ``max_rows`` bounds the
    ``(sample, example)`` pairs scored at once: 8192 keeps a 784-pixel model's evaluation
    under 2 GiB whatever k is.
    """

    def __init__(self, data: tf.data.Dataset | np.ndarray, k: int = 5000, every: int | None = None,
                 name: str = "test", seed: int = 0, metrics_dir: str | None = None, verbose: int = 0,
                 max_rows: int = 8192):
        super().__init__()
        self.max_rows = max_rows
        if every is not None and every < 1:
            raise ValueError(f"Evaluate every >= 1 epochs, got {every!r}.")
        self.data, self.k, self.every, self.name = data, k, every, name
        self.seed, self.metrics_dir, self.verbose = seed, metrics_dir, verbose
        self.key = f"{name}_log_likelihood_k{k}"
        self.estimator = None

    def set_model(self, model):
        super().set_model(model)
        self.estimator = evaluation.LogLikelihood(model, self.k, self.max_rows, self.seed)

    def evaluate(self) -> float:
        """The mean ``log p(x)`` estimate on the data now (nats)."""
        return float(self.estimator(self.data, self.verbose).mean())

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == self.params.get("epochs")
        if not (last or (self.every and (epoch + 1) % self.every == 0)):
            return
        value = self.evaluate()
        if logs is not None:
            logs[self.key] = value
        if self.metrics_dir:
            runs.update_metrics(self.metrics_dir, **{self.key: value, f"{self.key}_epoch": epoch + 1})


class PeriodicEvaluation(keras.callbacks.Callback):
    """Held-out figures during ``fit``: ``measure(model) -> {name: value}`` after every
    ``every``-th epoch and after the last, written into the epoch's logs as ``{prefix}_{name}``
    (so the run driver's history, TensorBoard and early stopping see them).

    ``measure`` should draw its noise from a fixed seed, so that successive evaluations differ
    by the weights alone (common random numbers) and training's noise is untouched.
    """

    def __init__(self, measure, every=1, prefix="val"):
        super().__init__()
        if every < 1:
            raise ValueError(f"Evaluate every >= 1 epochs, got {every!r}.")
        self.measure, self.every, self.prefix = measure, every, prefix

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.params.get("epochs"):
            return
        figures = self.measure(self.model)
        if logs is not None:
            logs.update({f"{self.prefix}_{name}": float(value) for name, value in figures.items()})


def active_units(means: dict[str, np.ndarray], threshold: float = 0.01,
                 ) -> tuple[dict[str, int], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Burda et al. (2016, sec. 5.2): unit ``u`` is active when ``Cov_x(E_q[u | x]) > threshold``.

    Args:
        means: ``{layer: [n, units]}`` posterior means ``E_q[u | x]`` over n examples.

    Returns:
        ``({layer: count}, {layer: bool mask [units]}, {layer: variances [units]})``.
    """
    variances = {layer: np.var(np.asarray(m, dtype="float64"), axis=0) for layer, m in means.items()}
    masks = {layer: v > threshold for layer, v in variances.items()}
    return {layer: int(m.sum()) for layer, m in masks.items()}, masks, variances


class ActiveUnits(keras.callbacks.Callback):
    """Logs ``active_units_{layer}`` (see :func:`active_units`) every ``every`` epochs and at the end.

    ``posterior_means(model, x) -> {layer: [batch, units]}`` gives ``E_q[u | x]`` for a batch;
    ``x`` is an array of examples (Burda et al.'s code uses the first 500 training examples).
    """

    def __init__(self, x: np.ndarray,
                 posterior_means: Callable[[keras.Model, np.ndarray], dict[str, np.ndarray]],
                 every: int | None = None, threshold: float = 0.01, metrics_dir: str | None = None,
                 batch_size: int = 500):
        super().__init__()
        self.x, self.posterior_means, self.every = np.asarray(x), posterior_means, every
        self.threshold, self.metrics_dir, self.batch_size = threshold, metrics_dir, batch_size

    def measure(self) -> tuple[dict[str, int], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """:func:`active_units` of the model now, over ``x``."""
        parts = [self.posterior_means(self.model, self.x[i:i + self.batch_size])
                 for i in range(0, len(self.x), self.batch_size)]
        means = {layer: np.concatenate([np.asarray(p[layer]) for p in parts]) for layer in parts[0]}
        return active_units(means, self.threshold)

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == self.params.get("epochs")
        if not (last or (self.every and (epoch + 1) % self.every == 0)):
            return
        counts, _, _ = self.measure()
        values = {f"active_units_{layer}": count for layer, count in counts.items()}
        if logs is not None:
            logs.update(values)
        if self.metrics_dir:
            runs.update_metrics(self.metrics_dir, active_units=counts, active_units_epoch=epoch + 1)


class KLWarmup(keras.callbacks.Callback):
    """KL warm-up: the model's ``kl_weight`` rises linearly from 0 to 1 over ``epochs`` epochs.

    ``beta = min(1, (epoch + batch / steps) / epochs)`` is set before every training batch (per
    epoch when the steps per epoch are unknown) and logged as ``kl_weight`` (its value in the
    epoch's last batch). The trained bound reads ``log p(x | z) + beta (log p(z) - log q(z | x))``
    (:meth:`tfgen.model.LatentVariableModel.warmed_log_w`); logged bounds and evaluation use
    ``beta = 1``. The weight is a function of the epoch and batch, so resumed runs continue the
    ramp exactly. Sonderby et al. (2016), "Ladder Variational Autoencoders"; Mohamed's tutorial
    ("Building Machines that Imagine and Reason", 2016) quotes "temperature on the
    KL-divergence going from 0 to 1 within the first 200 epochs".

    Raises ``ValueError`` (when set on a model) if ``epochs < 1`` or if the model's trained
    objective does not read ``kl_weight`` (FIVO, the constrained models).
    """

    def __init__(self, epochs):
        super().__init__()
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"KL warm-up lasts >= 1 epochs, got {epochs!r}.")
        self.epochs, self.epoch, self.value = epochs, 0, 1.0

    def set_model(self, model):
        from tfgen.model import LatentVariableModel

        cls = type(model)
        if not isinstance(model, LatentVariableModel) or cls.objective is not LatentVariableModel.objective \
                or cls.bound_of is not LatentVariableModel.bound_of:
            raise ValueError(f"{cls.__name__} trains an objective that does not read the KL weight; "
                             "KL warm-up applies to models training a bound of their log weights.")
        super().set_model(model)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        steps = self.params.get("steps") or 0
        progress = self.epoch + (batch / steps if steps else 0.0)
        self.value = min(1.0, progress / self.epochs)
        self.model.kl_weight.assign(self.value)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["kl_weight"] = self.value

    def on_train_end(self, logs=None):
        self.model.kl_weight.assign(1.0)
