"""Bounds on ``log p(x)`` and gradient estimators, as functions of log importance weights.

``log_w[k, b] = log p(x_b, z_kb) - log q(z_kb | x_b)`` with ``z_kb ~ q(z | x_b)``.
Every bound maps ``[k, batch]`` to ``[batch]``:

* ELBO / VAE_K (Kingma & Welling 2014; Burda et al. 2016, eq. 3):
  ``(1/k) sum_k log_w`` - the average of k single-sample ELBOs; with k = 1 it is the
  usual one-sample ELBO estimate, so ``"elbo"`` and ``"vae"`` name the same bound.
* IWAE (Burda et al. 2016, eq. 8): ``log (1/k) sum_k exp(log_w)`` - tighter as k grows,
  ``ELBO <= IWAE_k <= IWAE_{k+1} <= log p(x)``.

Gradient estimators differ only in where ``stop_gradient`` sits when ``log q`` is evaluated
(see :func:`variational_parameters`):

* ``"total"``: plain reparameterisation; the total derivative through ``z`` and through the
  variational parameters inside ``log q``.
* ``"path"``: the path derivative of Roeder, Wu & Duvenaud (2017), "Sticking the Landing":
  the variational parameters inside ``log q(z | x)`` are held constant, so only the path
  through ``z = mu + sigma * eps`` carries gradient. When ``q`` equals the true posterior
  the gradient is exactly zero for every sample.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from tfgen.config import ESTIMATORS, check_k  # noqa: F401  (re-exported: one definition each)


def elbo(log_w: tf.Tensor) -> tf.Tensor:
    """ELBO (= VAE_K): ``mean_k log_w``, shape ``[batch]``."""
    return tf.reduce_mean(log_w, axis=0)


def iwae(log_w: tf.Tensor) -> tf.Tensor:
    """IWAE bound: ``logsumexp_k(log_w) - log k``, shape ``[batch]``."""
    k = tf.cast(tf.shape(log_w)[0], log_w.dtype)
    return tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(k)


BOUNDS = {"elbo": elbo, "vae": elbo, "iwae": iwae}


def get_bound(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """The bound function registered under ``name`` (one of :data:`BOUNDS`)."""
    if name not in BOUNDS:
        raise ValueError(f"Unknown objective {name!r}; choose one of {sorted(BOUNDS)}.")
    return BOUNDS[name]


def check_estimator(name: str) -> str:
    """``name`` if it is a gradient estimator of :data:`tfgen.config.ESTIMATORS`; ``ValueError`` otherwise."""
    if name not in ESTIMATORS:
        raise ValueError(f"Unknown gradient estimator {name!r}; choose one of {list(ESTIMATORS)}.")
    return name


def variational_parameters(params: Sequence[tf.Tensor], estimator: str) -> tuple[tf.Tensor, ...]:
    """The variational parameters as ``log q`` should see them under ``estimator``.

    ``"total"`` returns them unchanged; ``"path"`` stops their gradient (Roeder et al. 2017).
    Use the result only inside ``log q(z | x)``; ``z`` itself is always drawn with the live
    parameters.
    """
    if check_estimator(estimator) == "path":
        return tuple(tf.stop_gradient(p) for p in params)
    return tuple(params)
