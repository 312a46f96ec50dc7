"""What a preset measures, on which data, and how it samples: one hook per kind of zoo model.

The preset builder (:mod:`zoo.presets.build`), ``tfgen evaluate`` and ``tfgen sample`` ask
:func:`of` for the model's :class:`Family` and call its methods, so each family's test
data, test figure and samples are defined once:

================  =========================  ===============================================
family            models                     test figure (``measure``, key ``log_likelihood``)
================  =========================  ===============================================
``image``         IWAE / VAE, LagVAE, ...    ``log p(x)`` by the IWAE_k estimate, nats per
                                             image (Burda et al. 2016, k = 5000), on
                                             ``tfgen.data.load(dataset, split)``
``sequence``      :class:`zoo.vrnn.VRNN`     IWAE_k log-likelihood in nats per time step
                                             (total over sequences / total steps, as
                                             Maddison et al. 2017 report JSB; k = 1000),
                                             plus FIVO with the model's k and the one-sample
                                             ELBO (:func:`zoo.vrnn.evaluate`), on the split
                                             of :func:`zoo.vrnn_cli.load_split`
``distortion``    :class:`zoo.distortion`    the ELBO with dequantisation in nats per image
                  ``.TopDownVAE`` and its    (k = 1; IWAE_k for k > 1) and the measures of
                  ``SecondaryVAE``           ``model.evaluate``: ``bits_per_dim``,
                                             ``distortion``, ``rate``, ``kl_{layer}``, on the
                                             raw uint8 images of the split
================  =========================  ===============================================

Every measurement takes a ``seed``: the same seed on the same weights repeats the figure,
which is how a test re-checks a preset's quick figure (``quick_k`` samples, on the first
``quick_examples`` test examples when set).
"""
import math
import os

import keras
import numpy as np
import tensorflow as tf

from tfgen import data, evaluation, objectives
from zoo import distortion, vrnn, vrnn_cli
from zoo.presets import sample_grid


class Family:
    """The image family, and the interface every family implements."""

    name = "image"
    program = "tfgen train"  # the command that trains this family's runs
    unit = "nats"
    default_k = 5000  # importance samples of the recorded test figure (Burda et al. 2016)
    quick_k = 100
    quick_examples = None  # the whole split
    default_num = 64  # samples drawn by `tfgen sample`
    model_classes = ()  # the image family is the fallback of :func:`of`

    def test_data(self, settings, split="test", batch_size=100):
        """The ``split`` of the run's dataset as the model's ``evaluate()`` takes it."""
        return data.load(settings["dataset"], split, batch_size)

    def measure(self, model, dataset, k, seed=0, verbose=0):
        """``{"log_likelihood": mean log p(x) estimate with k samples}`` (nats per example)."""
        ll = evaluation.log_likelihood(model, dataset, objectives.check_k(k), max_rows=8192, verbose=verbose,
                                       seed=seed)
        return {"log_likelihood": float(ll.mean())}

    def passes(self, settings, metrics):
        """Epochs trained (a run on the paper's schedule records the passes it ran)."""
        return (metrics.get("schedule") or {}).get("passes", settings.get("epochs", metrics.get("epochs")))

    def optimizers(self, settings):
        """``{"optimizer": config, ...}`` to record when the run's config.json holds none."""
        return {}

    def command(self, settings):
        """The training command rebuilt from a run's recorded settings."""
        flags = []
        for key, value in settings.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                flags.append(flag)
            elif value is not None and value is not False:
                flags.append(f"{flag} {value}")
        return " ".join([self.program] + flags)

    def sample(self, model, settings, out, num=None, seed=None, scale=4, steps=None):
        """Write ``num`` samples tiled into a grey PNG grid at ``out``; return the grid."""
        from matplotlib import image

        if steps is not None:
            raise ValueError(f"--steps is for sequence models; a {type(model).__name__} samples images.")
        grid = sample_grid(model, settings["dataset"], num or self.default_num, seed=seed)
        grid = np.kron(grid, np.ones((scale, scale), dtype=grid.dtype))
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        image.imsave(out, grid, cmap="gray", vmin=0.0, vmax=1.0)
        return grid


class SequenceFamily(Family):
    """VRNN runs (``tfgen vrnn-train``): JSB piano rolls or an ``.npz`` of sequences."""

    name = "sequence"
    program = "tfgen vrnn-train"
    unit = "nats per time step"
    default_k = 1000  # as docs/vrnn.md reports the JSB test log-likelihood
    quick_k = 100
    default_num = 1
    default_steps = 64
    model_classes = (vrnn.VRNN,)

    def test_data(self, settings, split="test", batch_size=100):
        return vrnn_cli.load_split(settings["dataset"], split, batch_size)

    def measure(self, model, dataset, k, seed=0, verbose=0):
        """:func:`zoo.vrnn.evaluate`: ``log_likelihood`` is its ``iwae_k{k}_per_step``."""
        result = vrnn.evaluate(model, dataset, iwae_k=objectives.check_k(k), seed=seed)
        return {"log_likelihood": result[f"iwae_k{k}_per_step"], **result}

    def passes(self, settings, metrics):
        return metrics.get("epochs", settings.get("epochs_done", settings.get("epochs")))

    def optimizers(self, settings):
        if "learning_rate" not in settings:
            return {}
        return {"optimizer": keras.optimizers.serialize(vrnn.paper_optimizer(settings["learning_rate"]))}

    def command(self, settings):
        return super().command({key: value for key, value in settings.items() if key != "epochs_done"})

    def sample(self, model, settings, out, num=None, seed=None, scale=4, steps=None):
        """A generated sequence of ``steps`` frames plotted as a piano roll (``[steps, D]``)."""
        if (num or 1) != 1:
            raise ValueError(f"A piano-roll PNG shows one sequence: use --num 1, not {num} "
                             "(tfgen vrnn-sample --npz writes many).")
        steps = self.default_steps if steps is None else steps
        roll = model.sample(1, steps, seed=seed)[0]
        vrnn_cli.plot_piano_roll(roll, out, title=f"VRNN sample ({steps} steps, seed {seed})")
        return roll


class DistortionFamily(Family):
    """Distortion-targeted VAEs (``tfgen distortion-train``): raw 8-bit images, ELBO k = 1."""

    name = "distortion"
    program = "tfgen distortion-train"
    unit = "nats per image (ELBO)"
    default_k = 1  # the model's ELBO, as docs/distortion.md reports it
    quick_k = 1
    quick_examples = 1000
    model_classes = (distortion.TopDownVAE,)

    def test_data(self, settings, split="test", batch_size=100):
        """Raw pixels 0..255 (the model dequantises them itself)."""
        images = data.load_images(settings["dataset"], split)
        return tf.data.Dataset.from_tensor_slices(images).batch(batch_size)

    def measure(self, model, dataset, k, seed=0, verbose=0):
        """``model.evaluate`` on ``dataset`` with the model's noise generator started at ``seed``.

        ``log_likelihood`` is the ELBO (``k = 1``) or the IWAE_k bound on the 8-bit image's
        log-probability (:func:`tfgen.evaluation.log_likelihood`) for ``k > 1``.
        """
        k = objectives.check_k(k)
        if not model.compiled:
            model.compile(optimizer="adam")  # evaluate() needs a compiled model; the optimizer is unused
        saved = model.seed_generator.state.numpy()
        model.seed_generator.state.assign(keras.random.SeedGenerator(seed).state.numpy())
        try:
            logs = model.evaluate(dataset, verbose=verbose, return_dict=True)
        finally:
            model.seed_generator.state.assign(saved)  # measuring leaves the model's noise as it was
        figures = {key: float(value) for key, value in logs.items()}
        if k == 1:
            figures["log_likelihood"] = figures["elbo"]
        else:
            figures["log_likelihood"] = super().measure(model, dataset, k, seed, verbose)["log_likelihood"]
            figures[f"bits_per_dim_k{k}"] = -figures["log_likelihood"] / (model.config.dims * math.log(2.0))
        return figures

    def optimizers(self, settings):
        if "learning_rate" not in settings:
            return {}
        optimizer, dual = distortion.paper_optimizers(
            settings["learning_rate"], settings.get("dual_learning_rate", 2e-4), settings.get("clipnorm"))
        return {"optimizer": keras.optimizers.serialize(optimizer),
                "dual_optimizer": keras.optimizers.serialize(dual)}

    def passes(self, settings, metrics):
        """Epochs actually run: ``steps * batch / train_images`` (``--max-minutes`` stops mid-epoch)."""
        if metrics.get("steps") and metrics.get("train_images") and settings.get("batch_size"):
            steps_per_epoch = math.ceil(metrics["train_images"] / settings["batch_size"])
            return round(metrics["steps"] / steps_per_epoch, 2)
        return metrics.get("epochs", settings.get("epochs"))


IMAGE, SEQUENCE, DISTORTION = Family(), SequenceFamily(), DistortionFamily()
FAMILIES = (SEQUENCE, DISTORTION, IMAGE)


def of(model):
    """The :class:`Family` of ``model``: the first whose ``model_classes`` it is an instance of,
    else the image family."""
    for family in FAMILIES:
        if isinstance(model, family.model_classes):
            return family
    return IMAGE


def subset(dataset, examples, batch_size=100):
    """The first ``ceil(examples / batch_size)`` batches of ``dataset`` (all of it for ``None``)."""
    return dataset if examples is None else dataset.take(math.ceil(examples / batch_size))


def count(dataset):
    """Examples in a batched ``dataset``."""
    return sum(int(tf.nest.flatten(batch)[0].shape[0]) for batch in dataset)
