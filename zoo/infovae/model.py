"""InfoVAE and Lagrangian VAE of Zhao, Song & Ermon, "The Information Autoencoding Family:
A Lagrangian Perspective on Latent Variable Generative Models" (UAI 2018).

With distortion ``D = E_q[-log p(x|z)]`` and rate ``R = E_q[log q(z|x) - log p(z)]`` (nats per
example), the primal objective is the mutual information ``I_q(x; z)`` (maximised for
``mi > 0``, minimised for ``mi < 0``) under two consistency constraints:

    consistency  C = D + R (the negative ELBO)           <= e1
    marginal     M = 10000 * MMD^2(q(z), p(z)) (a batch) <= e2

``I_q`` enters through its variational bounds ``H(x) - D <= I_q <= R``: maximising uses
``-D``, minimising uses ``R``. With multipliers ``l1, l2`` the Lagrangian minimised is (the
authors' ``methods/lagvae.py``)

    mi > 0 :  (l1 + mi) D + l1 R        + l2 M - l1 e1 - l2 e2
    mi <= 0:  l1 D        + (l1 - mi) R + l2 M - l1 e1 - l2 e2

* :class:`InfoVAE` keeps ``l1 = e1`` and ``l2 = e2`` fixed, so ``e1, e2`` are *weights*
  (the authors' ``methods/infovae.py``).
* :class:`LagVAE` starts ``l1 = l2 = 1`` and learns them by projected dual ascent
  (:mod:`tfgen.lagrangian`; the authors: RMSProp, learning rate 1e-4, clipped to
  ``[0.001, 100]``); ``e1, e2`` are then *targets*.

``M`` compares the batch's ``z ~ q(z|x)`` with as many ``N(0, I)`` draws
(:func:`tfgen.divergences.mmd`; ``e2 = 5`` means ``MMD^2 < 5e-4``), so its value, and the
biased estimator's floor, depend on the batch size (the authors': 250).

The model is composed of blocks (:class:`tfgen.image_model.ImageModel`): an encoder network, a
diagonal-Gaussian head ``q(z|x)``, a decoder network and a likelihood head; the defaults are the
authors' softplus MLPs and Bernoulli likelihood (:mod:`zoo.infovae.configs`). Optimisation
(``examples/lagvae.py``): Adam (learning rate 1e-4, beta_1 = 0.5, beta_2 = 0.999), batches of
250, 5000 epochs of dynamically binarised MNIST.
"""
from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import divergences, layers, noise, objectives, optimizers
from tfgen.image_model import ImageModel
from tfgen.lagrangian import ConstrainedModel, Constraint
from tfgen.model import LogWeights, SeedLike
from zoo.infovae.configs import INFOVAE_CONFIGS, LAGVAE_CONFIGS, InfoVAEConfig, LagVAEConfig

MMD_SCALE = 10000.0  # M = 10000 * MMD^2, as the authors' code scales it
METRICS = ("consistency", "rate", "mmd", "mutual_information")


class Outputs(NamedTuple):
    """What one forward pass (``call``) gives the objective, the metrics and the constraints.

    Attributes:
        log_weights: :class:`~tfgen.model.LogWeights` of one ``z`` per example, ``[1, batch]``.
        z: that ``z ~ q(z|x)``, ``[batch, latent]``, with the ``loc`` and ``scale`` of ``q``.
        prior_z: as many draws of ``p(z) = N(0, I)``, ``[batch, latent]``.
        mmd: ``10000 * MMD^2`` between ``z`` and ``prior_z``, a scalar.
    """

    log_weights: LogWeights
    z: tf.Tensor
    loc: tf.Tensor
    scale: tf.Tensor
    prior_z: tf.Tensor
    mmd: tf.Tensor


@keras.saving.register_keras_serializable(package="zoo")
class InfoVAE(ImageModel, ConstrainedModel):
    """InfoVAE: the Lagrangian above with fixed multipliers ``l1 = e1``, ``l2 = e2``.

    Keyword arguments are the fields of :class:`zoo.infovae.configs.InfoVAEConfig`;
    ``InfoVAE.from_config_name("zhao2018_infovae", latent=8)`` starts from a named configuration.
    Compile with ``optimizer=paper_optimizer()`` (and, for :class:`LagVAE`,
    ``dual_optimizer=paper_dual_optimizer()``).

    Logs, besides the base metrics (``elbo``, ``iwae_k1``, ``reconstruction``, ``kl``,
    ``kl_z``): ``consistency`` (``D + R``), ``rate`` (``R``, one-sample Monte Carlo), ``mmd``
    (``M``), ``mutual_information`` (the batch estimate of
    :func:`tfgen.divergences.mutual_information`, at most ``log batch_size``) and
    ``lambda_{consistency,mmd}`` / ``violation_{consistency,mmd}`` (for InfoVAE the weights and
    ``C - e1``, ``M - e2``: not constraints). ``loss`` is the Lagrangian.

    Inputs: ``[batch, h*w*c]`` or ``[batch, h, w, c]`` (``config.image_shape``), binary for the
    Bernoulli likelihood, in ``[0, 1]`` for the Gaussian ones. Raises ``ValueError`` for other
    shapes or values, and for bad hyper-parameters at construction.
    """

    config_class = InfoVAEConfig
    configs = INFOVAE_CONFIGS

    def __init__(self, name: str = "infovae", **fields: Any):
        config, keras_kwargs = self.configure(fields)
        self.config = c = config
        super().__init__(("z",), k=1, bound="vae", estimator="total", seed=c.seed, name=name, **keras_kwargs)
        self.make_blocks(c.hidden, tuple(reversed(c.hidden)))
        self.posterior = layers.DiagonalGaussian(c.latent, name="q_z")
        self.set_constraints(self.constraints())

    def constraints(self) -> dict[str, Constraint]:
        """Fixed multipliers ``l1 = e1``, ``l2 = e2`` (the targets set to the weights, as the
        authors' code subtracts ``l1 e1 + l2 e2``)."""
        c = self.config
        return {"consistency": Constraint(c.e1, initial=c.e1, learned=False),
                "mmd": Constraint(c.e2, initial=c.e2, learned=False)}

    def build(self, input_shape=None):
        features = self.build_blocks(self.config.latent)
        self.posterior.build((None, features))
        self.built = True

    # --- the model ---------------------------------------------------------------------------
    def encode(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Parameters ``(loc, scale)`` of ``q(z | x)``, ``[batch, latent]`` each."""
        return self.posterior(self.encoder(self.flat(x)))

    def log_weights(self, x: tf.Tensor, k: int, estimator: str = "total", seed: SeedLike = None,
                    training: bool = False) -> LogWeights:
        return self.log_weights_from(x, self.encode(x), k, estimator, seed, training)

    def log_weights_from(self, x: tf.Tensor, encoded: tuple[tf.Tensor, tf.Tensor], k: int,
                         estimator: str = "total", seed: SeedLike = None,
                         training: bool = False) -> LogWeights:
        """:meth:`log_weights` given ``encoded = self.encode(x)`` (so large-k evaluation encodes once)."""
        return self._draw(x, encoded, k, estimator, seed)[0]

    def _draw(self, x, encoded, k, estimator, seed):
        """``(LogWeights [k, batch], z [k, batch, latent])`` of ``k`` draws ``z ~ q(z | x)``."""
        seed = self.seed_stream(seed)
        z = self.posterior.sample(*encoded, seed=seed, k=k)
        log_qz = self.posterior.log_prob(z, *objectives.variational_parameters(encoded, estimator))
        log_pz = layers.standard_normal_log_prob(z)
        log_px_z = self.log_likelihood(self.flat(x), z)
        return LogWeights(log_px_z + log_pz - log_qz, log_px_z, {"z": log_pz}, {"z": log_qz}), z

    def forward(self, x: tf.Tensor, seed: SeedLike = None) -> Outputs:
        """One ``z ~ q(z|x)`` per example, its log-weight parts, prior draws and ``M``: :class:`Outputs`.

        ``seed``: see :meth:`~tfgen.model.LatentVariableModel.seed_stream` (``None``: the
        model's own noise, as in training).
        """
        seed, c = self.seed_stream(seed), self.config
        loc, scale = self.encode(x)
        log_weights, z = self._draw(x, (loc, scale), 1, self.estimator, seed)
        z = z[0]
        prior_z = noise.normal(tf.shape(z), seed, dtype=z.dtype)
        mmd = MMD_SCALE * divergences.mmd(z, prior_z, c.kernel, c.mmd_estimator)
        return Outputs(log_weights, z, loc, scale, prior_z, mmd)

    def call(self, x, training=False):
        return self.forward(x)

    # --- what is maximised, logged and constrained -----------------------------------------------
    def metric_names(self):
        return super().metric_names() + list(METRICS)

    def objective(self, outputs: Outputs) -> tf.Tensor:
        """Minus the Lagrangian, per example ``[batch]`` (``M`` and the constants shared by the batch)."""
        c, lw = self.config, outputs.log_weights
        distortion, rate = -lw.log_px_z[0], lw.kl("z")
        lam = self.multipliers()
        l1, l2 = lam["consistency"], lam["mmd"]
        primal = c.mi * distortion if c.mi > 0 else -c.mi * rate  # -I_q through H(x) - D or R
        return -(primal + l1 * (distortion + rate) + l2 * outputs.mmd - l1 * c.e1 - l2 * c.e2)

    def track(self, outputs: Outputs) -> dict[str, tf.Tensor]:
        lw = outputs.log_weights
        return {**super().track(outputs),
                "consistency": -objectives.elbo(lw.log_w),
                "rate": lw.kl("z"),
                "mmd": outputs.mmd,
                "mutual_information": divergences.mutual_information(outputs.z, outputs.loc, outputs.scale)}

    def constraint_terms(self, outputs: Outputs) -> dict[str, tf.Tensor]:
        consistency = -objectives.elbo(outputs.log_weights.log_w)
        return {"consistency": consistency, "mmd": tf.broadcast_to(outputs.mmd, tf.shape(consistency))}

    def sample(self, num: int, seed: SeedLike = None) -> tf.Tensor:
        """Means ``E[x | z]`` (``[num, h*w*c]``) for ``num`` draws ``z ~ N(0, I)``."""
        if not self.built:
            self.build()
        z = keras.random.normal((num, self.config.latent), seed=self.seed_stream(seed))
        return self.mean_image(z)


@keras.saving.register_keras_serializable(package="zoo")
class LagVAE(InfoVAE):
    """Lagrangian VAE: InfoVAE's Lagrangian with ``l1, l2`` learned by dual ascent; ``e1, e2`` targets.

    Keyword arguments are the fields of :class:`zoo.infovae.configs.LagVAEConfig`. Compile with
    ``dual_optimizer=paper_dual_optimizer()`` for the authors' update.
    """

    config_class = LagVAEConfig
    configs = LAGVAE_CONFIGS

    def __init__(self, name: str = "lagvae", **fields: Any):
        super().__init__(name=name, **fields)
        self._warned_floor = False

    def check_data(self, x, batch_size=None):
        """As the base class, and warns (once) when the MMD target cannot bind at the batch size."""
        super().check_data(x, batch_size)
        # a dataset is checked batch by batch through this method: its first batch gives the size
        size = batch_size or (len(x) if isinstance(x, (np.ndarray, tf.Tensor)) else None)
        problem = size and not self._warned_floor and unreachable_target(self.config, size)
        if problem:
            self._warned_floor = True
            warnings.warn(problem, stacklevel=3)

    def constraints(self) -> dict[str, Constraint]:
        """``E[C] <= e1`` and ``M <= e2``; multipliers start at 1, clipped to ``[lambda_min, lambda_max]``."""
        c = self.config
        bounds = {"initial": 1.0, "minimum": c.lambda_min, "maximum": c.lambda_max}
        return {"consistency": Constraint(c.e1, **bounds), "mmd": Constraint(c.e2, **bounds)}


def unreachable_target(config, batch_size):
    """A message if a LagVAE's MMD target ``e2`` is at or below the floor of its estimator at
    ``batch_size`` (:func:`tfgen.divergences.mmd_floor`: the value ``M`` takes on average even when
    ``q(z) = p(z)``), so the constraint can never bind; ``None`` otherwise."""
    floor = MMD_SCALE * divergences.mmd_floor(config.latent, batch_size, config.kernel, config.mmd_estimator)
    if config.e2 > floor:
        return None
    return (f"the MMD target e2 = {config.e2:g} is at or below {floor:.2f}, the value the "
            f"{config.mmd_estimator} estimator takes on average at batch size {batch_size} even when "
            "q(z) = p(z): the constraint cannot bind and its multiplier only climbs to lambda_max. Use a "
            "larger batch, the unbiased estimator or a larger e2.")


def mutual_information(model: InfoVAE, x: np.ndarray, batch_size: int = 1000, seed: int = 0) -> float:
    """``I_q(x; z)`` over the rows of ``x`` with the aggregate posterior over the same rows (nats).

    See :func:`tfgen.divergences.mutual_information`; the estimate lies in ``[0, log len(x)]``.
    ``x``: data the model takes (``[n, h*w*c]`` or images), checked first.
    """
    x = np.asarray(x)
    model.check_data(x)
    parts = [model.encode(tf.constant(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    loc, scale = (tf.concat([p[i] for p in parts], 0) for i in (0, 1))
    z = model.posterior.sample(loc, scale, seed=keras.random.SeedGenerator(seed))
    return float(divergences.mutual_information(z, loc, scale))


def held_out_measures(model: InfoVAE, x: np.ndarray, batch_size: int = 250, mi_examples: int = 10000,
                      seed: int = 0) -> dict[str, float]:
    """The held-out measures of the objective's parts on the rows of ``x``.

    ``x`` (data the model takes, checked first) is shuffled with ``seed``, then scored in
    batches of ``batch_size``, one ``z ~ q(z|x)`` per example, the noise drawn from ``seed``:

    * ``consistency``, ``rate``: means over every example (nats);
    * ``mmd``: ``10000 * MMD^2`` averaged over the full batches (all of ``x`` as one batch if
      it has fewer rows): the batch size sets the estimate (and the biased estimator's floor),
      and shuffling keeps an ordered split's one-class batches from inflating it;
    * ``mutual_information``: :func:`mutual_information` over the first ``mi_examples``
      shuffled rows (ceiling ``log min(mi_examples, len(x))``).

    Returns ``{name: float}``.
    """
    x = np.asarray(x)
    model.check_data(x)
    x = x[np.random.default_rng(seed).permutation(len(x))]
    generator = keras.random.SeedGenerator(seed)
    totals, mmds = {"consistency": 0.0, "rate": 0.0}, []
    for start in range(0, len(x), batch_size):
        outputs = model.forward(tf.constant(x[start:start + batch_size]), seed=generator)
        totals["consistency"] += float(tf.reduce_sum(-outputs.log_weights.log_w))
        totals["rate"] += float(tf.reduce_sum(outputs.log_weights.kl("z")))
        if len(outputs.z) == batch_size or len(x) < batch_size:
            mmds.append(float(outputs.mmd))
    return {**{name: total / len(x) for name, total in totals.items()}, "mmd": float(np.mean(mmds)),
            "mutual_information": mutual_information(model, x[:mi_examples], seed=seed)}


def paper_optimizer(learning_rate: float = 1e-4) -> keras.optimizers.Optimizer:
    """Adam as in the authors' ``examples/lagvae.py``: learning rate 1e-4, beta_1 = 0.5, beta_2 = 0.999."""
    return optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.999)


def paper_dual_optimizer(learning_rate: float = 1e-4) -> keras.optimizers.Optimizer:
    """RMSProp (learning rate 1e-4, decay 0.9) on the multipliers, as the authors' ``methods/lagvae.py``."""
    return keras.optimizers.RMSprop(learning_rate, rho=0.9)
