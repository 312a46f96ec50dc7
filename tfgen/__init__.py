"""tfgen: deep latent-variable generative models for Keras 3.

Every model exposes log importance weights ``log_w[k, b] = log p(x_b, z_kb) - log q(z_kb | x_b)``
(see :mod:`tfgen.model`); bounds, estimators and metrics are functions of them
(:mod:`tfgen.objectives`). Importing ``tfgen`` itself loads neither TensorFlow nor Keras; the
modules that need them check the Keras backend (:mod:`tfgen.backend`).

Imported before TensorFlow, it sets two defaults of TensorFlow's environment (a value the
user set stands): ``KERAS_BACKEND=tensorflow``, and on x86-64 ``TF_ENABLE_ONEDNN_OPTS=1``,
TensorFlow's oneDNN kernels, which it turns on by itself only on CPUs with AVX-512 VNNI or
newer. On a 2-core AMD EPYC without AVX-512 they raised the 2048^3 float32 matmul from 112
to 153 GFLOP/s and cut the hierarchical model's training step from 171 to 119 ms
(docs/benchmarks.md); results differ from the Eigen kernels' by float round-off.
``TF_ENABLE_ONEDNN_OPTS=0`` keeps TensorFlow's own choice.
"""
import os
import platform

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.2.0.dev0"


def quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up log lines, and keep its Python logger to errors.

    For notebooks and scripts whose output people read. TensorFlow writes C++ INFO lines
    ("Could not find cuda drivers", "failed call to cuInit", ...) straight to the stderr file
    descriptor before its logging is set up, where ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them
    (and Jupyter shows them in cell outputs); this imports TensorFlow and initialises its
    devices with that descriptor pointed at ``os.devnull``, sets ``TF_CPP_MIN_LOG_LEVEL=2``
    unless it is set (no C++ INFO or WARNING lines later), and sets TensorFlow's Python
    logger to ``ERROR`` (no retracing warnings). Errors still raise. Call it before anything
    imports TensorFlow; afterwards it only sets the logger.
    """
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
