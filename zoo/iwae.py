"""VAE and IWAE of Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (ICLR 2016).

Architecture (section 5): stochastic MLPs with tanh hidden units, diagonal-Gaussian
``q(z_l | z_{l-1})`` and ``p(z_l | z_{l+1})`` (``sigma = exp(.)``), ``p(z_L) = N(0, I)`` and
a Bernoulli ``p(x | z_1)`` whose bias starts at the logit of the training mean.

* 1 stochastic layer: ``784 - 200 - 200 - 50`` (encoder), mirrored in the decoder.
* 2 stochastic layers: ``784 - 200 - 200 - 100 - 100 - 100 - 50``, i.e. z1 has 100 units
  (hidden 200-200), z2 has 50 units (hidden 100-100).

The VAE and the IWAE share the architecture and differ in the bound trained:
``objective="vae"`` (mean of k single-sample ELBOs) or ``objective="iwae"`` (eq. 8).
Optimisation (section 5): Adam with beta_2 = 0.999, epsilon = 1e-4, batch size 20.
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfgen import layers, objectives
from tfgen.model import DataclassConfig, LatentVariableModel, LogWeights, check_flat_inputs

ARCHITECTURES = {
    1: {"latent": (50,), "hidden": ((200, 200),)},
    2: {"latent": (100, 50), "hidden": ((200, 200), (100, 100))},
}


@dataclasses.dataclass
class IWAEConfig:
    """Hyper-parameters of :class:`IWAE`; defaults are the paper's (Burda et al. 2016, sec. 5).

    ``latent`` / ``hidden`` default to :data:`ARCHITECTURES` for ``layers`` stochastic layers.
    """

    input_dim: int = 784
    layers: int = 1
    k: int = 1
    objective: str = "iwae"
    estimator: str = "total"
    activation: str = "tanh"
    latent: tuple = None
    hidden: tuple = None
    seed: int = None

    def __post_init__(self):
        if self.latent is None or self.hidden is None:
            if self.layers not in ARCHITECTURES:
                raise ValueError(
                    f"The paper's architectures have 1 or 2 stochastic layers, got layers={self.layers!r}; "
                    "pass latent= and hidden= for other depths."
                )
            self.latent = self.latent or ARCHITECTURES[self.layers]["latent"]
            self.hidden = self.hidden or ARCHITECTURES[self.layers]["hidden"]
        self.latent = tuple(int(u) for u in self.latent)
        self.hidden = tuple(tuple(int(u) for u in h) for h in self.hidden)
        if len(self.latent) != len(self.hidden) or len(self.latent) != self.layers:
            raise ValueError(
                f"layers={self.layers} needs that many latent sizes and hidden stacks, "
                f"got latent={self.latent}, hidden={self.hidden}."
            )
        if int(self.input_dim) < 1:
            raise ValueError(f"input_dim must be positive, got {self.input_dim!r}.")
        objectives.check_k(self.k)


@keras.saving.register_keras_serializable(package="zoo")
class IWAE(DataclassConfig, LatentVariableModel):
    """VAE / IWAE with ``layers`` stochastic layers over flat binary vectors ``[batch, input_dim]``.

    Encoder ``q(z_1 | x) q(z_2 | z_1) ...``; decoder ``p(z_L) ... p(z_1 | z_2) p(x | z_1)``;
    ``log_w = log p(x | z_1) + sum_l log p(z_l | z_{l+1}) - sum_l log q(z_l | z_{l-1})``.
    Keyword arguments are the fields of :class:`IWAEConfig`.
    """

    def __init__(self, name="iwae", **config):
        keras_keys = {"trainable", "dtype"}
        keras_kwargs = {key: config.pop(key) for key in keras_keys & set(config)}
        self.config = IWAEConfig(**config)
        c = self.config
        names = [f"z{i + 1}" for i in range(c.layers)]
        super().__init__(names, k=c.k, objective=c.objective, estimator=c.estimator, seed=c.seed,
                         name=name, **keras_kwargs)
        self.encoder = [
            layers.DiagonalGaussian(units, hidden, c.activation, name=f"q_{n}")
            for n, units, hidden in zip(names, c.latent, c.hidden)
        ]
        # p(z_l | z_{l+1}) for l < L, mirroring the encoder's hidden sizes.
        self.priors = [
            layers.DiagonalGaussian(c.latent[i], c.hidden[i + 1], c.activation, name=f"p_{names[i]}")
            for i in range(c.layers - 1)
        ]
        self.likelihood = layers.BernoulliLogits(c.input_dim, c.hidden[0], c.activation, name="p_x")

    def build(self, input_shape=None):
        c = self.config
        inputs = (None, c.input_dim)
        for layer, units in zip(self.encoder, c.latent):
            layer.build(inputs)
            inputs = (None, units)
        for i, layer in enumerate(self.priors):
            layer.build((None, c.latent[i + 1]))
        self.likelihood.build((None, c.latent[0]))
        self.built = True

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        return self.log_weights_from(x, self.encode(x), k, estimator, seed, training)

    def encode(self, x):
        """Parameters ``(loc, scale)`` of ``q(z_1 | x)``, ``[batch, latent[0]]`` each.

        The part of :meth:`log_weights` that does not depend on the samples, so large-k
        evaluation computes it once per batch (see :func:`tfgen.evaluation.log_likelihood`).
        """
        return self.encoder[0](tf.cast(x, self.variable_dtype))

    def log_weights_from(self, x, encoded, k, estimator="total", seed=None, training=False):
        """:meth:`log_weights` given ``encoded = self.encode(x)``."""
        seed = self.seed_generator if seed is None else seed
        if isinstance(seed, int):
            seed = keras.random.SeedGenerator(seed)
        x = tf.cast(x, self.variable_dtype)  # float32 log-densities, also under mixed precision
        log_qz, log_pz, zs = {}, {}, []
        h = x
        for i, (name, q) in enumerate(zip(self.latent_names, self.encoder)):
            params = encoded if i == 0 else q(h)
            z = q.sample(*params, seed=seed, k=k if i == 0 else None)
            log_qz[name] = q.log_prob(z, *objectives.variational_parameters(params, estimator))
            zs.append(z)
            h = z
        top = self.latent_names[-1]
        log_pz[top] = layers.standard_normal_log_prob(zs[-1])
        for i, p in enumerate(self.priors):
            log_pz[self.latent_names[i]] = p.log_prob(zs[i], *p(zs[i + 1]))
        log_px_z = self.likelihood.log_prob(x, *self.likelihood(zs[0]))
        log_w = log_px_z + tf.add_n(list(log_pz.values())) - tf.add_n(list(log_qz.values()))
        return LogWeights(log_w, log_px_z, log_pz, log_qz)

    def sample(self, num, seed=None):
        """Bernoulli means ``p(x = 1 | z_1)`` for ``num`` ancestral samples from ``p(z)``."""
        seed = self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        z = keras.random.normal((num, self.config.latent[-1]), seed=seed)
        for p in reversed(self.priors):
            z = p.sample(*p(z), seed=seed)
        return self.likelihood.mean(*self.likelihood(z))

    def adapt(self, data):
        """Initialise the output bias to the logit of the mean of ``data`` (Burda et al.).

        ``data`` is an array ``[n, input_dim]`` or a ``tf.data.Dataset`` of such batches.
        """
        if isinstance(data, tf.data.Dataset):
            total, count = 0.0, 0
            for batch in data:
                batch = batch[0] if isinstance(batch, tuple) else batch
                total += tf.reduce_sum(tf.cast(batch, "float64"), axis=0).numpy()
                count += int(batch.shape[0])
            mean = total / count
        else:
            mean = np.mean(np.asarray(data, dtype="float64"), axis=0)
        if not self.built:
            self.build()
        self.likelihood.set_bias_from_mean(mean)

    def validate_inputs(self, x):
        check_flat_inputs(self, x, self.config.input_dim)
        self.likelihood.validate(x)



def paper_optimizer(learning_rate=1e-3):
    """Adam as in Burda et al. (2016, sec. 5): beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-4."""
    return keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-4)
