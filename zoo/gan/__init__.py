"""A GAN built on a classifier-based density-ratio estimator (Goodfellow et al. 2014), trained with
its own ``train_step`` through ``fit()``.

``model`` (:class:`GAN`), ``configs`` (:class:`GANConfig`), ``family`` (samples; the test figures
are measured at training), ``cli`` (``tfgen train gan``). The model is imported on first use.
"""

from zoo.gan.configs import CONFIGS, GANConfig  # noqa: F401


def __getattr__(name):
    if name in ("GAN", "two_sample_figures"):
        import importlib

        return getattr(importlib.import_module("zoo.gan.model"), name)
    raise AttributeError(f"module 'zoo.gan' has no attribute {name!r}")
