"""Hyper-parameters of the VAE / IWAE family and its named configurations.

Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (ICLR 2016), section 5:
stochastic MLPs with tanh hidden units, diagonal-Gaussian ``q(z_l | z_{l-1})`` and
``p(z_l | z_{l+1})``, ``p(z_L) = N(0, I)`` and a Bernoulli ``p(x | z_1)``.

* 1 stochastic layer: ``784 - 200 - 200 - 50`` (encoder), mirrored in the decoder.
* 2 stochastic layers: ``784 - 200 - 200 - 100 - 100 - 100 - 50``: z1 has 100 units
  (hidden 200-200), z2 has 50 units (hidden 100-100).

No TensorFlow here: the command line reads these to build its help.
"""
import dataclasses

from tfgen.config import (
    BOUNDS,
    PATHWISE,
    POSTERIORS,
    SCORE_FUNCTION,
    ImageConfig,
    Registry,
    check_choice,
    check_float,
    check_int,
    check_k,
    check_layer_sizes,
    check_sizes,
    field,
)

ESTIMATORS = PATHWISE + SCORE_FUNCTION

# Burda et al. (2016, sec. 5): latent units and the hidden layers below each stochastic layer.
ARCHITECTURES = {
    1: {"latent": (50,), "hidden": ((200, 200),)},
    2: {"latent": (100, 50), "hidden": ((200, 200), (100, 100))},
}


@dataclasses.dataclass
class IWAEConfig(ImageConfig):
    """Hyper-parameters of :class:`zoo.iwae.IWAE`; defaults are Burda et al.'s (2016, sec. 5)."""

    layers: int = field(1, "stochastic layers: 1 or 2 take Burda et al.'s sizes, other depths need "
                        "latent and hidden")
    latent: tuple = field(None, "units of each stochastic layer, bottom first (Burda et al.: 50 for 1 "
                          "layer, 100,50 for 2)")
    hidden: tuple = field(None, "hidden units of the deterministic layers below each stochastic layer, "
                          "';' between layers (Burda et al.: 200,200 or 200,200;100,100); the decoder "
                          "mirrors them")
    k: int = field(1, "importance samples per example in training (Burda et al.: 1, 5 or 50)")
    objective: str = field("iwae", "bound trained: iwae (Burda et al. eq. 8), vae / elbo (the mean of "
                           "k single-sample ELBOs) or renyi (Li & Turner 2016, with --alpha)", choices=BOUNDS)
    alpha: float = field(0.5, "alpha of the renyi objective: 1 is the ELBO, 0 the IWAE bound; lower is "
                         "tighter, a lower bound for alpha >= 0")
    estimator: str = field("total", "gradient estimator: total (reparameterised), path (Roeder, Wu & "
                           "Duvenaud 2017), dreg (Tucker et al. 2019), or a score function: reinforce, "
                           "reinforce_ma (moving-average baseline), nvil (Mnih & Gregor 2014), vimco (Mnih "
                           "& Rezende 2016, k >= 2); see docs/estimators.md",
                           choices=ESTIMATORS)
    posterior: str = field("gaussian", "q(z1|x): a diagonal gaussian, or one pushed through a planar flow "
                           "(Rezende & Mohamed 2015) or an inverse autoregressive flow (Kingma et al. 2016); "
                           "flows train with estimator total", choices=POSTERIORS)
    flow_steps: int = field(4, "steps of the planar or IAF posterior")
    flow_hidden: tuple = field((200,), "hidden units of each IAF step's masked autoregressive network")
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        super().__post_init__()
        self.layers = check_int("layers", self.layers)
        if self.latent is None or self.hidden is None:
            if self.layers not in ARCHITECTURES:
                raise ValueError(
                    f"Burda et al.'s architectures have 1 or 2 stochastic layers, got layers={self.layers}; "
                    "give latent and hidden for other depths."
                )
            self.latent = self.latent or ARCHITECTURES[self.layers]["latent"]
            self.hidden = self.hidden or ARCHITECTURES[self.layers]["hidden"]
        self.latent = check_sizes("latent", self.latent, self.layers)
        self.hidden = check_layer_sizes("hidden", self.hidden)
        if len(self.hidden) != self.layers:
            raise ValueError(f"layers={self.layers} needs that many hidden stacks, got hidden={self.hidden}.")
        self.k = check_k(self.k)
        check_choice("objective", self.objective, BOUNDS)
        self.alpha = check_float("alpha", self.alpha)
        check_choice("estimator", self.estimator, ESTIMATORS)
        if self.estimator == "vimco" and self.k < 2:
            raise ValueError("estimator vimco (a leave-one-out baseline) needs k >= 2.")
        check_choice("posterior", self.posterior, POSTERIORS)
        self.flow_steps = check_int("flow_steps", self.flow_steps)
        self.flow_hidden = check_sizes("flow_hidden", self.flow_hidden)
        if self.posterior != "gaussian" and self.estimator != "total":
            raise ValueError(f"posterior={self.posterior} trains with estimator total: the other "
                             "estimators need log q with its parameters held fixed at a given z, which a "
                             "flow gives only through its inverse.")


CONFIGS = Registry(
    IWAEConfig,
    burda2016_l1={"layers": 1},
    burda2016_l2={"layers": 2},
    # Burda et al.'s one-layer VAE with a flow posterior: 10 planar steps (Rezende & Mohamed 2015
    # compare lengths up to 80 on MNIST) or 2 IAF steps.
    rezende2015_planar={"layers": 1, "posterior": "planar", "flow_steps": 10},
    kingma2016_iaf={"layers": 1, "posterior": "iaf", "flow_steps": 2},
    # A convolutional encoder and decoder over 28x28 binary images.
    conv={"encoder": "conv", "decoder": "conv", "activation": "relu", "latent": (32,), "hidden": ((256,),)},
    # Intensities in [0, 1] (e.g. Fashion-MNIST) under a Gaussian likelihood with learned scale.
    gaussian={"likelihood": "gaussian", "activation": "relu", "latent": (32,), "hidden": ((256, 256),)},
)
