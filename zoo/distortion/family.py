"""The distortion family's hooks: raw 8-bit test images, the ELBO figure with its parts, samples.

A run of ``tfgen train distortion`` records its test figures in ``metrics.json`` under the keys
``tfgen evaluate`` writes: ``test_log_likelihood_k1`` (the ELBO, nats per image) and
``test_log_likelihood_k1_{name}`` for ``bits_per_dim``, ``distortion`` (sum of squared errors
per image on [0, 1]), ``rate`` (nats), ``kl_{layer}``, ``reconstruction``, ``lambda_distortion``
...; a secondary VAE's run records its primary's on the same images under ``primary``.
"""
import math

from zoo.families import Family

FIGURE = "test_log_likelihood_k1"  # metrics.json key of the test ELBO; its parts are FIGURE_{name}


def figures_of(metrics):
    """``{name: value}`` of the test figures recorded in a run's ``metrics`` (``elbo``,
    ``distortion``, ``rate``, ``kl_{layer}``, ``bits_per_dim``, ...)."""
    prefix = FIGURE + "_"
    return {key[len(prefix):]: value for key, value in metrics.items() if key.startswith(prefix)}


def test_stream(settings, split="test", batch_size=100):
    """Raw pixels ``uint8 [batch, size, size, c]`` of ``split``, in order, as a run measured them:
    resized to ``--image-size``, and for the test split the ``--test-size`` subset (a random
    subset seeded by ``--seed + 1`` for data held in memory, the first images of a TFDS split)."""
    from tfgen import data

    limit = settings.get("test_size") if split == "test" else None
    seed = (settings.get("seed") or 0) + 1
    return data.stream(settings["dataset"], split, batch_size, shuffle=False, seed=seed,
                       size=settings.get("image_size"), limit=limit)


class DistortionFamily(Family):
    """Distortion-targeted VAEs (``tfgen train distortion``): the ELBO with dequantisation (k = 1)."""

    name = "distortion"
    references = ('"Mind Your Bits and Errors: Prioritizing the Bits that Matter in Variational '
                  'Autoencoders", anonymous ICLR 2021 submission',)
    unit = "nats per image (ELBO)"
    default_k = 1  # the model's ELBO, as docs/distortion.md reports it
    quick_k = 1
    quick_examples = 1000

    def test_data(self, model, settings, split="test", batch_size=100):
        """Raw pixels 0..255 (the model dequantises them itself); see :func:`test_stream`."""
        return test_stream(settings, split, batch_size)

    def measure(self, model, dataset, k, seed=0, verbose=0):
        """``model.evaluate`` on ``dataset`` with the model's noise generator started at ``seed``.

        Returns every logged metric (``elbo``, ``bits_per_dim``, ``distortion``, ``rate``,
        ``kl_{layer}``, ...) and ``log_likelihood``: the ELBO for ``k = 1``, else the IWAE_k
        bound on the 8-bit image's log-probability (:func:`tfgen.evaluation.log_likelihood`)
        with ``bits_per_dim_k{k}``. The model's noise is left as it was.
        """
        import keras

        from tfgen import objectives

        k = objectives.check_k(k)
        if not model.compiled:
            model.compile(optimizer="adam")  # evaluate() needs a compiled model; the optimizer is unused
        saved = model.seed_generator.state.numpy()
        model.seed_generator.state.assign(keras.random.SeedGenerator(seed).state.numpy())
        try:
            logs = model.evaluate(dataset, verbose=verbose, return_dict=True)
        finally:
            model.seed_generator.state.assign(saved)
        figures = {key: float(value) for key, value in logs.items()}
        if k == 1:
            figures["log_likelihood"] = figures["elbo"]
        else:
            figures["log_likelihood"] = super().measure(model, dataset, k, seed, verbose)["log_likelihood"]
            figures[f"bits_per_dim_k{k}"] = -figures["log_likelihood"] / (model.config.dims * math.log(2.0))
        return figures


FAMILY = DistortionFamily()
