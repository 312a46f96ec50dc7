"""Hyper-parameters of the GAN built on a density-ratio classifier, and its named configurations.

Goodfellow et al., "Generative Adversarial Nets" (NeurIPS 2014): an MLP generator ``x = f(z)``,
``z ~ N(0, I)``, against a discriminator ``D(x) = sigmoid(h(x))`` whose logit estimates
``log p_data(x) / p_gen(x)`` (:mod:`tfgen.ratios`). The defaults are a small fully connected
pair for 28x28 grey images on a CPU.

No TensorFlow here: the command line reads these to build its help.
"""

import dataclasses

from tfgen.config import Registry, check_choice, check_image_shape, check_int, check_sizes, field

GENERATOR_LOSSES = ("non_saturating", "minimax")


@dataclasses.dataclass
class GANConfig:
    """Hyper-parameters of :class:`zoo.gan.GAN`."""

    image_shape: tuple = field((28, 28, 1), "shape of one image, height,width,channels; pixels in [0, 1]")
    noise: int = field(64, "units of the generator's input z ~ N(0, I)")
    hidden: tuple = field((256, 512), "hidden units of the generator MLP, comma-separated")
    discriminator_hidden: tuple = field(
        (512, 256), "hidden units of the discriminator (the ratio estimator's MLP), comma-separated"
    )
    activation: str = field("relu", "activation of both networks' hidden layers")
    generator_loss: str = field(
        "non_saturating",
        "the generator's loss: non_saturating, -log D(f(z)) "
        "(Goodfellow et al. sec. 3), or minimax, log(1 - D(f(z)))",
        choices=GENERATOR_LOSSES,
    )
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        self.image_shape = check_image_shape(self.image_shape)
        self.noise = check_int("noise", self.noise)
        self.hidden = check_sizes("hidden", self.hidden)
        self.discriminator_hidden = check_sizes("discriminator_hidden", self.discriminator_hidden)
        check_choice("generator_loss", self.generator_loss, GENERATOR_LOSSES)

    @property
    def dims(self):
        return self.image_shape[0] * self.image_shape[1] * self.image_shape[2]


CONFIGS = Registry(GANConfig, mlp={})
