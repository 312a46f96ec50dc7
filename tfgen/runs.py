"""A training run on disk: ``config.json``, ``model.weights.h5`` and ``metrics.json``.

``config.json`` holds the model's Keras serialisation (class, module, ``get_config()``),
the training settings and the optimizer (when compiled), so :func:`load_model` rebuilds any
registered tfgen model without knowing its class. Nothing here is pickled.
"""
import json
import os

import keras

import tfgen

CONFIG, WEIGHTS, METRICS = "config.json", "model.weights.h5", "metrics.json"


def prepare_dir(out, overwrite=False):
    """Create ``out``; refuse to reuse a folder holding a run unless ``overwrite``."""
    existing = [f for f in (CONFIG, WEIGHTS, METRICS) if os.path.exists(os.path.join(out, f))]
    if existing and not overwrite:
        raise ValueError(
            f"{out} already holds a run ({', '.join(existing)}); choose another --out "
            "or pass --overwrite to replace it."
        )
    os.makedirs(out, exist_ok=True)


def save(model, out, settings):
    """Write the model's config with the run ``settings`` and its weights into ``out``."""
    config = {
        "model": keras.saving.serialize_keras_object(model),
        "settings": settings,
        "tfgen_version": tfgen.__version__,
    }
    for name in ("optimizer", "dual_optimizer"):  # so a preset made from the run can recompile
        if getattr(model, name, None) is not None:
            config[name] = keras.optimizers.serialize(getattr(model, name))
    write_json(os.path.join(out, CONFIG), config)
    model.save_weights(os.path.join(out, WEIGHTS))


def load(path):
    """``(model, settings)`` of the run in ``path``, with its weights loaded, not compiled.

    The saved ``compile_config`` is not replayed: a constrained model's ``compile`` also needs
    its dual optimizer, so callers compile what they load themselves.
    """
    config_path, weights_path = os.path.join(path, CONFIG), os.path.join(path, WEIGHTS)
    for f in (config_path, weights_path):
        if not os.path.exists(f):
            raise FileNotFoundError(f"{path} is not a tfgen run: {f} is missing.")
    with open(config_path) as f:
        config = json.load(f)
    model = keras.saving.deserialize_keras_object({**config["model"], "compile_config": None})
    if not model.built:
        model.build()
    model.load_weights(weights_path)
    return model, config["settings"]


def read_metrics(path):
    file = os.path.join(path, METRICS)
    if not os.path.exists(file):
        return {}
    with open(file) as f:
        return json.load(f)


def update_metrics(path, **values):
    """Merge ``values`` into ``path/metrics.json``, keeping every key already there."""
    metrics = read_metrics(path)
    metrics.update(values)
    write_json(os.path.join(path, METRICS), metrics)
    return metrics


def write_json(file, value):
    tmp = file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, file)
