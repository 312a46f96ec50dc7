"""The Ladder VAE of Sonderby, Raiko, Maaloe, Sonderby & Winther, "Ladder Variational
Autoencoders" (NeurIPS 2016).

``model`` (:class:`LadderVAE`), ``configs`` (:class:`LadderConfig`, named configurations),
``family`` (evaluation hooks), ``cli`` (``tfgen train ladder``). The model is imported on
first use, so the command line's help needs no TensorFlow.
"""
from zoo.ladder.configs import CONFIGS, LadderConfig  # noqa: F401


def __getattr__(name):
    if name == "LadderVAE":
        from zoo.ladder.model import LadderVAE

        return LadderVAE
    raise AttributeError(f"module 'zoo.ladder' has no attribute {name!r}")
