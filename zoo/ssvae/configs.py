"""Hyper-parameters of the semi-supervised VAEs and their named configurations.

* M2 of Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with Deep Generative
  Models" (NeurIPS 2014), sec. 4: MLPs with one hidden layer of 500 softplus units, ``z`` of
  50 units, the class ``y`` a categorical latent for unlabelled images.
* The auxiliary deep generative model (ADGM) of Maaloe, Sonderby, Sonderby & Winther,
  "Auxiliary Deep Generative Models" (ICML 2016), sec. 4: an auxiliary ``a`` of 100 units,
  ``z`` of 100, two hidden layers of 500 units.

The classification weight: Kingma et al. add ``alpha * E_labelled[-log q(y|x)]`` to the summed
bound with ``alpha = 0.1 N``; with the bound averaged over a batch of unlabelled and a batch
of labelled images that is ``classifier_weight = 0.1 N / N_labelled`` per labelled image (60
for 100 labels among 60,000 images; ``tfgen train ssvae`` sets it from the data with
``--alpha``).

No TensorFlow here: the command line reads these to build its help.
"""

import dataclasses

from tfgen.config import ImageConfig, Registry, check_float, check_int, check_k, check_sizes, field


@dataclasses.dataclass
class SSVAEConfig(ImageConfig):
    """Hyper-parameters of :class:`zoo.ssvae.SemiSupervisedVAE` (defaults: Kingma et al.'s M2)."""

    activation: str = field("softplus", "activation of every hidden layer (Kingma et al.: softplus)")
    classes: int = field(10, "classes of the categorical latent y (10 for MNIST / Fashion-MNIST)")
    latent: int = field(50, "units of the Gaussian latent z (Kingma et al.: 50; Maaloe et al.: 100)")
    auxiliary: int = field(0, "units of the auxiliary latent a of the ADGM (Maaloe et al.: 100); 0 is M2")
    hidden: tuple = field(
        (500,), "hidden units of every MLP, comma-separated (Kingma et al.: 500; Maaloe et al.: 500,500)"
    )
    classifier_weight: float = field(
        60.0,
        "weight of log q(y|x) per labelled image against the per-image "
        "bounds (Kingma et al.'s alpha = 0.1 N: 0.1 x 60000 / 100 = 60)",
    )
    k: int = field(1, "samples of z (and a) per image and class in the training bound")
    seed: int = field(None, "seed of the model's sampling noise (set from the run's --seed)", flag=False)

    def __post_init__(self):
        super().__post_init__()
        self.classes = check_int("classes", self.classes, 2)
        self.latent = check_int("latent", self.latent)
        self.auxiliary = check_int("auxiliary", self.auxiliary, 0)
        self.hidden = check_sizes("hidden", self.hidden)
        self.classifier_weight = check_float("classifier_weight", self.classifier_weight, 0.0)
        self.k = check_k(self.k)


CONFIGS = Registry(
    SSVAEConfig,
    kingma2014_m2={},
    maaloe2016_adgm={"auxiliary": 100, "latent": 100, "hidden": (500, 500)},
)
