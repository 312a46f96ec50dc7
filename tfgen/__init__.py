"""tfgen: deep latent-variable generative models for Keras 3.

Every model exposes log importance weights ``log_w[k, b] = log p(x_b, z_kb) - log q(z_kb | x_b)``
(see :mod:`tfgen.model`); bounds, estimators and metrics are functions of them
(:mod:`tfgen.objectives`).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "tfgen needs the TensorFlow backend of Keras 3, but KERAS_BACKEND is "
        f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow before importing tfgen."
    )

__version__ = "0.1.0"
