"""The auxiliary VAE (Maaloe, Sonderby, Sonderby & Winther, "Auxiliary Deep Generative Models",
ICML 2016).

Generative model ``p(z) p(x | z) p(a | x, z)``; variational distribution
``q(a | x) q(z | a, x)``, diagonal Gaussians each. The bound on ``log p(x)``

    log w = log p(x | z) + log p(z) + log p(a | x, z) - log q(a | x) - log q(z | a, x)

(their eq. 3, with ``a, z ~ q``) is a bound on the marginal ``p(x) = int p(x | z) p(z) dz``
because ``p(a | x, z)`` integrates to one, while ``q(z | x) = int q(a | x) q(z | a, x) da`` is
an infinite mixture of Gaussians, not a factorised one.
"""
import keras

from tfgen import layers
from tfgen.image_model import ImageModel
from tfgen.model import LatentVariableModel, LogWeights
from zoo.auxiliary.configs import CONFIGS, AuxiliaryConfig


@keras.saving.register_keras_serializable(package="zoo")
class AuxiliaryVAE(ImageModel, LatentVariableModel):
    """Auxiliary VAE over images; layers ``a`` (auxiliary) and ``z``.

    Blocks: the encoder MLP ``x -> h``; ``q(a | x)`` a Gaussian head on ``h``; ``q(z | a, x)``
    a Gaussian head (one hidden layer) on ``act(W h + V a + b)``; ``p(a | x, z)`` a Gaussian
    head (one hidden layer) on ``act(W' x + V' z + b')``; the decoder MLP and likelihood of
    :class:`tfgen.image_model.ImageModel` for ``p(x | z)``; ``p(z) = N(0, I)``.
    ``log_w`` is ``[k, batch]``. Keyword arguments are the fields of
    :class:`zoo.auxiliary.configs.AuxiliaryConfig`.

    Inputs: ``[batch, h*w*c]`` or ``[batch, h, w, c]``, binary for the Bernoulli likelihood.
    Raises ``ValueError`` for other shapes or values, and for bad hyper-parameters.
    """

    config_class = AuxiliaryConfig
    configs = CONFIGS

    def __init__(self, name="auxiliary_vae", **fields):
        config, keras_kwargs = self.configure(fields)
        self.config = c = config
        super().__init__(("a", "z"), k=c.k, bound=c.objective, estimator=c.estimator, seed=c.seed, name=name,
                         **keras_kwargs)
        self.make_blocks(c.hidden, tuple(reversed(c.hidden)))
        width = c.hidden[-1]
        self.q_a = layers.DiagonalGaussian(c.auxiliary, name="q_a")
        self.q_z_from_h = keras.layers.Dense(width, name="q_z_from_h")
        self.q_z_from_a = keras.layers.Dense(width, use_bias=False, name="q_z_from_a")
        self.q_z = layers.DiagonalGaussian(c.latent, (width,), c.activation, name="q_z")
        self.p_a_from_x = keras.layers.Dense(width, name="p_a_from_x")
        self.p_a_from_z = keras.layers.Dense(width, use_bias=False, name="p_a_from_z")
        self.p_a = layers.DiagonalGaussian(c.auxiliary, (width,), c.activation, name="p_a")

    def build(self, input_shape=None):
        c = self.config
        features = self.build_blocks(c.latent)
        width = c.hidden[-1]
        for layer, shape in ((self.q_a, features), (self.q_z_from_h, features),
                             (self.q_z_from_a, c.auxiliary), (self.q_z, width), (self.p_a_from_x, c.dims),
                             (self.p_a_from_z, c.latent), (self.p_a, width)):
            layers.build_once(layer, (None, shape))
        self.built = True

    def encode(self, x):
        """The sample-independent parts: ``q(a | x)``'s ``(loc, scale)`` and the ``x`` terms of the
        first layers of ``q(z | a, x)`` and ``p(a | x, z)``, ``[batch, ...]`` each."""
        x = self.flat(x)
        h = self.encoder(x)
        return (*self.q_a(h), self.q_z_from_h(h), self.p_a_from_x(x))

    def log_weights(self, x, k, estimator="total", seed=None, training=False):
        return self.log_weights_from(x, self.encode(x), k, estimator, seed, training)

    def log_weights_from(self, x, encoded, k, estimator="total", seed=None, training=False):
        """:meth:`log_weights` given ``encoded = self.encode(x)``."""
        seed, x = self.seed_stream(seed), self.flat(x)
        loc_a, scale_a, q_z_h, p_a_x = encoded
        act = keras.activations.get(self.config.activation)
        a, log_qa = self.q_a.sample_and_log_prob((loc_a, scale_a), seed, k, estimator)
        z, log_qz = self.q_z.sample_and_log_prob(self.q_z(act(q_z_h + self.q_z_from_a(a))), seed, None,
                                                 estimator)
        log_pa = self.p_a.log_prob(a, *self.p_a(act(p_a_x + self.p_a_from_z(z))))
        log_pz = layers.standard_normal_log_prob(z)
        log_px_z = self.log_likelihood(x, z)
        log_w = log_px_z + log_pz + log_pa - log_qz - log_qa
        return LogWeights(log_w, log_px_z, {"a": log_pa, "z": log_pz}, {"a": log_qa, "z": log_qz})

    def sample(self, num, seed=None):
        """Means ``E[x | z]`` (``[num, h*w*c]``) of ``num`` samples ``z ~ p(z)``."""
        seed = self.seed_stream(seed)
        if not self.built:
            self.build()
        return self.mean_image(keras.random.normal((num, self.config.latent), seed=seed))
