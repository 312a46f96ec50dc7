"""The sigmoid belief network with an amortised binary posterior (the tutorial's latent binary VAE).

Generative model, top down: ``p(h_L) = prod_i Bern(sigmoid(b_i))`` (learned logits ``b``),
``p(h_l | h_{l+1})`` a layer of :class:`tfgen.layers.BernoulliLatent` on ``h_{l+1}``, and the
likelihood ``p(x | h_1)`` through the decoder network. Inference network, bottom up:
``q(h_1 | x)`` on the encoder network's features and ``q(h_{l+1} | h_l)``. Samples are binary,
so the gradient of ``q``'s parameters comes from a score-function estimator (or the Taylor and
Concrete estimators that ride on the samples; :mod:`tfgen.estimators`), chosen by
``estimator``.
"""
import keras
import tensorflow as tf

from tfgen import layers
from tfgen.image_model import ImageModel
from tfgen.model import LatentVariableModel, LogWeights
from zoo.sbn.configs import CONFIGS, SBNConfig


@keras.saving.register_keras_serializable(package="zoo")
class SBN(ImageModel, LatentVariableModel):
    """Sigmoid belief network with ``layers`` layers of binary units and its inference network.

    ``log_w = log p(x | h_1) + sum_l log p(h_l | h_{l+1}) - sum_l log q(h_l | h_{l-1})``
    (``[k, batch]``; ``h_0 = x``). Keyword arguments are the fields of
    :class:`zoo.sbn.configs.SBNConfig`; ``SBN.from_config_name("vimco200")`` starts from a named
    configuration.

    With ``estimator="concrete"`` training reads the binary Concrete relaxation (logits
    ``y_l``, ``h_l = sigmoid(y_l)``, densities of ``y`` under the relaxed ``q`` and ``p``:
    Maddison, Mnih & Teh 2017, sec. 3.3), a different and biased objective; evaluation
    (``training=False``) always scores the binary model.

    Inputs: ``[batch, h*w*c]`` or ``[batch, h, w, c]`` (``config.image_shape``), binary for the
    Bernoulli likelihood. Raises ``ValueError`` for other shapes or values, and for bad
    hyper-parameters at construction.
    """

    config_class = SBNConfig
    configs = CONFIGS

    def __init__(self, name="sbn", **fields):
        config, keras_kwargs = self.configure(fields)
        self.config = c = config
        names = [f"h{i + 1}" for i in range(c.layers)]
        super().__init__(names, k=c.k, bound=c.objective, estimator=c.estimator, seed=c.seed, alpha=c.alpha,
                         baseline_hidden=c.baseline_hidden, name=name, **keras_kwargs)
        self.make_blocks(c.hidden[0], tuple(reversed(c.hidden[0])))
        self.posteriors = [layers.BernoulliLatent(c.latent[0], name=f"q_{names[0]}")] + [
            layers.BernoulliLatent(c.latent[i], c.hidden[i], c.activation, name=f"q_{names[i]}")
            for i in range(1, c.layers)
        ]
        self.priors = [
            layers.BernoulliLatent(c.latent[i], c.hidden[i + 1], c.activation, name=f"p_{names[i]}")
            for i in range(c.layers - 1)
        ]

    def build(self, input_shape=None):
        c = self.config
        features = self.build_blocks(c.latent[0])
        inputs = (None, features)
        for layer, units in zip(self.posteriors, c.latent):
            layers.build_once(layer, inputs)
            inputs = (None, units)
        for i, layer in enumerate(self.priors):
            layers.build_once(layer, (None, c.latent[i + 1]))
        if not hasattr(self, "prior_logits"):
            self.prior_logits = self.add_weight(shape=(c.latent[-1],), initializer="zeros",
                                                name="prior_logits")
        self.built = True

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        return self.log_weights_from(x, self.encode(x), k, estimator, seed, training)

    def encode(self, x):
        """The encoder network's features of ``x``, ``[batch, features]``: the part of
        :meth:`log_weights` that does not depend on the samples (see
        :func:`tfgen.evaluation.log_likelihood`)."""
        return self.encoder(self.flat(x))

    def log_weights_from(self, x, encoded, k, estimator="total", seed=None, training=False):
        """:meth:`log_weights` given ``encoded = self.encode(x)``."""
        seed = self.seed_stream(seed)
        relaxed = estimator == "concrete" and training
        tau = self.config.temperature
        x = self.flat(x)
        log_qz, log_pz, units, values = {}, {}, [], []  # units: h_l fed on; values: h_l or y_l scored
        inputs = encoded
        for i, (name, q) in enumerate(zip(self.latent_names, self.posteriors)):
            (logits,) = q(inputs)
            if relaxed:
                y = q.relaxed_sample(logits, seed, tau, k=k if i == 0 else None)
                log_qz[name], h = q.relaxed_log_prob(y, logits, tau), tf.sigmoid(y)
            else:
                y = h = q.sample(logits, seed, k=k if i == 0 else None, estimator=estimator)
                log_qz[name] = q.log_prob(h, logits)
            units.append(h)
            values.append(y)
            inputs = h
        prior_logits = [p(h)[0] for p, h in zip(self.priors, units[1:])]
        prior_logits.append(tf.broadcast_to(self.prior_logits, tf.shape(values[-1])))
        for name, value, logits in zip(self.latent_names, values, prior_logits):
            log_pz[name] = (layers.BernoulliLatent.relaxed_log_prob(value, logits, tau) if relaxed
                            else layers.BernoulliLatent.log_prob(value, logits))
        log_px_z = self.log_likelihood(x, units[0])
        log_w = log_px_z + tf.add_n(list(log_pz.values())) - tf.add_n(list(log_qz.values()))
        return LogWeights(log_w, log_px_z, log_pz, log_qz)

    def sample(self, num, seed=None):
        """Means ``E[x | h_1]`` (``[num, h*w*c]``) of ``num`` ancestral samples from ``p(h)``."""
        seed = self.seed_stream(seed)
        if not self.built:
            self.build()
        logits = tf.broadcast_to(self.prior_logits, (num, self.config.latent[-1]))
        h = layers.BernoulliLatent.sample(logits, seed)
        for p in reversed(self.priors):
            h = p.sample(p(h)[0], seed)
        return self.mean_image(h)
