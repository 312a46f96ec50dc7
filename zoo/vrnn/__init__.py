"""The VRNN of Chung et al., "A Recurrent Latent Variable Model for Sequential Data" (NIPS 2015),
trained with the ELBO, VAE_K, IWAE_K or FIVO (Maddison et al., "Filtering Variational
Objectives", NIPS 2017).

``model`` (:class:`VRNN`, :func:`bounds_per_step`, :class:`HeldOutBounds`), ``configs``
(:class:`VRNNConfig`, named configurations), ``family`` (evaluation and sampling hooks),
``figures`` (piano rolls), ``cli`` (``tfgen train vrnn``). The model is imported on first use,
so the command line's help needs no TensorFlow.
"""
from zoo.vrnn.configs import CONFIGS, VRNNConfig  # noqa: F401

_LAZY = {"VRNN": "zoo.vrnn.model", "bounds_per_step": "zoo.vrnn.model", "HeldOutBounds": "zoo.vrnn.model",
         "paper_optimizer": "zoo.vrnn.model"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.vrnn' has no attribute {name!r}")
