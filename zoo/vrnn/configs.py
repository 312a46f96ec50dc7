"""Hyper-parameters of the VRNN family and its named configurations.

Chung et al., "A Recurrent Latent Variable Model for Sequential Data" (NIPS 2015): an LSTM
state ``h_t``, a diagonal-Gaussian prior ``p(z_t | h_{t-1})`` and posterior
``q(z_t | x_t, h_{t-1})``, an emission ``p(x_t | z_t, h_{t-1})`` and feature networks
``phi_x``, ``phi_z``. Trained with the ELBO, VAE_K, IWAE_K or FIVO (Maddison et al.,
"Filtering Variational Objectives", NIPS 2017).

* ``cpu`` (the default): LSTM 64, ``z`` 32, features 64; fast enough for JSB Chorales on one
  CPU core (docs/vrnn.md).
* ``maddison2017``: the defaults of Maddison et al.'s reference code (tensorflow/models,
  ``research/fivo/run_fivo.py``): ``--latent_size=64`` for the LSTM, the latent state and the
  feature layers alike, trained with FIVO, ``--num_samples=4`` particles, ``--batch_size=4``,
  ``--learning_rate=0.0002``.

:data:`TRAINING` holds each configuration's batch size and learning rate, the defaults of
``tfgen train vrnn --config NAME`` (flags override them).

No TensorFlow here: the command line reads these to build its help.
"""
import dataclasses

from tfgen.config import ESTIMATORS, Registry, check_choice, check_float, check_int, check_k, field

OBJECTIVES = ("elbo", "vae", "iwae", "fivo")
LIKELIHOODS = ("bernoulli", "gaussian")


@dataclasses.dataclass
class VRNNConfig:
    """Hyper-parameters of :class:`zoo.vrnn.VRNN`; defaults are the ``cpu`` configuration."""

    input_dim: int = field(88, "values per frame x_t: 88 piano keys (MIDI 21..108) for JSB Chorales "
                           "(Boulanger-Lewandowski et al. 2012); set from the data by tfgen train vrnn",
                           flag=False)
    rnn_units: int = field(64, "units of the LSTM state h_t (Maddison et al.'s reference code: 64)")
    latent: int = field(32, "units of the latent z_t per time step (Maddison et al.'s reference code: 64)")
    features: int = field(64, "units of phi_x (2 ReLU layers), phi_z (1 layer) and the one hidden ReLU "
                          "layer of the prior, posterior and emission heads (Maddison et al.'s reference "
                          "code: 64)")
    likelihood: str = field("bernoulli", "emission p(x_t | z_t, h_{t-1}): bernoulli for binary piano rolls, "
                            "gaussian (learned diagonal scale) for real-valued frames", choices=LIKELIHOODS)
    k: int = field(1, "samples (VAE_K, IWAE_K) or particles (FIVO) per sequence in training "
                   "(Maddison et al. 2017: 4)")
    objective: str = field("elbo", "bound trained, on log p(x_{1:T}) of whole sequences: elbo, vae (mean "
                           "of k ELBOs), iwae (Burda et al. 2016) or fivo (Maddison et al. 2017)",
                           choices=OBJECTIVES)
    estimator: str = field("total", "gradient estimator: total (reparameterised) or path (the path "
                           "derivative of Roeder, Wu & Duvenaud 2017)", choices=ESTIMATORS)
    resample_threshold: float = field(0.5, "FIVO resamples a sequence's particles when their effective "
                                      "sample size falls below this fraction of k (Maddison et al. "
                                      "2017: 0.5); 0 never resamples, making FIVO equal IWAE_K")
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        for name in ("input_dim", "rnn_units", "latent", "features"):
            setattr(self, name, check_int(name, getattr(self, name)))
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        self.k = check_k(self.k)
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("estimator", self.estimator, ESTIMATORS)
        self.resample_threshold = check_float("resample_threshold", self.resample_threshold, 0.0)


# Batch size and Adam's rate each named configuration trains with by default.
TRAINING = {
    "cpu": {"batch_size": 16, "learning_rate": 1e-3},
    "maddison2017": {"batch_size": 4, "learning_rate": 2e-4},
}

CONFIGS = Registry(
    VRNNConfig,
    cpu={},
    maddison2017={"rnn_units": 64, "latent": 64, "features": 64, "objective": "fivo", "k": 4},
)
