"""The Ladder VAE (Sonderby et al., "Ladder Variational Autoencoders", NeurIPS 2016).

Generative model ``p(z_L) prod_{l<L} p(z_l | z_{l+1}) p(x | z_1)``, every conditional a
diagonal Gaussian from a batch-normalised MLP of the layer above. Inference first runs a
deterministic bottom-up pass, ``d_l = MLP_l(d_{l-1})`` (``d_0 = x``), giving at every layer an
estimate ``N(mu_hat_l, sigma_hat_l^2)``; then the top-down pass samples

    q(z_L | x) = N(mu_hat_L, sigma_hat_L^2),
    q(z_l | z_{l+1}, x) = N(mu_q, sigma_q^2),  sigma_q^-2 = sigma_hat_l^-2 + sigma_p^-2,
                          mu_q = (mu_hat_l sigma_hat_l^-2 + mu_p sigma_p^-2) sigma_q^2      (eq. 18-19)

with ``(mu_p, sigma_p)`` the generative model's own ``p(z_l | z_{l+1})`` at the sampled
``z_{l+1}`` (:func:`tfgen.blocks.precision_weighted`). Standard deviations are
``softplus(.) + 1e-3`` (:func:`tfgen.blocks.gaussian_params`). Training maximises the bound
with the KL terms weighted by ``kl_weight`` (warm-up, :class:`tfgen.callbacks.KLWarmup`).
"""
import keras
import tensorflow as tf

from tfgen import layers
from tfgen.blocks import gaussian_params, precision_weighted
from tfgen.image_model import ImageModel
from tfgen.model import LatentVariableModel, LogWeights
from zoo.ladder.configs import CONFIGS, LadderConfig


@keras.saving.register_keras_serializable(package="zoo")
class LadderVAE(ImageModel, LatentVariableModel):
    """Ladder VAE with ``layers`` stochastic layers (up to 5 by default sizes) over images.

    ``log_w = log p(x | z_1) + sum_l log p(z_l | z_{l+1}) - sum_l log q(z_l | z_{l+1}, x)``,
    ``[k, batch]``, layers named ``z1`` (bottom) .. ``zL``. Keyword arguments are the fields
    of :class:`zoo.ladder.configs.LadderConfig`; ``LadderVAE.from_config_name("sonderby2016_l5")``
    starts from a named configuration.

    Inputs: ``[batch, h*w*c]`` or ``[batch, h, w, c]``, binary for the Bernoulli likelihood.
    Raises ``ValueError`` for other shapes or values, and for bad hyper-parameters.
    """

    config_class = LadderConfig
    configs = CONFIGS

    def __init__(self, name="ladder_vae", **fields):
        config, keras_kwargs = self.configure(fields)
        self.config = c = config
        names = [f"z{i + 1}" for i in range(c.layers)]
        super().__init__(names, k=c.k, bound=c.objective, estimator=c.estimator, seed=c.seed, name=name,
                         **keras_kwargs)

        def mlp(units, name):
            return layers.MLP((units, units), c.activation, batch_norm=c.batch_norm, name=name)

        self.up = [mlp(c.hidden[i], f"up_{i + 1}") for i in range(c.layers)]
        self.up_heads = [keras.layers.Dense(2 * c.latent[i], name=f"q_hat_z{i + 1}") for i in range(c.layers)]
        self.down = [mlp(c.hidden[i], f"down_{i + 1}") for i in range(c.layers - 1)]
        self.down_heads = [keras.layers.Dense(2 * c.latent[i], name=f"p_z{i + 1}")
                           for i in range(c.layers - 1)]
        self.decoder = mlp(c.hidden[0], "decoder")
        self.likelihood = layers.likelihood(c.likelihood, c.dims)

    def build(self, input_shape=None):
        c = self.config
        shape = (None, c.dims)
        for i in range(c.layers):
            layers.build_once(self.up[i], shape)
            shape = (None, c.hidden[i])
            layers.build_once(self.up_heads[i], shape)
        for i in range(c.layers - 1):
            layers.build_once(self.down[i], (None, c.latent[i + 1]))
            layers.build_once(self.down_heads[i], (None, c.hidden[i]))
        layers.build_once(self.decoder, (None, c.latent[0]))
        layers.build_once(self.likelihood, (None, c.hidden[0]))
        self.built = True

    def encode(self, x, training=False):
        """The bottom-up pass: ``[(mu_hat_l, sigma_hat_l)]`` for ``l = 1..L``, ``[batch, latent[l]]`` each.

        Sample-independent, so a large-k evaluation computes it once per batch.
        """
        d, estimates = self.flat(x), []
        for mlp, head in zip(self.up, self.up_heads):
            d = mlp(d, training=training)
            estimates.append(gaussian_params(head(d)))
        return estimates

    def prior(self, i, z_above, training=False):
        """``(mu_p, sigma_p)`` of ``p(z_{i+1} | z_{i+2})`` (0-based ``i``) at ``z_above``."""
        return gaussian_params(self.down_heads[i](self.down[i](z_above, training=training)))

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        return self.log_weights_from(x, self.encode(x, training), k, estimator, seed, training)

    def log_weights_from(self, x, encoded, k, estimator="total", seed=None, training=False):
        """:meth:`log_weights` given ``encoded = self.encode(x)``: the top-down pass."""
        seed, x = self.seed_stream(seed), self.flat(x)
        names, top = self.latent_names, len(self.latent_names) - 1
        log_qz, log_pz = {}, {}
        loc, scale = encoded[top]
        z, log_qz[names[top]] = layers.gaussian_sample_and_log_prob((loc, scale), seed, k, estimator)
        log_pz[names[top]] = layers.standard_normal_log_prob(z)
        for i in reversed(range(top)):
            loc_p, scale_p = self.prior(i, z, training)
            loc_hat, scale_hat = encoded[i]
            params = precision_weighted(loc_hat, scale_hat, loc_p, scale_p)
            z, log_qz[names[i]] = layers.gaussian_sample_and_log_prob(params, seed, None, estimator)
            log_pz[names[i]] = layers.normal_log_prob(z, loc_p, scale_p)
        log_px_z = self.likelihood.log_prob(x, *self.likelihood(self.decoder(z, training=training)))
        log_w = log_px_z + tf.add_n(list(log_pz.values())) - tf.add_n(list(log_qz.values()))
        return LogWeights(log_w, log_px_z, log_pz, log_qz)

    def sample(self, num, seed=None):
        """Means ``E[x | z_1]`` (``[num, h*w*c]``) of ``num`` ancestral samples from ``p(z)``."""
        seed = self.seed_stream(seed)
        if not self.built:
            self.build()
        z = keras.random.normal((num, self.config.latent[-1]), seed=seed)
        for i in reversed(range(self.config.layers - 1)):
            loc, scale = self.prior(i, z)
            z = layers.DiagonalGaussian.sample(loc, scale, seed)
        return self.mean_image(z)
