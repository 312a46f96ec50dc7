"""The auxiliary VAE of Maaloe, Sonderby, Sonderby & Winther, "Auxiliary Deep Generative Models"
(ICML 2016).

``model`` (:class:`AuxiliaryVAE`), ``configs`` (:class:`AuxiliaryConfig`, named
configurations), ``family`` (evaluation hooks), ``cli`` (``tfgen train auxiliary``). The model
is imported on first use, so the command line's help needs no TensorFlow.
"""
from zoo.auxiliary.configs import CONFIGS, AuxiliaryConfig  # noqa: F401


def __getattr__(name):
    if name == "AuxiliaryVAE":
        from zoo.auxiliary.model import AuxiliaryVAE

        return AuxiliaryVAE
    raise AttributeError(f"module 'zoo.auxiliary' has no attribute {name!r}")
