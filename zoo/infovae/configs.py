"""Hyper-parameters of InfoVAE and the Lagrangian VAE, and their named configurations.

Zhao, Song & Ermon, "The Information Autoencoding Family: A Lagrangian Perspective on Latent
Variable Generative Models" (UAI 2018). The defaults are the authors' code
(github.com/ermongroup/lagvae): ``z`` of 64 units; encoder ``784 - 1024 - 1024`` softplus MLP
to the mean and log standard deviation of a diagonal Gaussian; decoder ``64 - 1024 - 1024 -
784`` softplus MLP to Bernoulli logits; MMD with their kernel and the biased estimator; and
their README's two examples::

    InfoVAE: python examples/ --mi=1.0 --e1=1.0 --e2=1.0     (e1, e2: fixed weights)
    LagVAE:  python examples/ --mi=1.0 --e1=86.0 --e2=5.0    (e1, e2: constraint targets)

No TensorFlow here: the command line reads these to build its help.
"""
import dataclasses

from tfgen.config import (
    MMD_ESTIMATORS,
    MMD_KERNELS,
    ImageConfig,
    Registry,
    check_choice,
    check_float,
    check_int,
    check_sizes,
    field,
)


@dataclasses.dataclass
class InfoVAEConfig(ImageConfig):
    """Hyper-parameters of :class:`zoo.infovae.InfoVAE`; defaults are the authors' (README's InfoVAE).

    ``e1`` and ``e2`` are InfoVAE's fixed Lagrange multipliers (weights); a
    :class:`LagVAEConfig` reads the same fields as constraint targets.
    """

    activation: str = field("softplus", "activation of the hidden layers of both networks (the authors': "
                            "softplus)")
    latent: int = field(64, "units of the latent z, a diagonal Gaussian q(z|x) under a N(0, I) prior "
                        "(the authors': 64)")
    hidden: tuple = field((1024, 1024), "hidden units of the encoder MLP, comma-separated, mirrored in the "
                          "decoder; a conv network's dense layer takes the last (the authors': 1024,1024)")
    mi: float = field(1.0, "weight of the mutual information I_q(x;z) in the primal: > 0 maximises it "
                      "through its lower bound H(x) - E_q[-log p(x|z)], < 0 minimises it through its upper "
                      "bound, the rate; 0 leaves the consistency alone (the authors' README: 1)")
    e1: float = field(1.0, "InfoVAE: fixed weight of the consistency, the negative ELBO in nats per example "
                      "(the authors' README: 1)")
    e2: float = field(1.0, "InfoVAE: fixed weight of 10000 x MMD^2(q(z), p(z)) over a batch (the authors' "
                      "README: 1)")
    kernel: str = field("authors", "kernel of the MMD (tfgen.divergences): authors is exp(-|a - b|^2 / d^2) "
                        "over d latent units, as the authors' code", choices=MMD_KERNELS)
    mmd_estimator: str = field("biased", "estimator of MMD^2 over a batch: biased (V-statistic, >= 0, the "
                               "authors') or unbiased (U-statistic)", choices=MMD_ESTIMATORS)
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        super().__post_init__()
        self.latent = check_int("latent", self.latent)
        self.hidden = check_sizes("hidden", self.hidden)
        self.mi = check_float("mi", self.mi)
        self.e1, self.e2 = self.check_e("e1", self.e1), self.check_e("e2", self.e2)
        check_choice("kernel", self.kernel, MMD_KERNELS)
        check_choice("mmd_estimator", self.mmd_estimator, MMD_ESTIMATORS)

    @staticmethod
    def check_e(name, value):
        """InfoVAE's ``e1``, ``e2`` are weights of penalties: finite and ``>= 0``."""
        return check_float(f"InfoVAE's weight {name}", value, 0.0)


@dataclasses.dataclass
class LagVAEConfig(InfoVAEConfig):
    """Hyper-parameters of :class:`zoo.infovae.LagVAE`: the README's LagVAE example as defaults.

    ``e1``, ``e2`` are targets; the multipliers start at 1 and move by projected dual ascent
    (RMSProp in the authors' ``methods/lagvae.py``), clipped to ``[lambda_min, lambda_max]``.
    """

    e1: float = field(86.0, "LagVAE: target of the consistency constraint E[negative ELBO] <= e1, nats per "
                      "example (the authors' README: 86)")
    e2: float = field(5.0, "LagVAE: target of the constraint 10000 x MMD^2(q(z), p(z)) <= e2, the MMD over a "
                      "training batch (the authors' README: 5, for batches of 250)")
    lambda_min: float = field(0.001, "LagVAE: lower clip of the learned multipliers, which start at 1 (the "
                              "authors': 0.001)")
    lambda_max: float = field(100.0, "LagVAE: upper clip of the learned multipliers (the authors': 100)")

    def __post_init__(self):
        super().__post_init__()
        self.lambda_min = check_float("lambda_min", self.lambda_min, 0.0, 1.0, strict=True)
        self.lambda_max = check_float("lambda_max", self.lambda_max, 1.0)
        if self.e2 < 0:
            raise ValueError(f"LagVAE's target e2 bounds 10000 x MMD^2, which is >= 0 in distribution; got "
                             f"{self.e2!r}.")

    @staticmethod
    def check_e(name, value):
        """LagVAE's ``e1``, ``e2`` are targets: any finite number."""
        return check_float(f"LagVAE's target {name}", value)


# Named configurations of each model (the first is its default), by the model's name.
_BLOCKS = {
    # A convolutional encoder and decoder over 28x28 images (dense layer of 256 units).
    "conv": {"encoder": "conv", "decoder": "conv", "activation": "relu", "hidden": (256,)},
    # Intensities in [0, 1] (e.g. Fashion-MNIST) under a Gaussian likelihood with learned scale.
    "gaussian": {"likelihood": "gaussian"},
}
INFOVAE_CONFIGS = Registry(InfoVAEConfig, zhao2018_infovae={"mi": 1.0, "e1": 1.0, "e2": 1.0}, **_BLOCKS)
LAGVAE_CONFIGS = Registry(LagVAEConfig, zhao2018_lagvae={"mi": 1.0, "e1": 86.0, "e2": 5.0}, **_BLOCKS)
CONFIGS = {"infovae": INFOVAE_CONFIGS, "lagvae": LAGVAE_CONFIGS}
