"""Typed hyper-parameters: dataclass fields that document themselves and become CLI flags.

Every zoo model's hyper-parameters are a dataclass whose fields are declared with
:func:`field`: a default (the paper's value where there is one), a ``help`` text stating the
meaning and unit, and optionally ``choices``. The same declaration gives

* the model's keyword arguments and ``get_config`` (``dataclasses.asdict``),
* the validation in ``__post_init__`` (the ``check_*`` helpers below raise ``ValueError``
  naming the field),
* the family's command-line flags (:func:`add_arguments`: one ``--flag`` per field, its help,
  default and choices shown),
* named configurations (:class:`Registry`: ``registry.get("burda2016_l1", k=50)``).

This module imports neither TensorFlow nor Keras, so ``tfgen --help`` stays fast.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

# Names of the blocks and estimators configs choose from (the classes live in tfgen.layers and
# tfgen.objectives; the names are here so configs need no TensorFlow).
BOUNDS = ("iwae", "vae", "elbo", "renyi")
# Gradient estimators (tfgen.objectives, tfgen.estimators). ESTIMATORS: the two every model with
# reparameterised latents has (where stop_gradient sits in log q); the others apply to the models
# whose families list them.
ESTIMATORS = ("total", "path")
PATHWISE = ("total", "path", "dreg")
SCORE_FUNCTION = ("reinforce", "reinforce_ma", "nvil", "vimco")
DISCRETE = ("taylor", "concrete")  # binary latents only
ALL_ESTIMATORS = PATHWISE + SCORE_FUNCTION + DISCRETE
NETWORKS = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_fixed")
# q(z | x) of the first stochastic layer (tfgen.flows): a diagonal Gaussian, or one pushed through a
# planar flow or an inverse autoregressive flow.
POSTERIORS = ("gaussian", "planar", "iaf")
# Kernels and estimators of the maximum mean discrepancy (the functions live in tfgen.divergences);
# distinct names from ESTIMATORS, which are gradient estimators.
MMD_KERNELS = ("authors", "rbf", "imq")
MMD_ESTIMATORS = ("biased", "unbiased")
# Masks of missing pixels tfgen.applications.mask draws (named here for the command line).
MASKS = ("top", "bottom", "left", "right", "centre", "random")


def field(default: Any, help: str, choices: Sequence | None = None, flag: bool = True) -> dataclasses.Field:
    """A documented dataclass field.

    Args:
        default: the default value (tuples for sequences, so configs stay hashable).
        help: meaning, unit and source of the value; shown by ``--help``.
        choices: the allowed values, if they are a fixed set.
        flag: whether :func:`add_arguments` makes a command-line flag of it.
    """
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "flag": flag})


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``int(value)`` if it is an integer ``>= minimum`` (bools refused), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        if isinstance(value, float) and value.is_integer() and value >= minimum:
            return int(value)
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_float(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
                strict: bool = False) -> float:
    """``float(value)`` if finite and inside ``[minimum, maximum]`` (open at ``minimum`` if ``strict``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    low_ok = minimum is None or (number > minimum if strict else number >= minimum)
    if not low_ok or (maximum is not None and number > maximum):
        low = "" if minimum is None else f"{'>' if strict else '>='} {minimum}"
        high = "" if maximum is None else f"<= {maximum}"
        raise ValueError(f"{name} must be {' and '.join(p for p in (low, high) if p)}, got {value!r}.")
    return number


def check_k(k: int) -> int:
    """Validate a number of importance samples: a positive integer."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"The number of importance samples k must be an integer >= 1, got {k!r}.")
    return int(k)


def check_choice(name: str, value: Any, choices: Sequence) -> Any:
    """``value`` if it is one of ``choices``; ``ValueError`` naming them otherwise."""
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {list(choices)}.")
    return value


def check_sizes(name: str, value: Sequence[int] | str, length: int | None = None) -> tuple[int, ...]:
    """A tuple of positive ints from a sequence (or ``"200,200"``), of ``length`` if given."""
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    try:
        sizes = tuple(check_int(f"{name} entries", int(v) if isinstance(v, str) else v) for v in value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be positive integers, e.g. 200,200; got {value!r} ({error})") from None
    if length is not None and len(sizes) != length:
        raise ValueError(f"{name} needs {length} entries, got {sizes}.")
    return sizes


def check_layer_sizes(name: str, value: Sequence[Sequence[int]] | str) -> tuple[tuple[int, ...], ...]:
    """A tuple of size tuples, one per stochastic layer, from nested sequences or ``"200,200;100,100"``."""
    if isinstance(value, str):
        value = value.split(";")
    return tuple(check_sizes(f"{name} (layer {i + 1})", v) for i, v in enumerate(value))


def check_resolutions(resolutions: Sequence[int] | str, image_size: int) -> tuple[int, ...]:
    """The sides of a top-down path's feature maps (:mod:`tfgen.blocks`), coarsest first, each
    dividing the next, the last ``image_size``; from a sequence or ``"1,4,8"``."""
    resolutions = check_sizes("resolutions", resolutions)
    if not resolutions or resolutions[-1] != image_size:
        raise ValueError(f"resolutions must end at the image size {image_size}, got {resolutions}.")
    for low, high in zip(resolutions, resolutions[1:]):
        if low >= high or high % low:
            raise ValueError(
                f"Each resolution must divide the next, larger one; {low} -> {high} in {resolutions} "
                "does not."
            )
    return resolutions


def check_image_shape(value: Sequence[int] | str) -> tuple[int, ...]:
    """``(height, width, channels)`` as positive ints; ``ValueError`` otherwise."""
    shape = check_sizes("image_shape", value)
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {shape}.")
    return shape


@dataclasses.dataclass
class ImageConfig:
    """The blocks an image model is composed of (see :class:`tfgen.image_model.ImageModel`)."""

    image_shape: tuple = field((28, 28, 1), "shape of one image, height,width,channels; data come flat "
                               "[batch, h*w*c] or as images [batch, h, w, c]")
    encoder: str = field("mlp", "network from the data to the first stochastic layer", choices=NETWORKS)
    decoder: str = field("mlp", "network from the first stochastic layer to the likelihood", choices=NETWORKS)
    likelihood: str = field("bernoulli", "p(x|z): bernoulli for binary pixels; gaussian (learned scale, "
                            "at least 1/256) or gaussian_fixed for intensities in [0, 1]",
                            choices=LIKELIHOODS)
    likelihood_scale: float = field(0.1, "standard deviation of the gaussian_fixed likelihood, in the "
                                    "units of the data (pixels in [0, 1])")
    activation: str = field("tanh", "activation of the deterministic hidden layers")

    def __post_init__(self):
        self.image_shape = check_image_shape(self.image_shape)
        check_choice("encoder", self.encoder, NETWORKS)
        check_choice("decoder", self.decoder, NETWORKS)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        self.likelihood_scale = check_float("likelihood_scale", self.likelihood_scale, 0.0, strict=True)

    @property
    def dims(self) -> int:
        """Values per image, ``height * width * channels``."""
        return math.prod(self.image_shape)


def help_of(cls: type, name: str) -> str:
    """The help text of the field ``name`` of the config dataclass ``cls``."""
    return next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("help", "")


class Registry:
    """Named configurations of one config dataclass, as a typed hyper-parameter registry.

    ``Registry(IWAEConfig, burda2016_l1={"layers": 1}, ...)``: each entry holds the fields it
    sets (validated here by building the config); :meth:`get` builds the config from them and
    the overrides, so derived defaults (e.g. sizes that follow ``layers``) follow the overrides.
    """

    def __init__(self, config_class: type, **configs: dict):
        self.config_class = config_class
        self.configs = configs
        for fields in configs.values():
            config_class(**fields)

    def names(self) -> list[str]:
        """The configurations' names, the default first."""
        return list(self.configs)

    def get(self, name: str, **overrides) -> Any:
        """The configuration ``name`` with ``overrides`` (fields of the dataclass) replaced."""
        if name not in self.configs:
            raise ValueError(f"Unknown configuration {name!r}; choose one of {self.names()}.")
        return self.config_class(**{**self.configs[name], **overrides})

    def describe(self) -> str:
        """One line naming each configuration and the fields it sets (for ``--help``)."""
        described = {name: ", ".join(f"{k}={_text(v)}" for k, v in fields.items()) or "the defaults"
                     for name, fields in self.configs.items()}
        return "; ".join(f"{name}: {text}" for name, text in described.items())


def _text(value):
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def add_arguments(parser: argparse.ArgumentParser, config_class: type, registry: Registry | None = None,
                  skip: Sequence[str] = ()) -> None:
    """Add one ``--flag`` per field of ``config_class`` (those declared with ``flag=True``).

    Flags default to ``None`` (meaning "the configuration's value"), and their help shows
    the default of ``config_class`` and the choices. With a ``registry`` a ``--config NAME``
    flag selects the named configuration the flags override. Read the result back with
    :func:`from_arguments`.
    """
    group = parser.add_argument_group(f"model ({config_class.__name__})")
    if registry is not None:
        group.add_argument("--config", default=registry.names()[0], choices=registry.names(),
                           help=f"named configuration the flags below override (default %(default)s): "
                                f"{registry.describe()}")
    default = registry.get(registry.names()[0]) if registry is not None else config_class()
    for f in dataclasses.fields(config_class):
        if not f.metadata.get("flag", True) or f.name in skip:
            continue
        value = getattr(default, f.name)
        kind = _kind(value)
        choices = f.metadata.get("choices")
        shown = _text(value) if value is not None else "none"
        kwargs = {"default": None, "help": f"{f.metadata.get('help', '')} [default: {shown}]",
                  "dest": f"model_{f.name}"}
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            group.add_argument(flag, action=_BoolAction, **kwargs)
        elif choices:
            group.add_argument(flag, type=kind, choices=choices, **kwargs)
        else:
            group.add_argument(flag, type=kind, metavar=f.name.upper(), **kwargs)


def from_arguments(args: argparse.Namespace, config_class: type, registry: Registry | None = None) -> Any:
    """The configuration selected by :func:`add_arguments`' flags in parsed ``args``."""
    overrides = {f.name: getattr(args, f"model_{f.name}") for f in dataclasses.fields(config_class)
                 if getattr(args, f"model_{f.name}", None) is not None}
    if registry is not None:
        return registry.get(args.config, **overrides)
    return config_class(**overrides)


def _kind(value):
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int
    if isinstance(value, float):
        return float
    return str  # strings, comma-separated tuples, optional values: parsed by the dataclass


class _BoolAction(argparse.Action):
    """``--flag`` (true) or ``--flag false``: an argparse action for boolean fields."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs="?", metavar="BOOL", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        text = "true" if values is None else str(values).lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            parser.error(f"{option_string} takes true or false, got {values!r}")
        setattr(namespace, self.dest, text in ("true", "1", "yes"))
