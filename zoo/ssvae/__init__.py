"""Semi-supervised VAEs: M2 (Kingma et al. 2014) and the auxiliary deep generative model
(Maaloe et al. 2016), trained through ``fit()`` on a few labelled and many unlabelled images.

``model`` (:class:`SemiSupervisedVAE`, the data helpers), ``configs`` (:class:`SSVAEConfig`,
named configurations), ``family`` (test log-likelihood and classification error), ``cli``
(``tfgen train ssvae``). The model is imported on first use, so the command line's help needs
no TensorFlow.
"""

from zoo.ssvae.configs import CONFIGS, SSVAEConfig  # noqa: F401

_LAZY = {
    name: "zoo.ssvae.model"
    for name in ("SemiSupervisedVAE", "labelled_subset", "semi_supervised_batches", "ClassificationError")
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.ssvae' has no attribute {name!r}")
