"""InfoVAE and Lagrangian VAE of Zhao, Song & Ermon, "The Information Autoencoding Family:
A Lagrangian Perspective on Latent Variable Generative Models" (UAI 2018, arXiv:1806.06514).

The primal objective is the mutual information ``I_q(x; z)`` (maximised for ``mi > 0``,
minimised for ``mi < 0``) under two consistency constraints:

    consistency  C = E_q[-log p(x|z)] + E_q[log q(z|x) - log p(z)] = D + R  (negative ELBO) <= e1
    marginal     10000 * MMD^2(q(z), p(z))                                                  <= e2

``I_q`` enters through its variational bounds ``H(x) - D <= I_q <= R``: maximising uses
``-D``, minimising uses ``R``. With multipliers ``l1, l2`` the Lagrangian is (the authors'
``methods/lagvae.py``)

    mi > 0 :  (l1 + mi) D + l1 R        + l2 MMD - l1 e1 - l2 e2
    mi <= 0:  l1 D        + (l1 - mi) R + l2 MMD - l1 e1 - l2 e2

* :class:`InfoVAE` keeps ``l1 = e1`` and ``l2 = e2`` fixed, so ``e1, e2`` are *weights*
  (the authors' ``methods/infovae.py``).
* :class:`LagVAE` starts ``l1 = l2 = 1`` and learns them by projected dual ascent
  (:mod:`tfgen.lagrangian`): RMSProp with learning rate 1e-4, clipped to ``[0.001, 100]``;
  ``e1, e2`` are then *targets*.

MMD uses the authors' kernel ``exp(-mean_d (a_d - b_d)^2 / d)`` and biased estimator between
the batch's ``z ~ q(z|x)`` and as many ``N(0, I)`` samples (:func:`tfgen.divergences.mmd`),
scaled by 10000 (``e2 = 5`` means ``MMD^2 < 5e-4``).

Architecture (the authors' ``examples/lagvae.py``): ``z`` has 64 units; encoder
``784 - 1024 - 1024`` softplus MLP to the mean and log standard deviation of a diagonal
Gaussian; decoder ``64 - 1024 - 1024 - 784`` softplus MLP to Bernoulli logits. Optimiser:
Adam (lr 1e-4, beta_1 = 0.5, beta_2 = 0.999), batches of 250, 5000 epochs, dynamically
binarised MNIST (we default to the fixed binarisation, ``binarized_mnist``).
"""
import dataclasses
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import divergences, layers
from tfgen.lagrangian import ConstrainedModel, Constraint
from tfgen.model import DataclassConfig, LogWeights, check_flat_inputs

MMD_SCALE = 10000.0
METRICS = ("consistency", "distortion", "rate", "mmd", "mutual_information")


@dataclasses.dataclass
class InfoVAEConfig:
    """Hyper-parameters of :class:`InfoVAE`; defaults from Zhao, Song & Ermon's code.

    ``mi, e1, e2`` default to the README's InfoVAE example (``--mi=1.0 --e1=1.0 --e2=1.0``).
    For InfoVAE ``e1, e2`` are the fixed weights of the consistency and MMD terms; for
    LagVAE they are the constraint targets. ``kernel`` / ``mmd_estimator`` select the MMD
    (see :mod:`tfgen.divergences`); ``lambda_min`` / ``lambda_max`` clip LagVAE's multipliers.
    """

    input_dim: int = 784
    latent: int = 64
    hidden: tuple = (1024, 1024)
    activation: str = "softplus"
    mi: float = 1.0
    e1: float = 1.0
    e2: float = 1.0
    kernel: str = "authors"
    mmd_estimator: str = "biased"
    lambda_min: float = 0.001
    lambda_max: float = 100.0
    seed: int = None

    def __post_init__(self):
        self.hidden = tuple(int(u) for u in self.hidden)
        self.input_dim, self.latent = int(self.input_dim), int(self.latent)
        self.mi, self.e1, self.e2 = float(self.mi), float(self.e1), float(self.e2)
        if self.input_dim < 1 or self.latent < 1:
            raise ValueError(f"input_dim and latent must be positive, got {self.input_dim}, {self.latent}.")
        divergences.get_kernel(self.kernel)
        divergences.check_estimator(self.mmd_estimator)
        if not 0.0 < self.lambda_min <= 1.0 <= self.lambda_max:
            raise ValueError(
                f"Multipliers start at 1, so need 0 < lambda_min <= 1 <= lambda_max, "
                f"got [{self.lambda_min}, {self.lambda_max}]."
            )


@dataclasses.dataclass
class LagVAEConfig(InfoVAEConfig):
    """:class:`InfoVAEConfig` with the README's LagVAE example as defaults: mi = 1, e1 = 86, e2 = 5."""

    e1: float = 86.0
    e2: float = 5.0


class Outputs(NamedTuple):
    """What one forward pass gives the loss and the constraints.

    ``log_weights`` (``[1, batch]`` parts), ``z`` ``[batch, latent]`` with the encoder's
    ``loc`` / ``scale`` it came from, and ``prior_z`` ``[batch, latent]`` drawn from ``p(z)``.
    """

    log_weights: LogWeights
    z: tf.Tensor
    loc: tf.Tensor
    scale: tf.Tensor
    prior_z: tf.Tensor


@keras.saving.register_keras_serializable(package="zoo")
class InfoVAE(DataclassConfig, ConstrainedModel):
    """InfoVAE with fixed weights ``l1 = e1``, ``l2 = e2`` on flat binary data ``[batch, input_dim]``.

    Keyword arguments are the fields of :attr:`config_class`. Logs, besides the base
    metrics, ``consistency`` (D + R), ``distortion`` (D), ``rate`` (R, Monte Carlo),
    ``mmd`` (x 10000), ``mutual_information`` (the batch estimate of
    :func:`tfgen.divergences.mutual_information`, at most ``log batch_size``) and
    ``lambda_{consistency,mmd}`` / ``violation_{consistency,mmd}``.
    """

    config_class = InfoVAEConfig

    def __init__(self, name=None, **config):
        keras_kwargs = {key: config.pop(key) for key in {"trainable", "dtype"} & set(config)}
        self.config = self.config_class(**config)
        c = self.config
        super().__init__(("z",), k=1, objective="vae", seed=c.seed,
                         name=name or type(self).__name__.lower(), **keras_kwargs)
        self.encoder = layers.DiagonalGaussian(c.latent, c.hidden, c.activation, name="q_z")
        self.likelihood = layers.BernoulliLogits(c.input_dim, c.hidden, c.activation, name="p_x")
        self.set_constraints(self.constraints())
        for metric in METRICS:
            self.trackers[metric] = keras.metrics.Mean(name=metric)

    def constraints(self):
        """Fixed weights ``l1 = e1``, ``l2 = e2`` (targets equal to the weights, as the authors')."""
        c = self.config
        if c.e1 < 0 or c.e2 < 0:
            raise ValueError(f"InfoVAE's weights e1, e2 must be >= 0, got e1={c.e1}, e2={c.e2}.")
        return {"consistency": Constraint(c.e1, initial=c.e1, learned=False),
                "mmd": Constraint(c.e2, initial=c.e2, learned=False)}

    def build(self, input_shape=None):
        self.encoder.build((None, self.config.input_dim))
        self.likelihood.build((None, self.config.latent))
        self.built = True

    def forward(self, x, seed=None):
        """One ``z ~ q(z|x)`` per example, its log-weight parts and prior samples: :class:`Outputs`."""
        seed = self.seed_generator if seed is None else seed
        x = tf.cast(x, self.compute_dtype)
        loc, scale = self.encoder(x)
        z = self.encoder.sample(loc, scale, seed=seed)
        log_qz = self.encoder.log_prob(z, loc, scale)
        log_pz = layers.standard_normal_log_prob(z)
        log_px_z = self.likelihood.log_prob(x, *self.likelihood(z))
        lw = LogWeights((log_px_z + log_pz - log_qz)[None], log_px_z[None], {"z": log_pz[None]},
                        {"z": log_qz[None]})
        prior_z = keras.random.normal(tf.shape(z), seed=seed, dtype=z.dtype)
        return Outputs(lw, z, loc, scale, prior_z)

    def call(self, x, training=False):
        return self.forward(x)

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        seed = self.seed_generator if seed is None else seed
        if isinstance(seed, int):
            seed = keras.random.SeedGenerator(seed)
        x = tf.cast(x, self.compute_dtype)
        loc, scale = self.encoder(x)
        z = self.encoder.sample(loc, scale, seed=seed, k=k)
        log_qz = self.encoder.log_prob(z, loc, scale)
        log_pz = layers.standard_normal_log_prob(z)
        log_px_z = self.likelihood.log_prob(x, *self.likelihood(z))
        return LogWeights(log_px_z + log_pz - log_qz, log_px_z, {"z": log_pz}, {"z": log_qz})

    def mmd(self, outputs):
        """``10000 * MMD^2`` between the batch's ``z ~ q(z|x)`` and ``p(z)`` samples (scalar)."""
        c = self.config
        return MMD_SCALE * divergences.mmd(outputs.z, outputs.prior_z, c.kernel, c.mmd_estimator)

    def constraint_terms(self, x, outputs):
        consistency = -outputs.log_weights.log_w[0]
        return {"consistency": consistency, "mmd": tf.fill(tf.shape(consistency), self.mmd(outputs))}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        outputs = y_pred
        lw = outputs.log_weights
        super().compute_loss(x, y, lw, sample_weight, training)  # elbo, reconstruction, kl trackers
        c = self.config
        distortion, rate = -lw.log_px_z[0], lw.kl("z")
        mmd = self.mmd(outputs)
        values = {
            "consistency": distortion + rate,
            "distortion": distortion,
            "rate": rate,
            "mmd": mmd,
            "mutual_information": divergences.mutual_information(outputs.z, outputs.loc, outputs.scale),
        }
        for metric, value in values.items():
            self.trackers[metric].update_state(value)
        lam = self.multipliers()
        l1, l2 = lam["consistency"], lam["mmd"]
        # I_q >= H(x) - D (maximise, mi > 0) and I_q <= R (minimise, mi < 0).
        primal = c.mi * distortion if c.mi > 0 else -c.mi * rate
        lagrangian = (tf.reduce_mean(primal + l1 * (distortion + rate)) + l2 * mmd
                      - l1 * c.e1 - l2 * c.e2)
        if self.losses:
            lagrangian = lagrangian + tf.add_n(self.losses)
        return lagrangian

    def sample(self, num, seed=None):
        """Bernoulli means ``p(x = 1 | z)`` for ``num`` samples ``z ~ N(0, I)``."""
        seed = self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        z = keras.random.normal((num, self.config.latent), seed=seed)
        return self.likelihood.mean(*self.likelihood(z))

    def adapt(self, data):
        """Initialise the output bias to the logit of the mean of ``data`` ``[n, input_dim]``."""
        if not self.built:
            self.build()
        self.likelihood.set_bias_from_mean(np.mean(np.asarray(data, dtype="float64"), axis=0))

    def validate_inputs(self, x):
        check_flat_inputs(self, x, self.config.input_dim)
        self.likelihood.validate(x)



@keras.saving.register_keras_serializable(package="zoo")
class LagVAE(InfoVAE):
    """Lagrangian VAE: InfoVAE's objective with ``l1, l2`` learned by dual ascent, ``e1, e2`` targets.

    Compile with ``dual_optimizer=paper_dual_optimizer()`` for the authors' update.
    """

    config_class = LagVAEConfig

    def constraints(self):
        """``E[D + R] <= e1`` and ``10000 MMD <= e2``; multipliers start at 1, clipped to ``[0.001, 100]``."""
        c = self.config
        bounds = {"initial": 1.0, "minimum": c.lambda_min, "maximum": c.lambda_max}
        return {"consistency": Constraint(c.e1, **bounds), "mmd": Constraint(c.e2, **bounds)}


def mutual_information(model, x, batch_size=1000, seed=0):
    """``I_q(x; z)`` over the rows of ``x`` with the aggregate posterior over the same rows.

    See :func:`tfgen.divergences.mutual_information`; the estimate is at most ``log len(x)``.
    """
    x = np.asarray(x)
    model._check_data(x)
    generator = keras.random.SeedGenerator(seed)
    parts = [model.encoder(tf.constant(x[i:i + batch_size], model.compute_dtype))
             for i in range(0, len(x), batch_size)]
    loc = tf.concat([p[0] for p in parts], 0)
    scale = tf.concat([p[1] for p in parts], 0)
    z = model.encoder.sample(loc, scale, seed=generator)
    return float(divergences.mutual_information(z, loc, scale))


def paper_optimizer(learning_rate=1e-4):
    """Adam as in the authors' examples: lr 1e-4, beta_1 = 0.5, beta_2 = 0.999."""
    return keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.999)


def paper_dual_optimizer(learning_rate=1e-4):
    """RMSProp (lr 1e-4, decay 0.9) for the multipliers, as the authors' ``methods/lagvae.py``."""
    return keras.optimizers.RMSprop(learning_rate, rho=0.9)
