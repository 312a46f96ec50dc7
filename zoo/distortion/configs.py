"""Hyper-parameters of the distortion-targeted VAEs and their named configurations.

"Mind Your Bits and Errors: Prioritizing the Bits that Matter in Variational Autoencoders"
(anonymous ICLR 2021 submission), app. A.1: a VDVAE-style top-down VAE (Child 2021) with
precision-weighted merging (Sonderby et al. 2016); 16 channels per latent layer, 128 hidden
channels, 32-channel bottlenecks; for SVHN 48 latent layers (two at 1x1, four at 4x4, ten at
8x8, sixteen at 16x16, sixteen at 32x32), for CelebA eight more at 64x64. App. B.2: lambda
projected onto [1e-4, 0.9999] and started at 0.9999.

Named configurations (``TopDownVAE.from_config_name(name, gamma=...)``, ``--config NAME``):

* ``cpu28``, ``cpu32``: sized down to train on a share of a CPU core in minutes, one latent
  layer of 4 channels per resolution (1, 7, 14, 28 or 1, 4, 8, 16, 32), width 32,
  bottleneck 8, one encoder block per resolution above 1x1 (our choice, not the paper's);
* ``svhn``, ``celeba``: the paper's architectures (app. A.1).

No TensorFlow here: the command line reads these to build its help.
"""
import dataclasses
import numbers

from tfgen.config import (
    ESTIMATORS,
    Registry,
    check_choice,
    check_float,
    check_image_shape,
    check_int,
    check_k,
    check_resolutions,
    field,
)


@dataclasses.dataclass
class DistortionConfig:
    """Hyper-parameters of :class:`zoo.distortion.TopDownVAE`; defaults are the paper's SVHN model.

    Units: images are raw pixels 0..255; the distortion ``D`` (and its target ``gamma``) is the
    sum over pixels of squared errors per image on the [0, 1] scale; rates are nats per image.
    """

    image_shape: tuple = field((32, 32, 3), "shape of one square image, height,width,channels; data are "
                               "raw pixels 0..255 [batch, h, w, c] (the paper: SVHN 32,32,3, CelebA 64,64,3)")
    resolutions: tuple = field((1, 4, 8, 16, 32), "sides of the top-down path's feature maps, coarsest "
                               "first, each dividing the next, the last the image's (app. A.1, SVHN: "
                               "1,4,8,16,32)")
    latent_layers: tuple = field((2, 4, 10, 16, 16), "latent layers at each resolution (app. A.1, SVHN: "
                                 "2,4,10,16,16, 48 in all; CelebA adds 8 at 64x64)")
    encoder_blocks: tuple = field((3, 4, 7, 7, 12), "residual blocks of the bottom-up encoder at each "
                                  "resolution; the paper gives none, we take VDVAE's CIFAR-10 encoder "
                                  "(Child 2021) 3,4,7,7,12")
    width: int = field(128, "channels of the residual network, encoder and top-down path (app. A.1: 128)")
    bottleneck: int = field(32, "channels inside every bottleneck residual block (app. A.1: 32)")
    latent_channels: int = field(16, "channels of each latent layer at any resolution (app. A.1: 16)")
    merge: bool = field(True, "precision-weighted merging of posterior and prior (Sonderby et al. 2016; "
                        "app. A.1: used)")
    gamma: float = field(8.0, "distortion target: sum over pixels of squared errors per image on the "
                         "[0, 1] scale (the paper's SVHN targets 64, 32, 8, 2, 0.5 are on a scale it "
                         "does not state)")
    lambda_initial: float = field(0.9999, "starting value of lambda, the distortion's weight in "
                                  "(1 - lambda) R + lambda D (app. B.2: 0.9999, like KL annealing)")
    lambda_min: float = field(1e-4, "lower end of lambda's projection (app. B.2: 0.0001)")
    lambda_max: float = field(0.9999, "upper end of lambda's projection (app. B.2: 0.9999)")
    k: int = field(1, "posterior samples per example: the loss, rate and distortion average over them, "
                   "evaluate logs iwae_k{k} (the paper: 1)")
    estimator: str = field("total", "gradient estimator of log q: total (reparameterised; the paper) or "
                           "path (Roeder, Wu & Duvenaud 2017)", choices=ESTIMATORS)
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        self.image_shape = check_image_shape(self.image_shape)
        if self.image_shape[0] != self.image_shape[1]:
            raise ValueError(f"image_shape must be square (size, size, channels), got {self.image_shape}.")
        self.resolutions = check_resolutions(self.resolutions, self.image_shape[0])
        self.latent_layers = _counts("latent_layers", self.latent_layers)
        self.encoder_blocks = _counts("encoder_blocks", self.encoder_blocks)
        if not len(self.latent_layers) == len(self.encoder_blocks) == len(self.resolutions):
            raise ValueError(
                f"latent_layers {self.latent_layers} and encoder_blocks {self.encoder_blocks} need one "
                f"entry per resolution {self.resolutions}."
            )
        if sum(self.latent_layers) < 1:
            raise ValueError("The model needs at least one latent layer.")
        self.width = check_int("width", self.width)
        self.bottleneck = check_int("bottleneck", self.bottleneck)
        self.latent_channels = check_int("latent_channels", self.latent_channels)
        if not isinstance(self.merge, bool):
            raise ValueError(f"merge must be true or false, got {self.merge!r}.")
        self.gamma = check_float("The distortion target gamma", self.gamma, 0.0, strict=True)
        self.lambda_min = check_float("lambda_min", self.lambda_min, 0.0, 1.0)
        self.lambda_max = check_float("lambda_max", self.lambda_max, self.lambda_min, 1.0)
        self.lambda_initial = check_float("lambda_initial", self.lambda_initial, self.lambda_min,
                                          self.lambda_max)
        self.k = check_k(self.k)
        check_choice("estimator", self.estimator, ESTIMATORS)
        if self.seed is not None:
            self.seed = check_int("seed", self.seed, minimum=0)

    @property
    def dims(self):
        """Values per image, ``height * width * channels``."""
        return self.image_shape[0] * self.image_shape[1] * self.image_shape[2]


def _counts(name, value):
    """A tuple of integers >= 0 from a sequence or ``"0,1,1,1"``."""
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if isinstance(value, numbers.Number) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be integers >= 0, one per resolution, e.g. 0,1,1,1; got {value!r}.")
    return tuple(check_int(f"{name} entries", int(v) if isinstance(v, str) else v, minimum=0) for v in value)


_CPU = {"width": 32, "bottleneck": 8, "latent_channels": 4}
_SVHN = {"image_shape": (32, 32, 3), "resolutions": (1, 4, 8, 16, 32), "latent_layers": (2, 4, 10, 16, 16),
         "encoder_blocks": (3, 4, 7, 7, 12)}

CONFIGS = Registry(
    DistortionConfig,
    # The CPU layout for 28x28 images (Fashion-MNIST, MNIST): the first, the command line's default.
    cpu28={"image_shape": (28, 28, 1), "resolutions": (1, 7, 14, 28), "latent_layers": (1, 1, 1, 1),
           "encoder_blocks": (0, 1, 1, 1), **_CPU},
    # The CPU layout for 32x32 images (SVHN, CelebA resized to 32).
    cpu32={"image_shape": (32, 32, 3), "resolutions": (1, 4, 8, 16, 32), "latent_layers": (1, 1, 1, 1, 1),
           "encoder_blocks": (0, 1, 1, 1, 1), **_CPU},
    # App. A.1: SVHN, 48 latent layers.
    svhn=_SVHN,
    # App. A.1: CelebA 64x64, SVHN's layers and eight at 64x64 (4 encoder blocks there: our choice).
    celeba={"image_shape": (64, 64, 3), "resolutions": (1, 4, 8, 16, 32, 64),
            "latent_layers": (2, 4, 10, 16, 16, 8), "encoder_blocks": (3, 4, 7, 7, 12, 4)},
)
