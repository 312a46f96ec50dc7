"""Hyper-parameters of DRAW and its named configurations.

Gregor, Danihelka, Graves, Rezende & Wierstra, "DRAW: A Recurrent Neural Network For Image
Generation" (ICML 2015), sec. 4 and table 3 (MNIST): T = 64 glimpses, LSTMs of 256 units, 100
latent units per step, a 2x2 read and a 5x5 write attention window. ``cpu`` is a smaller model
for CPU runs.

No TensorFlow here: the command line reads these to build its help.
"""

import dataclasses

from tfgen.config import (
    BOUNDS,
    ESTIMATORS,
    Registry,
    check_choice,
    check_image_shape,
    check_int,
    check_k,
    field,
)


@dataclasses.dataclass
class DRAWConfig:
    """Hyper-parameters of :class:`zoo.draw.DRAW`; defaults are Gregor et al.'s MNIST model."""

    image_shape: tuple = field((28, 28, 1), "shape of one image, height,width,1: binary pixels")
    steps: int = field(64, "glimpses T: latent steps that each add to the canvas (Gregor et al.: 64)")
    rnn_units: int = field(256, "units of the encoder and decoder LSTMs (Gregor et al.: 256)")
    latent: int = field(100, "units of each step's latent z_t (Gregor et al.: 100)")
    attention: bool = field(
        True,
        "read and write through Gaussian filterbanks (sec. 3.2); false reads the "
        "whole image and writes a whole-image update",
    )
    read_size: int = field(2, "side N of the read window, N x N filters (Gregor et al.: 2)")
    write_size: int = field(5, "side N of the write window (Gregor et al.: 5)")
    k: int = field(1, "importance samples per example in training")
    objective: str = field("vae", "bound trained: vae / elbo (Gregor et al.'s loss) or iwae", choices=BOUNDS)
    estimator: str = field("total", "gradient estimator: total or path", choices=ESTIMATORS)
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        self.image_shape = check_image_shape(self.image_shape)
        if self.image_shape[-1] != 1:
            raise ValueError(f"DRAW draws grey images with one channel, got image_shape={self.image_shape}.")
        for name in ("steps", "rnn_units", "latent"):
            setattr(self, name, check_int(name, getattr(self, name)))
        for name in ("read_size", "write_size"):
            setattr(self, name, check_int(name, getattr(self, name), 2))
        self.k = check_k(self.k)
        check_choice("objective", self.objective, BOUNDS)
        check_choice("estimator", self.estimator, ESTIMATORS)

    @property
    def dims(self):
        return self.image_shape[0] * self.image_shape[1]


CONFIGS = Registry(
    DRAWConfig,
    gregor2015_mnist={},
    cpu={"steps": 16, "rnn_units": 128, "latent": 20},
)
