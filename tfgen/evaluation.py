"""Multi-sample estimates of ``log p(x)`` with bounded memory.

``log p(x) ~= log (1/k) sum_{i=1..k} w_i`` (the IWAE bound, Burda et al. 2016, eq. 8; the
paper evaluates with k = 5000). The k samples are drawn in chunks and folded into a running
log-sum-exp, so memory grows with the chunk (``max_rows`` rows of the decoder at once), not
with k. Chunks are folded in float64: with log-weights near -1e4 a float32 running sum loses
about 1e-3 nats per fold, which adds up over thousands of chunks.

Models that split ``log_weights`` into ``encode(x)`` (the sample-independent part) and
``log_weights_from(x, encoded, k, ...)`` have the encoder run once per batch instead of once
per chunk; other models are scored through ``log_weights`` alone.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tfgen import data_checks, objectives


def log_likelihood(model: keras.Model, data: tf.data.Dataset | np.ndarray, k: int = 5000,
                   max_rows: int = 32768, verbose: int = 1,
                   seed: int | keras.random.SeedGenerator | None = None) -> np.ndarray:
    """Per-example ``log p(x)`` estimates (nats) with ``k`` importance samples.

    Args:
        model: a :class:`tfgen.model.LatentVariableModel`.
        data: a ``tf.data.Dataset`` of batches (``x`` or ``(x, ...)``) or an array.
        k: importance samples per example.
        max_rows: at most this many ``(sample, example)`` pairs are scored at once.
        verbose: show a Keras progress bar over batches.
        seed: an int (the same samples at every call) or a ``keras.random.SeedGenerator``
            for the samples; by default the model's own generator (which then advances, as
            in training).

    Returns:
        float64 array ``[n]``; its mean is the test log-likelihood.
    """
    return LogLikelihood(model, k, max_rows, seed)(data, verbose)


class LogLikelihood:
    """:func:`log_likelihood` as a reusable estimator: traced once per batch shape, not per call.

    Callbacks that evaluate every epoch hold one, so the graph is built once. With an int
    ``seed`` every call starts its generator from that seed again, so repeated calls on the
    same model and data give the same estimate.
    """

    def __init__(self, model: keras.Model, k: int = 5000, max_rows: int = 32768,
                 seed: int | keras.random.SeedGenerator | None = None):
        self.model, self.k, self.max_rows = model, objectives.check_k(k), max_rows
        self.seed = keras.random.SeedGenerator(seed) if isinstance(seed, int) else seed
        self.initial_state = self.seed.state.numpy() if isinstance(seed, int) else None
        self.batch_estimate = tf.function(self._batch_estimate)  # retraced per batch size

    def _batch_estimate(self, x):
        model, k, seed = self.model, self.k, self.seed
        x = model.checked_batch(x)
        batch = tf.nest.flatten(x)[0].shape[0]  # x may be a structure, e.g. frames and a mask
        chunk = max(1, min(k, self.max_rows // max(1, int(batch or 1))))
        n_full, rest = divmod(k, chunk)

        if hasattr(model, "encode"):  # the encoder pass is shared by every chunk of samples
            encoded = model.encode(x)

            def log_w(size):
                return model.log_weights_from(x, encoded, size, seed=seed).log_w
        else:
            def log_w(size):
                return model.log_weights(x, size, seed=seed).log_w

        def fold(total, size):
            lse = tf.cast(tf.reduce_logsumexp(log_w(size), axis=0), "float64")
            return lse if total is None else tf.reduce_logsumexp(tf.stack([total, lse]), axis=0)

        total = fold(None, chunk)
        # One chunk in flight: its matmuls already use every core, and overlapping chunks
        # (the default 10 parallel iterations) multiplies the memory, not the speed.
        _, total = tf.while_loop(
            lambda i, t: i < n_full, lambda i, t: (i + 1, fold(t, chunk)), (tf.constant(1), total),
            parallel_iterations=1,
        )
        if rest:
            total = fold(total, rest)
        return total - tf.constant(math.log(k), "float64")

    def __call__(self, data: tf.data.Dataset | np.ndarray, verbose: int = 1) -> np.ndarray:
        """Per-example estimates (float64 ``[n]``) on ``data`` (a dataset of batches or an array);
        every batch is checked as in training (:mod:`tfgen.data_checks`)."""
        with data_checks.data_errors():
            return self._estimates(data, verbose)

    def _estimates(self, data, verbose):
        if not isinstance(data, tf.data.Dataset):
            data = tf.data.Dataset.from_tensor_slices(np.asarray(data)).batch(100)
        self.model.check_data(data)
        if self.initial_state is not None:
            self.seed.state.assign(self.initial_state)
        batches = data.cardinality().numpy()
        progress = keras.utils.Progbar(batches if batches > 0 else None, verbose=verbose,
                                       stateful_metrics=["log_likelihood"])
        estimates = []
        for step, batch in enumerate(data):
            x = batch[0] if isinstance(batch, tuple) else batch
            estimates.append(self.batch_estimate(x).numpy().astype("float64"))
            running = float(np.mean(np.concatenate(estimates)))
            progress.update(step + 1, [("log_likelihood", running)])
        return np.concatenate(estimates)
