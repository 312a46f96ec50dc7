"""The model contract every zoo model passes, and a tiny case of each model class.

A :class:`Case` builds a small model of one class with its data (a clean batch and a bad one).
``tests/test_contract.py`` runs every check on every case, and fails if a model class of the
zoo has no case here: a new model gets checked by adding one entry to :data:`CASES`.
"""
import dataclasses
import importlib
import inspect
from collections.abc import Callable

import numpy as np

from zoo import families


@dataclasses.dataclass
class Case:
    """``make()`` -> an uncompiled model; ``data()`` -> a clean batch; ``bad()`` -> ``(batch, match)``,
    data the model must refuse with a ``ValueError`` matching ``match``."""

    name: str
    make: Callable
    data: Callable
    bad: Callable
    family: str
    compile_kwargs: Callable = dict  # -> extra compile() arguments, e.g. a dual optimizer
    path_estimator: bool = True  # False: the model refuses estimator="path" with a ValueError (flows)


def binary(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) < 0.4).astype("float32")


def _iwae(**fields):
    from zoo.iwae.model import IWAE

    return IWAE(image_shape=(4, 4, 1), latent=(3,), hidden=((8,),), k=3, seed=0, **fields)


def _iwae_two_layers():
    from zoo.iwae.model import IWAE

    return IWAE(image_shape=(4, 4, 1), layers=2, latent=(4, 2), hidden=((8,), (6,)), k=3, seed=0)


def _sbn(**fields):
    from zoo.sbn.model import SBN

    return SBN(**{"image_shape": (4, 4, 1), "latent": (3,), "k": 3, "seed": 0, **fields})


def _infovae(cls_name):
    from zoo.infovae import model

    return getattr(model, cls_name)(image_shape=(4, 4, 1), latent=3, hidden=(8,), seed=0)


def _dual():
    import keras

    return {"dual_optimizer": keras.optimizers.SGD(1e-2)}


def _grey(seed=0):
    return np.random.default_rng(seed).random((12, 16)).astype("float32")


def _vrnn(objective):
    from zoo.vrnn.model import VRNN

    return VRNN(input_dim=5, rnn_units=6, latent=3, features=6, k=3, objective=objective, seed=0)


def _sequences(seed=0, value=None):
    """Twelve piano-roll-like sequences of 7 steps, lengths 3..7: ``{"frames", "mask"}``."""
    rng = np.random.default_rng(seed)
    mask = (np.arange(7)[None] < rng.integers(3, 8, (12, 1))).astype("float32")
    frames = (rng.random((12, 7, 5)) < 0.3).astype("float32") * mask[..., None]
    if value is not None:
        frames[0, 0, 0] = value
    return {"frames": frames, "mask": mask}


TOP_DOWN = {"image_shape": (8, 8, 1), "resolutions": (1, 8), "latent_layers": (1, 1),
            "encoder_blocks": (0, 1), "width": 8, "bottleneck": 4, "latent_channels": 2, "gamma": 2.0,
            "seed": 0}


def _top_down():
    from zoo.distortion.model import TopDownVAE

    return TopDownVAE(**TOP_DOWN)


def _secondary():
    from zoo.distortion.model import SecondaryVAE, TopDownVAE

    return SecondaryVAE(TopDownVAE(**TOP_DOWN), gamma=1.0, seed=1)


def _ssvae(auxiliary):
    from zoo.ssvae.model import SemiSupervisedVAE

    return SemiSupervisedVAE(image_shape=(4, 4, 1), classes=3, latent=2, auxiliary=auxiliary, hidden=(8,),
                             k=2, seed=0)


def _labelled(seed=0, label=None):
    """Twelve unlabelled and twelve labelled 4x4 binary images, ``{"images", "labelled_images",
    "labels"}``."""
    labels = np.random.default_rng(seed).integers(0, 3, 12)
    if label is not None:
        labels[0] = label
    return {"images": binary((12, 16), seed), "labelled_images": binary((12, 16), seed + 1), "labels": labels}


def _draw(attention):
    from zoo.draw.model import DRAW

    return DRAW(image_shape=(4, 4, 1), steps=3, rnn_units=6, latent=2, attention=attention, read_size=2,
                write_size=3, k=2, seed=0)


def _pixels(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (12, 8, 8, 1)).astype("uint8")


def _ladder(**fields):
    from zoo.ladder.model import LadderVAE

    sizes = {"layers": 3, "latent": (3, 2, 2), "hidden": (8, 6, 4), **fields}
    return LadderVAE(image_shape=(4, 4, 1), k=3, seed=0, **sizes)


def _auxiliary():
    from zoo.auxiliary.model import AuxiliaryVAE

    return AuxiliaryVAE(image_shape=(4, 4, 1), latent=3, auxiliary=2, hidden=(8,), k=3, seed=0)


CASES = [
    Case("iwae", _iwae, lambda: binary((12, 16)), lambda: (binary((12, 16)) * 0.5, "binary"), "iwae"),
    Case("iwae_two_layers", _iwae_two_layers, lambda: binary((12, 16)),
         lambda: (binary((12, 3)), "shape"), "iwae"),
    Case("iwae_renyi_dreg", lambda: _iwae(objective="renyi", alpha=0.5, estimator="dreg"),
         lambda: binary((12, 16)), lambda: (binary((12, 16)) * 0.5, "binary"), "iwae"),
    # NVIL (the default): its baseline network and moving averages go through every round trip.
    Case("sbn_two_layers_nvil", lambda: _sbn(layers=2, latent=(4, 2), hidden=((8,), (6,)), objective="iwae"),
         lambda: binary((12, 16)), lambda: (binary((12, 16)) * 0.5, "binary"), "sbn"),
    Case("iwae_conv_gaussian", lambda: _iwae(encoder="conv", decoder="conv", likelihood="gaussian"), _grey,
         lambda: (np.full((12, 16), np.nan, "float32"), "NaN"), "iwae"),
    Case("infovae", lambda: _infovae("InfoVAE"), lambda: binary((12, 16)),
         lambda: (binary((12, 16)) * 3, "binary"), "infovae", _dual),
    Case("lagvae", lambda: _infovae("LagVAE"), lambda: binary((12, 16)),
         lambda: (binary((12, 15)), "shape"), "infovae", _dual),
    Case("vrnn_iwae", lambda: _vrnn("iwae"), _sequences, lambda: (_sequences(value=0.5), "binary"), "vrnn"),
    Case("vrnn_fivo", lambda: _vrnn("fivo"), _sequences, lambda: (_sequences(value=np.nan), "NaN"), "vrnn"),
    Case("iwae_iaf", lambda: _iwae(posterior="iaf", flow_steps=2, flow_hidden=(6,)), lambda: binary((12, 16)),
         lambda: (binary((12, 16)) * 0.5, "binary"), "iwae", path_estimator=False),
    Case("iwae_planar", lambda: _iwae(posterior="planar", flow_steps=3), lambda: binary((12, 16)),
         lambda: (binary((12, 15)), "shape"), "iwae", path_estimator=False),
    Case("ladder_vae", _ladder, lambda: binary((12, 16)), lambda: (binary((12, 16)) * 0.5, "binary"),
         "ladder"),
    Case("auxiliary_vae", _auxiliary, lambda: binary((12, 16)), lambda: (binary((12, 16)) * 2, "binary"),
         "auxiliary"),
    Case("top_down_vae", _top_down, _pixels, lambda: (_pixels() / 255.0, "0..255"), "distortion", _dual),
    Case("secondary_vae", _secondary, _pixels, lambda: (_pixels()[:, :4], "images"), "distortion", _dual),
    Case("draw", lambda: _draw(True), lambda: binary((12, 16)), lambda: (binary((12, 16)) * 0.5, "binary"),
         "draw"),
    Case("draw_no_attention", lambda: _draw(False), lambda: binary((12, 16)),
         lambda: (binary((12, 8)), "shape"), "draw"),
    Case("ssvae_m2", lambda: _ssvae(0), _labelled, lambda: (_labelled(label=3), "labels"), "ssvae"),
    Case("ssvae_adgm", lambda: _ssvae(3), _labelled, lambda: (_labelled(label=-1), "labels"), "ssvae"),
]


def model_classes():
    """Every concrete model class the zoo's families define (``zoo.<family>.model``)."""
    from tfgen.model import LatentVariableModel

    found = set()
    for family in families.NAMES:
        module = importlib.import_module(f"zoo.{family}.model")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, LatentVariableModel) and obj.__module__ == module.__name__:
                found.add(obj)
    return found
