"""Bounds on ``log p(x)`` as functions of log importance weights, and the pathwise estimators.

``log_w[k, b] = log p(x_b, z_kb) - log q(z_kb | x_b)`` with ``z_kb ~ q(z | x_b)``.
Every bound maps ``[k, batch]`` to ``[batch]``:

* ELBO / VAE_K (Kingma & Welling 2014; Burda et al. 2016, eq. 3):
  ``(1/k) sum_k log_w`` - the average of k single-sample ELBOs; with k = 1 it is the
  usual one-sample ELBO estimate, so ``"elbo"`` and ``"vae"`` name the same bound.
* IWAE (Burda et al. 2016, eq. 8): ``log (1/k) sum_k exp(log_w)`` - tighter as k grows,
  ``ELBO <= IWAE_k <= IWAE_{k+1} <= log p(x)``.
* Renyi (Li & Turner 2016, "Renyi Divergence Variational Inference", eq. 9 with k samples):
  ``L_alpha = 1/(1 - alpha) log (1/k) sum_k exp((1 - alpha) log_w)``. ``alpha -> 1`` gives
  the ELBO, ``alpha = 0`` the IWAE bound and ``alpha -> -inf`` ``max_k log_w``; it is
  non-increasing in ``alpha`` and, for ``alpha >= 0``, a lower bound on ``log p(x)`` in
  expectation. Mohamed's tutorial ("Building Machines that Imagine and Reason", 2016) lists it
  with the multi-sample objective.

Each bound is a weighted combination of the per-sample gradients: ``d L / d log_w_k`` is the
normalised weight of :func:`bound_weights`, ``w_k^(1-alpha) / sum_j w_j^(1-alpha)``
(``1/k`` for the ELBO), which the doubly reparameterised estimator reads
(:mod:`tfgen.estimators`).

Gradient estimators built by where ``stop_gradient`` sits when ``log q`` is evaluated (see
:func:`variational_parameters`; the others are in :mod:`tfgen.estimators`):

* ``"total"``: plain reparameterisation; the total derivative through ``z`` and through the
  variational parameters inside ``log q``.
* ``"path"``: the path derivative of Roeder, Wu & Duvenaud (2017), "Sticking the Landing":
  the variational parameters inside ``log q(z | x)`` are held constant, so only the path
  through ``z = mu + sigma * eps`` carries gradient. When ``q`` equals the true posterior
  the gradient is exactly zero for every sample. ``"dreg"`` evaluates ``log q`` the same way.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import tensorflow as tf

from tfgen.config import ALL_ESTIMATORS, check_k  # noqa: F401  (re-exported: one definition each)

# The bound names a model takes; "renyi" reads the model's alpha.
BOUND_ALPHAS = {"elbo": 1.0, "vae": 1.0, "iwae": 0.0}


def elbo(log_w: tf.Tensor) -> tf.Tensor:
    """ELBO (= VAE_K): ``mean_k log_w``, shape ``[batch]``."""
    return tf.reduce_mean(log_w, axis=0)


def iwae(log_w: tf.Tensor) -> tf.Tensor:
    """IWAE bound: ``logsumexp_k(log_w) - log k``, shape ``[batch]``."""
    k = tf.cast(tf.shape(log_w)[0], log_w.dtype)
    return tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(k)


def renyi(log_w: tf.Tensor, alpha: float) -> tf.Tensor:
    """Renyi bound ``1/(1 - alpha) log mean_k exp((1 - alpha) log_w)``, shape ``[batch]``.

    Computed in float64 around the mean of ``log_w`` (a log-sum-exp of the centred weights), so
    ``alpha`` near 1 loses no precision to cancellation: the result approaches the ELBO
    continuously, ``L_alpha - ELBO ~ (1 - alpha) Var_k(log_w) / 2``. ``alpha = 1`` is the ELBO,
    ``alpha = -inf`` ``max_k log_w``; gradients flow for every ``alpha``.

    Args:
        log_w: ``[k, batch]`` log weights.
        alpha: a float (``-inf`` allowed); Li & Turner (2016) train with ``alpha`` in
            ``[0, 1]`` (and ``alpha = -inf``, their "VR-max").

    Raises:
        ValueError: ``alpha`` is NaN or ``+inf``.
    """
    alpha = float(alpha)
    if math.isnan(alpha) or alpha == math.inf:
        raise ValueError(f"The Renyi bound needs alpha < inf, got {alpha}.")
    if alpha == 1.0:
        return elbo(log_w)
    if alpha == -math.inf:
        return tf.reduce_max(log_w, axis=0)
    w = tf.cast(log_w, "float64")
    mean = tf.reduce_mean(w, axis=0)
    scale = 1.0 - alpha
    lme = tf.reduce_logsumexp(scale * (w - mean), axis=0) - tf.math.log(tf.cast(tf.shape(w)[0], "float64"))
    return tf.cast(mean + lme / scale, log_w.dtype)


def bound_weights(log_w: tf.Tensor, alpha: float) -> tf.Tensor:
    """``d L_alpha / d log_w``: the normalised weights ``softmax_k((1 - alpha) log_w)``, ``[k, batch]``
    (uniform ``1/k`` for the ELBO, ``alpha = 1``; one-hot on the largest weight for ``-inf``)."""
    if alpha == 1.0:
        return tf.ones_like(log_w) / tf.cast(tf.shape(log_w)[0], log_w.dtype)
    if alpha == -math.inf:
        return tf.one_hot(tf.argmax(log_w, axis=0), tf.shape(log_w)[0], axis=0, dtype=log_w.dtype)
    w = tf.cast(log_w, "float64")  # as renyi(): (1 - alpha) log_w can be large
    return tf.cast(tf.nn.softmax((1.0 - alpha) * (w - tf.reduce_max(w, axis=0)), axis=0), log_w.dtype)


def bound_alpha(name: str, alpha: float | None = None) -> float:
    """The Renyi ``alpha`` a bound is: 1 for the ELBO, 0 for IWAE, ``alpha`` for ``"renyi"``."""
    return float(alpha) if name == "renyi" else BOUND_ALPHAS[name]


def get_bound(name: str, alpha: float | None = None) -> Callable[[tf.Tensor], tf.Tensor]:
    """The bound function ``log_w [k, batch] -> [batch]`` named ``name``.

    ``name`` is one of ``"elbo"``, ``"vae"``, ``"iwae"``, ``"renyi"``; ``"renyi"`` needs ``alpha``.
    Raises ``ValueError`` for other names or a missing ``alpha``.
    """
    if name == "renyi":
        if alpha is None:
            raise ValueError("The Renyi bound needs alpha (e.g. 0.5; 1 gives the ELBO, 0 the IWAE bound).")
        renyi(tf.zeros([1, 1]), alpha)  # validates alpha
        return functools.partial(renyi, alpha=float(alpha))
    if name not in BOUND_ALPHAS:
        raise ValueError(f"Unknown objective {name!r}; choose one of {sorted([*BOUND_ALPHAS, 'renyi'])}.")
    return {"elbo": elbo, "vae": elbo, "iwae": iwae}[name]


def check_estimator(name: str) -> str:
    """``name`` if it is a gradient estimator of :data:`ALL_ESTIMATORS`; ``ValueError`` otherwise."""
    if name not in ALL_ESTIMATORS:
        raise ValueError(f"Unknown gradient estimator {name!r}; choose one of {list(ALL_ESTIMATORS)}.")
    return name


def variational_parameters(params: Sequence[tf.Tensor], estimator: str) -> tuple[tf.Tensor, ...]:
    """The variational parameters as ``log q`` should see them under ``estimator``.

    ``"path"`` and ``"dreg"`` stop their gradient (Roeder et al. 2017; Tucker et al. 2018);
    every other estimator returns them unchanged. Use the result only inside ``log q(z | x)``;
    ``z`` itself is always drawn with the live parameters (see :func:`samples` for the
    estimators that stop ``z``).
    """
    if check_estimator(estimator) in ("path", "dreg"):
        return tuple(tf.stop_gradient(p) for p in params)
    return tuple(params)


def samples(z, estimator):
    """A reparameterised sample ``z`` as ``estimator`` differentiates it: stopped for the
    score-function estimators (their gradient comes from ``log q``, :mod:`tfgen.estimators`),
    unchanged for the pathwise ones."""
    from tfgen.config import SCORE_FUNCTION

    return tf.stop_gradient(z) if check_estimator(estimator) in SCORE_FUNCTION else z
