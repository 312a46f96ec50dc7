"""Sequential Monte Carlo pieces for filtering variational objectives (FIVO).

A particle filter with ``k`` particles per sequence keeps log-weights ``log_w[k, batch]``
accumulated since the last resampling. FIVO (Maddison et al. 2017, "Filtering Variational
Objectives", Alg. 1) estimates ``log p(x_{1:T})`` by

    log p_hat = sum_{resampling times r} log (1/k) sum_i exp(log_w_i^(r))
                + log (1/k) sum_i exp(log_w_i^(T)),

resampling (and resetting ``log_w`` to 0) only when the effective sample size
``ESS = (sum_i w_i)^2 / sum_i w_i^2`` falls below ``threshold * k``. ``E[p_hat] = p(x)``,
so ``E[log p_hat] <= log p(x)`` (Jensen). Never resampling gives the IWAE bound; ``k = 1``
gives the ELBO.

Resampling is multinomial and, as in the FIVO paper's default, its discrete draws carry no
gradient: the score-function term of the resampling is dropped.
"""
from __future__ import annotations

import tensorflow as tf


def log_mean_exp(log_w: tf.Tensor, axis: int = 0) -> tf.Tensor:
    """``log (1/k) sum_i exp(log_w_i)`` over ``axis`` (k its length)."""
    k = tf.cast(tf.shape(log_w)[axis], log_w.dtype)
    return tf.reduce_logsumexp(log_w, axis=axis) - tf.math.log(k)


def effective_sample_size(log_w: tf.Tensor) -> tf.Tensor:
    """``ESS = (sum_i w_i)^2 / sum_i w_i^2`` over the particle axis 0: ``[batch]``."""
    return tf.exp(2.0 * tf.reduce_logsumexp(log_w, axis=0) - tf.reduce_logsumexp(2.0 * log_w, axis=0))


def multinomial_ancestors(log_w: tf.Tensor, uniforms: tf.Tensor) -> tf.Tensor:
    """Ancestor indices ``[k, batch]`` drawn from ``softmax(log_w)`` over axis 0.

    ``uniforms`` ``[k, batch]`` in ``[0, 1)`` are inverted through the cumulative weights,
    so the draw is reproducible from the caller's noise.
    """
    k = tf.shape(log_w)[0]
    probs = tf.nn.softmax(tf.stop_gradient(log_w), axis=0)
    cdf = tf.transpose(tf.math.cumsum(probs, axis=0))  # [batch, k]
    ancestors = tf.searchsorted(cdf, tf.transpose(uniforms), side="right")
    return tf.transpose(tf.minimum(ancestors, k - 1))


def gather_particles(value: tf.Tensor, ancestors: tf.Tensor) -> tf.Tensor:
    """``value[a[i, b], b, ...]`` for a ``[k, batch, ...]`` tensor and ancestors ``[k, batch]``.

    One gather of rows ``a * batch + b`` of ``value`` flattened to ``[k * batch, ...]``: inside
    the filter's loop its gradient takes half the ops of ``tf.gather(..., batch_dims=1)`` between
    transposes (FIVO_4 training step 9% faster, docs/benchmarks.md).
    """
    batch = tf.shape(ancestors)[1]
    rows = tf.reshape(value, tf.concat([[-1], tf.shape(value)[2:]], 0))
    return tf.gather(rows, ancestors * batch + tf.range(batch)[None])


def resample_step(log_w: tf.Tensor, log_p_hat: tf.Tensor, uniforms: tf.Tensor, threshold: float | tf.Tensor,
                  active: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One FIVO resampling decision.

    Args:
        log_w: ``[k, batch]`` log-weights since the last resampling.
        log_p_hat: ``[batch]`` running estimate of ``log p``.
        uniforms: ``[k, batch]`` uniform noise for :func:`multinomial_ancestors`.
        threshold: resample rows whose ``ESS < threshold * k``; ``<= 0`` never resamples.
        active: optional ``[batch]`` bool, rows allowed to resample (e.g. not yet ended).

    Returns:
        ``(ancestors [k, batch], log_w, log_p_hat, resampled [batch] bool)`` where rows that
        resampled have ``log_p_hat += log_mean_exp(log_w)``, ``log_w = 0`` and multinomial
        ancestors; other rows keep their particles (identity ancestors).
    """
    k = tf.shape(log_w)[0]
    ess = effective_sample_size(tf.stop_gradient(log_w))
    resampled = ess < threshold * tf.cast(k, log_w.dtype)
    if active is not None:
        resampled = tf.logical_and(resampled, active)
    identity = tf.broadcast_to(tf.range(k)[:, None], tf.shape(log_w))
    ancestors = tf.where(resampled[None], multinomial_ancestors(log_w, uniforms), identity)
    log_p_hat = tf.where(resampled, log_p_hat + log_mean_exp(log_w), log_p_hat)
    log_w = tf.where(resampled[None], tf.zeros_like(log_w), log_w)
    return ancestors, log_w, log_p_hat, resampled
