"""Gradient estimators that need more than where ``stop_gradient`` sits: score functions with
control variates, and the doubly reparameterised estimator.

Every estimator here is a *surrogate*: a per-example term whose value is zero and whose
gradient is the estimator's, added to the bound a model maximises
(:meth:`tfgen.model.LatentVariableModel.estimator_terms`), so Keras' logged ``loss`` stays
``-bound``. Write ``L(log_w)`` for the bound of ``log_w [k, batch]`` (:mod:`tfgen.objectives`),
``w~_k = d L / d log_w_k`` for its normalised weights, and ``log q_k`` for the log-density of
sample ``k`` under the variational posterior (every stochastic layer).

* Score function (REINFORCE; Williams 1992; the likelihood-ratio estimator of Mohamed's tutorial,
  "Building Machines that Imagine and Reason", 2016): with the samples held fixed,
  ``grad E_q[L] = E_q[grad L + sum_k (l_k - b_k) grad log q_k]``; ``l_k = L`` is the learning
  signal and ``b_k`` any control variate independent of sample ``k``, so every ``b_k`` leaves the
  estimator unbiased (:func:`score_function`):

  ==================  ======================================================================
  ``reinforce``       ``b = 0``
  ``reinforce_ma``    ``b = c``, a moving average of ``L`` over batches (:class:`Baseline`)
  ``nvil``            ``b = c + b_psi(x)``, an input-dependent baseline network trained to
                      regress ``L - c``, the centred signal divided by ``max(1, sqrt(v))``
                      (a moving variance): Mnih & Gregor (2014), "Neural Variational
                      Inference and Learning in Belief Networks", sec. 3
  ``vimco``           leave-one-out ``l_k - b_k = L(log_w) - L(log_w with log_w_k replaced by
                      the mean of the others)``: Mnih & Rezende (2016), "Variational Inference
                      for Monte Carlo Objectives", eq. 9 (:func:`leave_one_out`); needs k >= 2
  ==================  ======================================================================

* ``taylor``: the first-order Taylor baseline of deep autoregressive networks that the
  tutorial shows (Gregor et al. 2014, "Deep AutoRegressive Networks", eq. 21-24): for a binary
  unit ``h_i``, ``b(h) = f(h) + f'(h) (1/2 - h_i)`` turns the score term into
  ``f'(h) (h_i - 1/2) grad log q(h_i)``, exact in expectation when ``f`` is quadratic in
  ``h_i`` and biased otherwise. It is wired into the sample itself
  (:meth:`tfgen.layers.BernoulliLatent.sample`).
* ``dreg``: doubly reparameterised (Tucker, Lawson, Gu & Maddison 2019, "Doubly Reparameterized
  Gradient Estimators for Monte Carlo Objectives", eq. 5): the generative parameters take the
  plain gradient of ``L``, the inference network's parameters the path derivative of every
  ``log_w_k`` weighted by ``alpha w~_k + (1 - alpha) w~_k^2`` (:func:`dreg_inference`; ``w~_k^2``
  for IWAE, ``alpha = 0``, uniform ``1/k`` for the ELBO, where it is the path derivative). The
  weights follow from the reparameterisation identity applied to the score term
  ``- w~_k grad log q_k`` of the Renyi bound; they need the two variable groups separated, which
  :meth:`tfgen.model.LatentVariableModel.train_step` does.

Which estimator is unbiased for which objective: see ``docs/estimators.md``.
"""
import keras
import tensorflow as tf

from tfgen import layers, objectives


def zero_valued(t):
    """``t - stop_gradient(t)``: zero, with the gradient of ``t``."""
    return t - tf.stop_gradient(t)


def score_function(log_q, signal):
    """``sum_k stop(signal_k) grad log q_k`` as a zero-valued surrogate, ``[batch]``.

    Args:
        log_q: ``[k, batch]`` log-densities of the (gradient-stopped) samples under ``q``, with
            the variational parameters live.
        signal: the centred learning signal ``l_k - b_k``, ``[k, batch]`` or ``[1, batch]``.
    """
    return tf.reduce_sum(tf.stop_gradient(signal) * zero_valued(log_q), axis=0)


def leave_one_out(log_w, bound):
    """VIMCO's per-sample learning signals ``L(log_w) - L(log_w^{-k})``, ``[k, batch]``.

    ``log_w^{-k}`` replaces ``log_w_k`` by the mean of the other ``k - 1`` log weights (the log
    of their geometric mean; Mnih & Rezende 2016, sec. 3.2), which does not depend on sample
    ``k``. For the ELBO the signal reduces to ``(log_w_k - mean_{j != k} log_w_j) / k``.

    Raises ``ValueError`` for ``k < 2`` (a static shape).
    """
    k = log_w.shape[0]
    if k is not None and k < 2:
        raise ValueError("VIMCO's leave-one-out baseline needs k >= 2 samples per example.")
    n = tf.shape(log_w)[0]
    others = (tf.reduce_sum(log_w, axis=0, keepdims=True) - log_w) / tf.cast(n - 1, log_w.dtype)
    eye = tf.eye(n, dtype=tf.bool)[:, :, None]  # [held-out j, sample i, 1]
    replaced = tf.where(eye, others[:, None], log_w[None])  # [j, i, batch]
    batch = tf.shape(log_w)[1]
    held_out = bound(tf.reshape(tf.transpose(replaced, [1, 0, 2]), [n, n * batch]))
    return bound(log_w)[None] - tf.reshape(held_out, [n, batch])


def dreg_inference(log_w, alpha):
    """The inference network's DReG surrogate ``sum_k stop(c_k) log_w_k`` (zero-valued), ``[batch]``.

    ``c_k = alpha w~_k + (1 - alpha) w~_k^2`` with ``w~`` the bound's normalised weights
    (:func:`tfgen.objectives.bound_weights`); ``log_w`` must hold ``log q`` with its parameters
    stopped (the ``"dreg"`` estimator does), so its gradient is the path derivative.
    """
    w = objectives.bound_weights(log_w, alpha)
    c = w if alpha == -float("inf") else alpha * w + (1.0 - alpha) * tf.square(w)
    return tf.reduce_sum(tf.stop_gradient(c) * zero_valued(log_w), axis=0)


@keras.saving.register_keras_serializable(package="tfgen")
class Baseline(keras.layers.Layer):
    """Control variates of ``reinforce_ma`` and ``nvil``: moving averages and NVIL's ``b_psi(x)``.

    With ``input_dependent=False`` (``reinforce_ma``) the centred signal is ``l - c``, ``c`` a
    moving average (``decay``) of the batch means of ``l``. With ``input_dependent=True``
    (``nvil``, Mnih & Gregor 2014, sec. 3.1-3.3) it is ``(l - b_psi(x) - c) / max(1, sqrt(v))``,
    ``c`` and ``v`` moving averages of the mean and variance of ``l - b_psi(x)``, and
    ``b_psi`` (a tanh MLP of ``hidden`` units, then one linear unit) is trained to minimise
    ``(l - c - b_psi(x))^2``. ``c`` and ``v`` are read before the batch updates them, so the
    baseline of a batch never depends on its own samples (exactly unbiased).

    Args:
        input_dependent: NVIL's learned ``b_psi(x)`` and variance normalisation.
        hidden: hidden units of ``b_psi`` (Mnih & Gregor use one tanh layer of 100).
        decay: of the moving averages.
    """

    def __init__(self, input_dependent=False, hidden=(100,), decay=0.9, **kwargs):
        super().__init__(**kwargs)
        self.input_dependent, self.hidden, self.decay = bool(input_dependent), tuple(hidden), float(decay)
        if self.input_dependent:
            self.network = layers.MLP(self.hidden, "tanh", name="network")
            self.head = keras.layers.Dense(1, name="head")

    def build(self, input_shape):
        self.mean = self.add_weight(shape=(), initializer="zeros", trainable=False, name="mean")
        self.variance = self.add_weight(shape=(), initializer="zeros", trainable=False, name="variance")
        if self.input_dependent:
            self.network.build(input_shape)
            self.head.build(self.network.compute_output_shape(input_shape))

    def call(self, x):
        """``b_psi(x)``, ``[batch]`` (zeros without ``input_dependent``)."""
        if not self.input_dependent:
            return tf.zeros(tf.shape(x)[:1], x.dtype)
        return self.head(self.network(x))[:, 0]

    def centre(self, signal, x, training=False):
        """``(centred signal [batch], regression loss [batch])`` for learning signals ``signal [batch]``
        of inputs ``x [batch, features]``; updates the moving averages when ``training``."""
        signal = tf.stop_gradient(signal)
        c, v = tf.convert_to_tensor(self.mean), tf.convert_to_tensor(self.variance)  # before the update
        learned = self(x)
        residual = signal - tf.stop_gradient(learned)
        centred = residual - c
        if self.input_dependent:
            centred = centred / tf.maximum(1.0, tf.sqrt(v))
        if training:
            mean, variance = tf.nn.moments(residual, axes=[0])
            self.mean.assign(self.decay * c + (1.0 - self.decay) * mean)
            self.variance.assign(self.decay * v + (1.0 - self.decay) * variance)
        return centred, tf.square(signal - c - learned)

    def get_config(self):
        return {**super().get_config(), "input_dependent": self.input_dependent, "hidden": self.hidden,
                "decay": self.decay}
