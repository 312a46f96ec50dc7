"""InfoVAE and the Lagrangian VAE of Zhao, Song & Ermon, "The Information Autoencoding Family: A
Lagrangian Perspective on Latent Variable Generative Models" (UAI 2018).

``model`` (:class:`InfoVAE`, :class:`LagVAE`, the held-out measures), ``configs``
(:class:`InfoVAEConfig`, :class:`LagVAEConfig`, named configurations), ``family`` (evaluation
hooks), ``cli`` (``tfgen train infovae --method infovae|lagvae``). The models are imported on
first use, so the command line's help needs no TensorFlow.
"""
from zoo.infovae.configs import CONFIGS, INFOVAE_CONFIGS, LAGVAE_CONFIGS, InfoVAEConfig, LagVAEConfig  # noqa: F401

_MODEL_ATTRIBUTES = ("InfoVAE", "LagVAE", "mutual_information", "held_out_measures", "paper_optimizer",
               "paper_dual_optimizer")
_LAZY = {name: "zoo.infovae.model" for name in _MODEL_ATTRIBUTES}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.infovae' has no attribute {name!r}")
