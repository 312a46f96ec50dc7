"""Hyper-parameters of the sigmoid belief network family and its named configurations.

Mnih & Gregor (2014), "Neural Variational Inference and Learning in Belief Networks", sec. 6.1,
and Mnih & Rezende (2016), "Variational Inference for Monte Carlo Objectives", sec. 6.1, train
sigmoid belief networks (SBNs) on binarized MNIST: layers of 200 binary units, each conditional
``p(h_l | h_{l+1})``, ``q(h_{l+1} | h_l)`` a logistic regression on the layer before (a *linear*
SBN; ``hidden`` adds tanh layers inside each conditional), a factorial Bernoulli prior on the top
layer, and a Bernoulli ``p(x | h_1)``.

No TensorFlow here: the command line reads these to build its help.
"""
import dataclasses

from tfgen.config import (
    BOUNDS,
    DISCRETE,
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

ESTIMATORS = SCORE_FUNCTION + DISCRETE


@dataclasses.dataclass
class SBNConfig(ImageConfig):
    """Hyper-parameters of :class:`zoo.sbn.SBN`."""

    layers: int = field(1, "stochastic layers of binary units")
    latent: tuple = field(None, "binary units of each stochastic layer, bottom first [default: 200 each, "
                          "as Mnih & Gregor 2014]")
    hidden: tuple = field(None, "tanh units inside each conditional, ';' between layers: layer 1's are the "
                          "encoder x -> h1 and (mirrored) the decoder h1 -> x, layer l's those of "
                          "q(h_l | h_{l-1}) and p(h_{l-1} | h_l); empty for a linear SBN [default: empty]")
    k: int = field(1, "samples per example in training (the bound's k)")
    objective: str = field("elbo", "bound trained: elbo / vae, iwae (the multi-sample bound) or renyi "
                           "(with --alpha)", choices=BOUNDS)
    alpha: float = field(0.5, "alpha of the renyi objective: 1 is the ELBO, 0 the IWAE bound")
    estimator: str = field("nvil", "gradient estimator of the binary posterior: reinforce, reinforce_ma "
                           "(moving-average baseline), nvil (Mnih & Gregor 2014), vimco (Mnih & Rezende "
                           "2016, k >= 2), taylor (the tutorial's first-order Taylor baseline, Gregor et al. "
                           "2014; biased) or concrete (the binary Concrete relaxation, Maddison et al. 2017; "
                           "biased); see docs/estimators.md", choices=ESTIMATORS)
    temperature: float = field(2.0 / 3.0, "temperature of the concrete estimator's relaxation (our "
                               "default; lower is closer to binary and noisier)")
    baseline_hidden: tuple = field((100,), "tanh units of nvil's baseline network b(x) (Mnih & Gregor "
                                   "2014: one layer of 100)")
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        super().__post_init__()
        self.layers = check_int("layers", self.layers)
        self.latent = check_sizes("latent", self.latent if self.latent is not None else (200,) * self.layers,
                                  self.layers)
        self.hidden = check_layer_sizes("hidden", self.hidden if self.hidden is not None
                                        else ((),) * self.layers)
        if len(self.hidden) != self.layers:
            raise ValueError(f"layers={self.layers} needs that many hidden stacks, got hidden={self.hidden}.")
        self.k = check_k(self.k)
        check_choice("objective", self.objective, BOUNDS)
        self.alpha = check_float("alpha", self.alpha)
        check_choice("estimator", self.estimator, ESTIMATORS)
        if self.estimator == "vimco" and self.k < 2:
            raise ValueError("estimator vimco (a leave-one-out baseline) needs k >= 2.")
        self.temperature = check_float("temperature", self.temperature, 0.0, strict=True)
        self.baseline_hidden = check_sizes("baseline_hidden", self.baseline_hidden)


CONFIGS = Registry(
    SBNConfig,
    # Mnih & Gregor (2014): a linear SBN of 200 units, the ELBO, NVIL's baselines.
    nvil200={},
    # Mnih & Rezende (2016): the multi-sample bound with VIMCO (they train with k = 2..50).
    vimco200={"objective": "iwae", "k": 5, "estimator": "vimco"},
    # The three-layer SBN 200-200-200 of both papers.
    sbn200x3={"layers": 3, "objective": "iwae", "k": 5, "estimator": "vimco"},
)
