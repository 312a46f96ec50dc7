"""A GAN as adversarial two-sample testing (Goodfellow et al. 2014; Mohamed's tutorial, "Testing to
adversarial learning").

The discriminator is a :class:`tfgen.ratios.RatioEstimator`: a classifier of data (label 1)
against generated images (label 0) whose logit ``h(x)`` estimates ``log p_data(x) / p_gen(x)``.
With ``x_gen = f(z)``, ``z ~ N(0, I)``, the two-sample criterion

    F = E_data[log D(x)] + E_z[log(1 - D(f(z)))],   D = sigmoid(h)

is maximised by the discriminator (logistic regression: ``loss = -F``) and minimised by the
generator; the default ``non_saturating`` generator loss is ``-E_z[log D(f(z))]`` instead of
``E_z[log(1 - D(f(z)))]`` (Goodfellow et al., sec. 3). One ``train_step`` takes one step of each,
with two optimizers (``compile(optimizer=..., discriminator_optimizer=...)``), so a GAN trains
through ``fit()`` and the run driver like every zoo model.

Logs: ``loss`` (the discriminator's, ``-F``), ``generator_loss``, ``accuracy`` (the
discriminator's on the batch, 0.5 when it cannot tell), ``log_ratio_gen`` (the mean estimated
``log p_data / p_gen`` at generated images: ``-KL(p_gen || p_data)`` at the optimal discriminator).
"""

import keras
import numpy as np
import tensorflow as tf

from tfgen import divergences, layers, noise, ratios
from tfgen.model import build_for_fit, check_numeric
from zoo.gan.configs import CONFIGS, GANConfig

METRICS = ("loss", "generator_loss", "accuracy", "log_ratio_gen")


@keras.saving.register_keras_serializable(package="zoo")
class GAN(keras.Model):
    """Generator ``f(z)`` (an MLP with sigmoid outputs, images in [0, 1]) and a ratio-estimating
    discriminator. Keyword arguments are the fields of :class:`zoo.gan.configs.GANConfig`.

    Inputs: images ``[batch, h*w*c]`` or ``[batch, h, w, c]`` with values in [0, 1]; other
    shapes or values raise ``ValueError`` before training.
    """

    config_class = GANConfig
    configs = CONFIGS

    def __init__(self, name="gan", **fields):
        keras_kwargs = {key: fields.pop(key) for key in ("trainable", "dtype") if key in fields}
        super().__init__(name=name, **keras_kwargs)
        self.config = c = GANConfig(**fields)
        self.generator = layers.MLP(c.hidden, c.activation, name="generator")
        self.pixels = keras.layers.Dense(c.dims, activation="sigmoid", name="pixels")
        self.discriminator = ratios.RatioEstimator(c.discriminator_hidden, c.activation, name="discriminator")
        self.seed_generator = keras.random.SeedGenerator(c.seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRICS}

    @classmethod
    def from_config_name(cls, name, **overrides):
        import dataclasses

        return cls(**dataclasses.asdict(cls.configs.get(name, **overrides)))

    def build(self, input_shape=None):
        c = self.config
        layers.build_once(self.generator, (None, c.noise))
        layers.build_once(self.pixels, (None, c.hidden[-1]))
        self.discriminator(tf.zeros((1, c.dims)))
        self.built = True

    def get_config(self):
        import dataclasses

        return {**super().get_config(), **dataclasses.asdict(self.config)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # --- generating ------------------------------------------------------------------------------
    def generate(self, z):
        """Images ``f(z)`` ``[n, h*w*c]`` in [0, 1] for noise ``z [n, noise]``."""
        return self.pixels(self.generator(z))

    def sample(self, num, seed=None):
        """``num`` generated images ``[num, h*w*c]``; ``seed`` an int for repeatable draws."""
        if not self.built:
            self.build()
        generator = self.seed_generator if seed is None else keras.random.SeedGenerator(int(seed))
        return self.generate(keras.random.normal((num, self.config.noise), seed=generator))

    def call(self, x, training=False):
        """The discriminator's logits ``h(x)`` ``[batch]``: estimated ``log p_data(x) / p_gen(x)``."""
        return self.discriminator(x)

    # --- training --------------------------------------------------------------------------------
    def compile(self, optimizer="adam", discriminator_optimizer="adam", **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        self.discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)

    def get_compile_config(self):
        config = super().get_compile_config()
        if self.compiled:
            config["discriminator_optimizer"] = keras.optimizers.serialize(self.discriminator_optimizer)
        return config

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:  # both optimizers' variables, so a saved state loads into them
            self.build_optimizers()

    def build_optimizers(self) -> None:
        """Create both optimizers' variables, each for the variables it updates."""
        if not self.optimizer.built:
            self.optimizer.build(self.generator_variables())
        if not self.discriminator_optimizer.built:
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def generator_variables(self):
        return self.generator.trainable_variables + self.pixels.trainable_variables

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _steps(self, x, train):
        x = tf.reshape(tf.cast(x, "float32"), [-1, self.config.dims])
        batch = tf.shape(x)[0]
        z = noise.normal((batch, self.config.noise), self.seed_generator)
        with tf.GradientTape() as tape:
            real, fake = self.discriminator(x), self.discriminator(self.generate(z))
            # -F: the logistic loss of data (label 1) against generated images (label 0).
            loss = tf.reduce_mean(tf.nn.softplus(-real)) + tf.reduce_mean(tf.nn.softplus(fake))
        if train:
            variables = self.discriminator.trainable_variables
            self.discriminator_optimizer.apply(tape.gradient(loss, variables), variables)
        z = noise.normal((batch, self.config.noise), self.seed_generator)
        with tf.GradientTape() as tape:
            logits = self.discriminator(self.generate(z))
            if self.config.generator_loss == "non_saturating":
                generator_loss = tf.reduce_mean(tf.nn.softplus(-logits))  # -log D
            else:
                generator_loss = -tf.reduce_mean(tf.nn.softplus(logits))  # log(1 - D)
        if train:
            variables = self.generator_variables()
            self.optimizer.apply(tape.gradient(generator_loss, variables), variables)
        accuracy = 0.5 * (
            tf.reduce_mean(tf.cast(real > 0, "float32")) + tf.reduce_mean(tf.cast(fake <= 0, "float32"))
        )
        for name, value in zip(METRICS, (loss, generator_loss, accuracy, tf.reduce_mean(fake))):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        return self._steps(keras.utils.unpack_x_y_sample_weight(data)[0], train=True)

    def test_step(self, data):
        return self._steps(keras.utils.unpack_x_y_sample_weight(data)[0], train=False)

    # --- data checks -----------------------------------------------------------------------------
    def fit(self, x=None, y=None, *args, **kwargs):
        self.check_data(x)
        if isinstance(x, tf.data.Dataset) and not args:
            kwargs.setdefault("shuffle", False)
        build_for_fit(self)
        return super().fit(x, y, *args, **kwargs)

    def check_data(self, x):
        """Raise ``ValueError`` unless ``x`` (an array, or a dataset's first batch) holds images of
        ``config.image_shape`` with values in [0, 1]."""
        if isinstance(x, tf.data.Dataset):
            for batch in x.take(1):
                self.check_data(batch[0] if isinstance(batch, tuple) else batch)
            return
        x = check_numeric(np.asarray(x))
        c = self.config
        if x.ndim < 2 or tuple(x.shape[1:]) not in ((c.dims,), tuple(c.image_shape)):
            raise ValueError(
                f"GAN expects images of shape (batch, {', '.join(map(str, c.image_shape))}) or "
                f"flat (batch, {c.dims}), got {x.shape}."
            )
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError(
                f"GAN images must have values in [0, 1] (pixel / 255), found {x.min()}..{x.max()}."
            )


def two_sample_figures(model, images, num=2000, seed=0, epochs=10):
    """Held-out test figures of generated against real ``images`` (``[n, h*w*c]`` in [0, 1]):

    ``mmd``: ``10000 x MMD^2`` (unbiased, Gaussian kernel of bandwidth ``sqrt(d)``;
    :func:`tfgen.divergences.mmd`) between ``num`` real and ``num`` generated images; ``mmd_real``:
    the same between two disjoint halves of ``images`` (what no generator can beat);
    ``accuracy`` and ``kl``: the classifier two-sample test (:func:`tfgen.ratios.two_sample_test`,
    a fresh classifier): its held-out accuracy (0.5: indistinguishable) and its estimate of
    ``KL(p_data || p_gen)`` in nats.
    """
    images = np.asarray(images, "float32").reshape(len(images), -1)
    num = min(num, len(images) // 2)
    rng = np.random.default_rng(seed)
    real = images[rng.permutation(len(images))[: 2 * num]]
    fake = model.sample(len(real), seed=seed).numpy()

    def mmd(a, b):
        return 1e4 * float(divergences.mmd(a, b, kernel="rbf", estimator="unbiased"))

    test = ratios.two_sample_test(real, fake, seed=seed, hidden=(256,), epochs=epochs)
    return {
        "mmd": mmd(real[:num], fake[:num]),
        "mmd_real": mmd(real[:num], real[num : 2 * num]),
        "accuracy": test["accuracy"],
        "kl": test["kl"],
    }
