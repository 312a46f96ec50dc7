"""Keras callbacks for latent-variable models, and the pieces that make runs resumable.

* :class:`TrainingCheckpoint` writes the whole training state (weights, optimizer slots,
  epoch, the model's sampling-noise state) after every schedule stage and every N epochs.
* :func:`epoch_batches` yields the training batches of epoch ``e`` as a pure function of
  ``(seed, e)``, so a run resumed at epoch ``e`` sees exactly the batches an uninterrupted
  run would.

Together they make "kill, resume" give the same weights as never stopping.
"""
import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tfgen import evaluation, runs


def epoch_batches(x, batch_size, seed, first_epoch, epochs, dynamic_binarization=False):
    """Shuffled batches of ``x`` for epochs ``first_epoch .. epochs - 1``, epoch after epoch.

    Epoch ``e``'s order is ``argsort(U)`` with ``U`` stateless-uniform seeded by
    ``(seed, e)``; with ``dynamic_binarization`` (``x`` in ``[0, 1]``) each batch is a fresh
    Bernoulli(x) draw seeded by ``(seed, e, step)`` (Burda et al.'s random binarisation).
    Pass ``steps_per_epoch = ceil(len(x) / batch_size)`` to ``fit``.
    """
    x = np.asarray(x)
    n = len(x)
    if n < 1 or batch_size < 1:
        raise ValueError(f"Need data and batch_size >= 1, got {n} rows and batch_size={batch_size}.")
    steps = math.ceil(n / batch_size)
    table = tf.constant(x)

    def one_epoch(epoch):
        order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([seed, epoch])))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        steps_ds = tf.data.Dataset.range(steps)
        return tf.data.Dataset.zip(batches, steps_ds).map(lambda idx, step: (idx, epoch * steps + step))

    def gather(idx, step):
        batch = tf.cast(tf.gather(table, idx), "float32")
        if dynamic_binarization:
            u = tf.random.stateless_uniform(tf.shape(batch), seed=tf.stack([seed + 1, step]))
            batch = tf.cast(u < batch, "float32")
        return batch

    ds = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch).map(gather)
    return ds.prefetch(tf.data.AUTOTUNE), steps


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves the full training state into ``directory`` while ``fit`` runs.

    Files: ``stage{c}.keras`` + ``stage{c}.json`` when epoch ``schedule.boundaries[c]`` ends
    (``c`` stages done, numbered as Burda et al.'s ``training_state{c}``), and
    ``latest.keras`` + ``latest.json`` every ``every`` epochs and at every stage end.
    The ``.keras`` file holds the model and its optimizer (slots and iteration count); the
    JSON holds the epochs done, the model's ``seed_generator`` state and ``train_seconds``,
    the wall time of the training that produced it (``seconds_before``, the checkpoint's own
    figure when a run is resumed, plus this ``fit``). Put this callback after callbacks that
    draw from the model's generator so the state saved is the state the next epoch starts from.
    """

    def __init__(self, directory, schedule=None, every=None, seconds_before=0.0):
        super().__init__()
        if every is not None and every < 1:
            raise ValueError(f"Checkpoint every >= 1 epochs, got {every!r}.")
        self.directory, self.schedule, self.every = directory, schedule, every
        self.seconds_before, self.start = seconds_before, None
        os.makedirs(directory, exist_ok=True)

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        seconds = self.seconds_before + time.time() - self.start
        boundaries = self.schedule.boundaries if self.schedule is not None else []
        if done in boundaries:
            save_checkpoint(self.model, self.directory, f"stage{boundaries.index(done)}", done, seconds)
        if done in boundaries or (self.every and done % self.every == 0):
            save_checkpoint(self.model, self.directory, "latest", done, seconds)


def save_checkpoint(model, directory, name, epochs_done, train_seconds=0.0):
    """Write ``directory/name.keras`` (model + optimizer) and ``name.json`` (epoch, RNG state, time)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    model.save(path + ".keras.tmp.keras")
    os.replace(path + ".keras.tmp.keras", path + ".keras")
    state = {"epoch": int(epochs_done), "train_seconds": round(float(train_seconds), 1)}
    if hasattr(model, "seed_generator"):
        state["seed_generator_state"] = model.seed_generator.state.numpy().tolist()
    with open(path + ".json.tmp", "w") as f:
        json.dump(state, f)
    os.replace(path + ".json.tmp", path + ".json")


def load_checkpoint(directory, name):
    """``(model, state)`` from :func:`save_checkpoint`: the model compiled with its optimizer
    state, and ``state = {"epoch": epochs done, "train_seconds": wall time so far, ...}``
    (``train_seconds`` is 0 for checkpoints written before it was recorded)."""
    path = os.path.join(directory, name)
    if not (os.path.exists(path + ".keras") and os.path.exists(path + ".json")):
        raise FileNotFoundError(f"No checkpoint {name!r} in {directory} ({path}.keras / .json missing).")
    model = keras.saving.load_model(path + ".keras")
    with open(path + ".json") as f:
        state = json.load(f)
    if "seed_generator_state" in state:
        model.seed_generator.state.assign(np.asarray(state["seed_generator_state"],
                                                     dtype=model.seed_generator.state.dtype))
    state.setdefault("train_seconds", 0.0)
    return model, state


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

    def __init__(self, data, k=5000, every=None, name="test", seed=0, metrics_dir=None, verbose=0,
                 max_rows=8192):
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

    def evaluate(self):
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


def active_units(means, threshold=0.01):
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

    def __init__(self, x, posterior_means, every=None, threshold=0.01, metrics_dir=None, batch_size=500):
        super().__init__()
        self.x, self.posterior_means, self.every = np.asarray(x), posterior_means, every
        self.threshold, self.metrics_dir, self.batch_size = threshold, metrics_dir, batch_size

    def measure(self):
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


def remove_units(head, inactive, consumers=(), prior=None):
    """Delete the units ``inactive`` (bool mask) of a Gaussian stochastic layer, in place.

    Deleting unit u (as Burda et al.'s code does after training) is done without
    reshaping: ``q(z_u | .)`` (``head``) and, for a non-top layer, ``p(z_u | .)`` (``prior``)
    become exactly ``N(0, 1)`` (zero loc and log-scale weights), so ``log p - log q`` of the
    unit is 0 for every sample, and every ``consumer`` (a Dense layer fed by the z's)
    gets a zero input row for u, so nothing downstream sees it. For a top layer the prior
    already is ``N(0, I)``.
    """
    inactive = np.asarray(inactive, dtype=bool)
    for gaussian in (head, prior):
        if gaussian is None:
            continue
        for dense in gaussian.heads.values():
            kernel, bias = dense.kernel.numpy(), dense.bias.numpy()
            kernel[:, inactive], bias[inactive] = 0.0, 0.0
            dense.kernel.assign(kernel)
            dense.bias.assign(bias)
    for dense in consumers:
        kernel = dense.kernel.numpy()
        kernel[inactive, :] = 0.0
        dense.kernel.assign(kernel)


class TimeBudget(keras.callbacks.Callback):
    """Stop ``fit`` once ``minutes`` of wall time have passed since it began.

    Checked after every batch (``at="batch"``) or only at epoch ends (``at="epoch"``, so the
    last epoch is always complete, e.g. for per-epoch checkpoints).
    """

    def __init__(self, minutes, at="batch"):
        super().__init__()
        if at not in ("batch", "epoch"):
            raise ValueError(f"at must be 'batch' or 'epoch', got {at!r}.")
        self.seconds = 60.0 * minutes
        self.at = at

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def _check(self):
        if time.time() - self.start > self.seconds:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if self.at == "batch":
            self._check()

    def on_epoch_end(self, epoch, logs=None):
        if self.at == "epoch":
            self._check()
