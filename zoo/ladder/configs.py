"""Hyper-parameters of the Ladder VAE and its named configurations.

Sonderby, Raiko, Maaloe, Sonderby & Winther, "Ladder Variational Autoencoders" (NeurIPS 2016).
Their MNIST models have up to 5 stochastic layers of 64, 32, 16, 8 and 4 units, each above a
deterministic MLP of two layers (512, 256, 128, 64, 32 units), with batch normalisation and
deterministic warm-up of the KL terms (:class:`tfgen.callbacks.KLWarmup`). The inference and
generative models share the top-down path: ``q(z_l | ...)`` is the precision-weighted merge
of the bottom-up estimate and the top-down prior (their eq. 18-19).

No TensorFlow here: the command line reads these to build its help.
"""
import dataclasses

from tfgen.config import (
    BOUNDS,
    ESTIMATORS,
    ImageConfig,
    Registry,
    check_choice,
    check_int,
    check_k,
    check_sizes,
    field,
)

LATENT = (64, 32, 16, 8, 4)
HIDDEN = (512, 256, 128, 64, 32)
MAX_LAYERS = 5


@dataclasses.dataclass
class LadderConfig(ImageConfig):
    """Hyper-parameters of :class:`zoo.ladder.LadderVAE`; defaults follow Sonderby et al. (2016) on MNIST."""

    activation: str = field("leaky_relu", "activation of the deterministic hidden layers")
    layers: int = field(5, f"stochastic layers, 1 to {MAX_LAYERS}")
    latent: tuple = field(None, "units of each stochastic layer, bottom first [default: the first "
                          "`layers` of 64,32,16,8,4]")
    hidden: tuple = field(None, "units of the two deterministic layers below each stochastic layer, bottom "
                          "first [default: the first `layers` of 512,256,128,64,32]")
    batch_norm: bool = field(True, "batch normalisation in every deterministic layer (Sonderby et al.: "
                             "needed for deep models)")
    k: int = field(1, "importance samples per example in training")
    objective: str = field("vae", "bound trained: vae / elbo (the mean of k single-sample ELBOs) or iwae",
                           choices=BOUNDS)
    estimator: str = field("total", "gradient estimator: total (reparameterised) or path (Roeder et al. "
                           "2017)", choices=ESTIMATORS)
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        super().__post_init__()
        if self.encoder != "mlp" or self.decoder != "mlp":
            raise ValueError("The Ladder VAE is built of MLPs: encoder and decoder must be mlp.")
        self.layers = check_int("layers", self.layers)
        if self.layers > MAX_LAYERS and (self.latent is None or self.hidden is None):
            raise ValueError(f"The default sizes cover {MAX_LAYERS} layers; give latent and hidden for "
                             f"layers={self.layers}.")
        self.latent = check_sizes("latent", self.latent or LATENT[:self.layers], self.layers)
        self.hidden = check_sizes("hidden", self.hidden or HIDDEN[:self.layers], self.layers)
        self.batch_norm = bool(self.batch_norm)
        self.k = check_k(self.k)
        check_choice("objective", self.objective, BOUNDS)
        check_choice("estimator", self.estimator, ESTIMATORS)


CONFIGS = Registry(
    LadderConfig,
    sonderby2016_l5={"layers": 5},
    sonderby2016_l2={"layers": 2},
    # A one-layer model: the ladder reduces to a VAE with a batch-normalised MLP encoder.
    sonderby2016_l1={"layers": 1},
)
