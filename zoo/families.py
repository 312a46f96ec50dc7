"""The registry of zoo families, and :class:`Family`, the hooks each one implements.

A family is a package ``zoo/<name>/`` holding its models (``model.py``), their typed
hyper-parameters and named configurations (``configs.py``), its command-line verbs
(``cli.py``) and a ``family.py`` whose ``FAMILY`` object says, for the models of the family,
which data a run was trained on, what its test figure is, and how it samples. ``tfgen
evaluate``, ``tfgen sample`` and the preset builder only ever talk to that object, found
from the model's own module (:func:`of`), so no command special-cases a model class.

==============  ================================  =============================================
family          models                            test figure (:meth:`Family.measure`)
==============  ================================  =============================================
``iwae``        VAE / IWAE (Burda et al. 2016)    ``log p(x)`` by the IWAE_k estimate, nats
                                                  per image (k = 5000)
``vrnn``        VRNN (Chung et al. 2015)          IWAE_k log-likelihood in nats per time step
                                                  (k = 1000), with FIVO and the ELBO
``infovae``     InfoVAE, LagVAE (Zhao et al.)     ``log p(x)`` by IWAE_k (k = 1000), with the
                                                  constraints' measures
``distortion``  TopDownVAE, SecondaryVAE          the ELBO with dequantisation, nats per image,
                                                  with bits/dim, distortion and rate
``sbn``         SBN (Mnih & Gregor 2014), binary  ``log p(x)`` by the IWAE_k estimate, nats
                latents                           per image (k = 5000)
``ladder``      Ladder VAE (Sonderby et al.)      ``log p(x)`` by IWAE_k, nats per image
                                                  (k = 5000)
``auxiliary``   AuxiliaryVAE (Maaloe et al.)      ``log p(x)`` by IWAE_k over ``(a, z)``, nats
                                                  per image (k = 5000)
``ssvae``       M2 (Kingma et al. 2014), ADGM     test classification error; ``log p(x)`` by
                (Maaloe et al. 2016)              IWAE_k (k = 1000), nats per image
``gan``         GAN on a density-ratio            none (no likelihood): kernel MMD and the
                classifier (Mohamed's tutorial)   classifier two-sample test, in metrics.json
``draw``        DRAW (Gregor et al. 2015)         the ELBO and ``log p(x)`` by IWAE_k, nats per
                                                  image
==============  ================================  =============================================

This module imports no TensorFlow: the command line reads the registry to build its help.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: this module imports no TensorFlow
    import argparse
    import types

    import keras
    import numpy as np
    import tensorflow as tf

    from tfgen.config import Registry

NAMES = ("iwae", "vrnn", "infovae", "distortion", "sbn", "ladder", "auxiliary", "ssvae", "gan", "draw")


def module(family: str, part: str) -> types.ModuleType:
    """``zoo.<family>.<part>`` (``"cli"``, ``"family"``, ``"configs"``, ``"model"``), imported."""
    if family not in NAMES:
        raise ValueError(f"Unknown family {family!r} (a run or preset from another version of tfgen?); "
                         f"the zoo has {list(NAMES)}.")
    return importlib.import_module(f"zoo.{family}.{part}")


def get(family: str) -> Family:
    """The :class:`Family` object of the family named ``family``."""
    return module(family, "family").FAMILY


def settings_of(args: argparse.Namespace, config: Any = None, exclude: Sequence[str] = ()) -> dict:
    """A training command's settings as a run records them: its flags but ``exclude`` (how to
    start, not what to train), and the resolved model ``config`` (a dataclass) under ``"model"``
    instead of the per-field model flags."""
    import dataclasses

    settings = {key: value for key, value in vars(args).items()
                if key not in ("verb", "family", "handler", *exclude) and not key.startswith("model_")}
    if config is not None:
        settings["model"] = dataclasses.asdict(config)
    return settings


def of(model: keras.Model) -> Family:
    """The :class:`Family` of a zoo ``model``, from the package its class is defined in."""
    parts = type(model).__module__.split(".")
    if len(parts) < 2 or parts[0] != "zoo" or parts[1] not in NAMES:
        raise ValueError(f"{type(model).__name__} ({type(model).__module__}) is not a zoo model; "
                         "zoo commands evaluate and sample the zoo's families only.")
    return get(parts[1])


def _flag(key, value):
    """``["--key value"]`` for a recorded setting (``[]`` when unset or false, ``["--key"]`` when
    true, as ``store_true`` flags; lists comma-separated, one ``;`` between nested lists)."""
    flag = "--" + key.replace("_", "-")
    if value is True:
        return [flag]
    if value is None or value is False:
        return []
    if isinstance(value, (list, tuple)):
        value = ";".join(",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for v in value) \
            if any(isinstance(v, (list, tuple)) for v in value) else ",".join(map(str, value))
    return [f"{flag} {value}"]


class Family:
    """Hooks of one family; the defaults are those of image models scored by IWAE_k.

    Attributes:
        name: the family's name (its package).
        unit: unit of the test figure.
        default_k: importance samples of the recorded test figure.
        quick_k, quick_examples: the quick figure a test re-checks a preset with.
        default_num: samples ``tfgen sample`` draws.
        references: the papers of the family's models, as preset model cards cite them.
    """

    name = None
    references = ()
    data_fields = ("seed", "image_shape")  # model fields a run sets from its data and --seed
    unit = "nats"
    default_k = 5000
    quick_k = 100
    quick_examples = None  # the whole split
    default_num = 64

    def test_data(self, model: keras.Model, settings: dict, split: str = "test",
                  batch_size: int = 100) -> tf.data.Dataset:
        """The ``split`` of the run's dataset as ``model.evaluate()`` takes it: binary pixels for
        a Bernoulli likelihood (grey images binarised once, with seed 0, so every evaluation
        scores the same images), intensities in [0, 1] otherwise."""
        from tfgen import data

        return data.load(settings["dataset"], split, batch_size, seed=0,
                         binarize=model.config.likelihood == "bernoulli")

    def measure(self, model: keras.Model, dataset: tf.data.Dataset, k: int, seed: int = 0,
                verbose: int = 0) -> dict[str, float]:
        """``{"log_likelihood": mean log p(x) estimate with k samples}`` (nats per example)."""
        from tfgen import evaluation, objectives

        ll = evaluation.log_likelihood(model, dataset, objectives.check_k(k), max_rows=8192, verbose=verbose,
                                       seed=seed)
        return {"log_likelihood": float(ll.mean())}

    def evaluate(self, model: keras.Model, settings: dict, dataset: tf.data.Dataset, k: int,
                 args: argparse.Namespace) -> dict:
        """Extra figures of ``tfgen evaluate`` beyond :meth:`measure` (``{key: value}``).

        ``args`` are the command's parsed flags; families with their own evaluation flags
        (e.g. the IWAE family's ``--remove-inactive``) read them here.
        """
        return {}

    def passes(self, settings: dict, metrics: dict) -> int | None:
        """Epochs trained."""
        return metrics.get("epochs", settings.get("epochs"))

    def registry(self, settings: dict) -> Registry:
        """The :class:`tfgen.config.Registry` of named configurations a run's ``--config`` names."""
        return module(self.name, "configs").CONFIGS

    def command(self, settings: dict) -> str:
        """The training command rebuilt from a run's recorded settings: its flags (not how it
        was started), then the model fields that differ from its named configuration's
        (``--config``), except those the run sets from its data and ``--seed`` (``data_fields``)."""
        import dataclasses
        import json

        registry = self.registry(settings)
        named = dataclasses.asdict(registry.get(settings.get("config") or registry.names()[0]))
        flags = []
        for key, value in settings.items():
            if key not in ("family", "model", "overwrite", "resume"):
                flags += _flag(key, value)
        for key, value in (settings.get("model") or {}).items():
            if key not in self.data_fields and json.dumps(value) != json.dumps(named.get(key)):
                flags += _flag(key, str(value).lower() if isinstance(value, bool) else value)
        return " ".join([f"tfgen train {self.name}"] + flags)

    def pictures(self, model: keras.Model, x: Any, seed: int = 0) -> dict[str, np.ndarray]:
        """What TensorBoard shows during training (:class:`tfgen.summaries.Pictures`):
        ``{"samples": grid of default_num samples, "reconstructions": rows of x over their
        reconstructions}``, drawn with ``seed`` (the same draws every epoch). ``x``: held-out
        images as the model takes them (8-bit pixels are shown divided by 255)."""
        import numpy as np

        from tfgen import images

        shape = model.config.image_shape
        drawn = {"samples": images.grid(model.sample(self.default_num, seed=seed), shape)}
        if x is not None:
            originals = np.asarray(x, dtype="float32")
            originals = originals / 255.0 if originals.max() > 1.0 else originals
            drawn["reconstructions"] = images.pairs(originals, model.reconstruct(x, seed=seed), shape)
        return drawn

    def pictures_of(self, validation: tf.data.Dataset | None, seed: int = 0,
                    examples: int = 32) -> Callable[[keras.Model], dict[str, np.ndarray]]:
        """The run driver's ``pictures`` (``model -> {name: picture}``) for a training run:
        :meth:`pictures` of the first ``examples`` held-out examples of ``validation`` (batches,
        or ``None``: none held out, samples only where the family can)."""
        import tensorflow as tf

        shown = None
        if validation is not None:
            shown = next(iter(validation.unbatch().batch(examples)))
            shown = tf.nest.map_structure(lambda t: t.numpy(), shown)
        return lambda model: self.pictures(model, shown, seed)

    def sample(self, model: keras.Model, settings: dict, out: str, num: int | None = None,
               seed: int | None = None, scale: int = 4, steps: int | None = None) -> np.ndarray:
        """Write ``num`` samples tiled into a PNG grid at ``out``; return the grid ``[H, W(, 3)]``."""
        from matplotlib import image

        from tfgen import images

        if steps is not None:
            raise ValueError(f"--steps is for sequence models; a {type(model).__name__} samples images.")
        grid = images.grid(model.sample(num or self.default_num, seed=seed), model.config.image_shape)
        grid = images.enlarge(grid, scale)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        image.imsave(out, grid, cmap="gray", vmin=0.0, vmax=1.0)
        return grid
