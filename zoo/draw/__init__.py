"""DRAW (Gregor et al. 2015): a recurrent encoder and decoder that read and write through attention
windows, building the image on a canvas over T steps.

``model`` (:class:`DRAW`), ``configs`` (:class:`DRAWConfig`), ``family`` (test log-likelihood by
IWAE_k), ``cli`` (``tfgen train draw``, ``tfgen figures draw``), ``figures`` (the canvas sequence).
"""

from zoo.draw.configs import CONFIGS, DRAWConfig  # noqa: F401


def __getattr__(name):
    if name == "DRAW":
        from zoo.draw.model import DRAW

        return DRAW
    raise AttributeError(f"module 'zoo.draw' has no attribute {name!r}")
