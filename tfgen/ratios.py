"""Density ratios by class-probability estimation: two-sample testing, the root of adversarial learning.

Pool samples of ``p`` (label 1) and ``q`` (label 0) and fit a classifier ``D(x) = sigmoid(h(x))``
by logistic regression. By Bayes' rule the optimal classifier gives the ratio

    p(x) / q(x) = [P(y=1 | x) / P(y=0 | x)] * [P(y=0) / P(y=1)],   so   log r(x) = h(x) + log(n_q / n_p)

(Sugiyama, Suzuki & Kanamori, "Density Ratio Estimation in Machine Learning", 2012, ch. 4; the
tutorial's "Bayesian two-sample testing": Mohamed, "Building Machines that Imagine and
Reason"). From it: ``E_p[log r] ~ KL(p || q)``, and the classifier's held-out accuracy is a
two-sample test statistic (0.5 when ``p = q``; Lopez-Paz & Oquab, "Revisiting Classifier
Two-Sample Tests", ICLR 2017). A GAN (:mod:`zoo.gan`) trains the generator against this same
classifier.
"""
import keras
import numpy as np
import tensorflow as tf

from tfgen import backend, layers, optimizers  # noqa: F401  (backend: checks the Keras backend)


@keras.saving.register_keras_serializable(package="tfgen")
class RatioEstimator(keras.Model):
    """A classifier ``h(x)`` (logit of ``P(y = 1 | x)``) whose calibrated output is ``log p(x)/q(x)``.

    Args:
        hidden: hidden units of the MLP ``h``.
        activation: its activation.
        prior_log_odds: ``log(n_p / n_q)`` of the training samples, subtracted by
            :meth:`log_ratio` (set by :func:`fit_ratio`).

    ``call(x) -> h(x)`` ``[batch]``; compile with ``keras.losses.BinaryCrossentropy(from_logits=True)``
    and fit on ``(x, y)`` with ``y = 1`` for samples of ``p``.
    """

    def __init__(self, hidden=(64, 64), activation="relu", prior_log_odds=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.activation = tuple(int(h) for h in hidden), activation
        self.prior_log_odds = float(prior_log_odds)
        self.trunk = layers.MLP(self.hidden, activation, name="trunk")
        self.logit = keras.layers.Dense(1, name="logit")

    def call(self, x):
        x = tf.reshape(tf.cast(x, "float32"), [-1, int(np.prod(x.shape[1:]))])
        return self.logit(self.trunk(x))[:, 0]

    def log_ratio(self, x, batch_size=1000):
        """``log p(x) / q(x)`` estimated at ``x`` (``[n, ...]``): ``[n]`` NumPy, nats."""
        x = np.asarray(x, "float32")
        logits = np.concatenate([self(x[i:i + batch_size]).numpy() for i in range(0, len(x), batch_size)])
        return logits - self.prior_log_odds

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "activation": self.activation,
                "prior_log_odds": self.prior_log_odds}


def fit_ratio(samples_p, samples_q, hidden=(64, 64), activation="relu", epochs=20, batch_size=256,
              learning_rate=1e-3, seed=0, verbose=0):
    """A :class:`RatioEstimator` of ``log p / q`` fitted to ``samples_p [n_p, ...]`` and ``samples_q``.

    Logistic regression (Adam) for ``epochs`` over the shuffled pool; ``verbose`` is Keras'.
    Raises ``ValueError`` when the samples differ in shape or either is empty.
    """
    p, q = np.asarray(samples_p, "float32"), np.asarray(samples_q, "float32")
    if len(p) < 1 or len(q) < 1 or p.shape[1:] != q.shape[1:]:
        raise ValueError(f"Need samples of the same shape from both distributions, got {p.shape} and "
                         f"{q.shape}.")
    keras.utils.set_random_seed(seed)
    estimator = RatioEstimator(hidden, activation, prior_log_odds=np.log(len(p) / len(q)))
    estimator.compile(optimizer=optimizers.Adam(learning_rate),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    x = np.concatenate([p, q])
    y = np.concatenate([np.ones(len(p)), np.zeros(len(q))]).astype("float32")
    estimator.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    return estimator


def two_sample_test(samples_p, samples_q, held_out=0.5, seed=0, **fit_kwargs):
    """The classifier two-sample test of ``p`` and ``q`` from their samples.

    A :func:`fit_ratio` classifier trained on ``1 - held_out`` of each sample is scored on the
    rest. Returns ``{"accuracy": held-out accuracy (0.5: indistinguishable), "kl": the mean
    estimated log r over held-out samples of p (an estimate of KL(p || q), nats), "estimator"}``.
    """
    rng = np.random.default_rng(seed)
    p, q = np.asarray(samples_p, "float32"), np.asarray(samples_q, "float32")
    p, q = p[rng.permutation(len(p))], q[rng.permutation(len(q))]
    cut_p, cut_q = int(len(p) * (1 - held_out)), int(len(q) * (1 - held_out))
    estimator = fit_ratio(p[:cut_p], q[:cut_q], seed=seed, **fit_kwargs)
    test_p, test_q = estimator.log_ratio(p[cut_p:]), estimator.log_ratio(q[cut_q:])
    correct = np.concatenate([test_p + estimator.prior_log_odds > 0, test_q + estimator.prior_log_odds <= 0])
    return {"accuracy": float(correct.mean()), "kl": float(test_p.mean()), "estimator": estimator}
