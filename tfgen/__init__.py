"""tfgen: deep latent-variable generative models for Keras 3.

Every model exposes log importance weights ``log_w[k, b] = log p(x_b, z_kb) - log q(z_kb | x_b)``
(see :mod:`tfgen.model`); bounds, estimators and metrics are functions of them
(:mod:`tfgen.objectives`). Importing ``tfgen`` itself loads neither TensorFlow nor Keras; the
modules that need them check the Keras backend (:mod:`tfgen.backend`).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.2.0.dev0"
