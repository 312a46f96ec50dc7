"""Hyper-parameters of the auxiliary VAE and its named configurations.

Maaloe, Sonderby, Sonderby & Winther, "Auxiliary Deep Generative Models" (ICML 2016): an
auxiliary variable ``a`` makes the variational distribution ``q(a, z | x) = q(a | x) q(z | a, x)``
a continuous mixture, not a factorised Gaussian, in ``z``; the generative model is extended by
``p(a | x, z)`` so that its marginal over ``a`` is the model being fitted. The defaults give
the auxiliary model Burda et al.'s one-layer VAE sizes (``z`` of 50 units, tanh MLPs of 200,
200), so its gain over that VAE is the auxiliary variable's at the same encoder and decoder.

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


@dataclasses.dataclass
class AuxiliaryConfig(ImageConfig):
    """Hyper-parameters of :class:`zoo.auxiliary.AuxiliaryVAE`."""

    latent: int = field(50, "units of z, the latent variable of the generative model")
    auxiliary: int = field(50, "units of a, the auxiliary variable")
    hidden: tuple = field((200, 200), "hidden units of the x -> features MLP, mirrored by the decoder; the "
                          "conditionals q(z|a,x) and p(a|x,z) have two layers of the last size")
    k: int = field(1, "importance samples per example in training")
    objective: str = field("vae", "bound trained: vae / elbo (the mean of k single-sample ELBOs) or iwae",
                           choices=BOUNDS)
    estimator: str = field("total", "gradient estimator: total (reparameterised) or path (Roeder et al. "
                           "2017)", choices=ESTIMATORS)
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        super().__post_init__()
        if self.encoder != "mlp" or self.decoder != "mlp":
            raise ValueError("The auxiliary VAE is built of MLPs: encoder and decoder must be mlp.")
        self.latent = check_int("latent", self.latent)
        self.auxiliary = check_int("auxiliary", self.auxiliary)
        self.hidden = check_sizes("hidden", self.hidden)
        if not self.hidden:
            raise ValueError("hidden needs at least one layer.")
        self.k = check_k(self.k)
        check_choice("objective", self.objective, BOUNDS)
        check_choice("estimator", self.estimator, ESTIMATORS)


CONFIGS = Registry(
    AuxiliaryConfig,
    # Burda et al.'s one-layer sizes with an auxiliary variable of the same size as z.
    burda2016_l1_aux={},
)
