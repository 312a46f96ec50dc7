"""Turn a tfgen run directory into a registered preset, re-measuring its test figure.

The run (``config.json`` + ``model.weights.h5`` + ``metrics.json``, as ``tfgen train FAMILY``
writes it) is loaded, ``model.evaluate`` run
on the test split (the training bound and its parts, recorded as ``test_evaluate``), and its
test figure re-measured by the model's family (:mod:`zoo.families`): for image models
the test log-likelihood with ``k`` importance samples (5000 by default, Burda et al. 2016),
for a VRNN the IWAE_k log-likelihood per time step (k = 1000) with FIVO and the ELBO, for a
distortion-targeted VAE the ELBO (k = 1) with bits/dim, distortion and rate; plus a quick
figure (``family.quick_k`` samples, on ``family.quick_examples`` test examples) a test can
re-check in seconds. All of it is written with :func:`tfgen.presets.save_to_preset` into the
user's preset folder (``$TFGEN_HOME/presets/<name>/``, :func:`tfgen.presets.user_directory`) or
``--directory``, with a model card (``README.md``) showing samples the model draws (``samples.png``). The
command line is ``tfgen preset build RUN --name NAME``.

The metadata carries one value per held-out measure, on the family's protocol (the one the
docs quote): ``test_evaluate`` keeps only the parts the family does not measure itself (a
LagVAE's ``model.evaluate`` MMD over batches of 100 would sit beside the family's batches of
250 or 1000), and ``run_metrics`` keeps the run's training record without the held-out figures
it measured at the end of training (other k, other batches), which ``evaluations`` supersede.
"""
from __future__ import annotations

import math
import os
import sys
import time

from tfgen import model_card, presets, runs
from zoo import families
from zoo import presets as zoo_presets

SAMPLES = "samples.png"


def build(run: str, name: str, k: int | None = None, directory: str | None = None, description: str = "",
          command: str | None = None, batch_size: int = 100, verbose: int = 1, reuse_evaluation: bool = False,
          seed: int = 0) -> dict:
    """Write the preset ``name`` from ``run``; return its metadata.

    Args:
        run: a run directory.
        name: the preset's name (its folder in ``directory``).
        directory: where the preset folder goes [default: the user's, :func:`tfgen.presets.user_directory`;
            the shipped presets are made with ``zoo/presets``].
        k: importance samples of the recorded test figure (default: the family's, 5000 for
            image models, 1000 for a VRNN, 1 for a distortion-targeted VAE).
        command: the command that trained the run; by default rebuilt from the run's
            settings (``tfgen train FAMILY --flag value ...``).
        reuse_evaluation: take the k-sample figure that ``tfgen evaluate RUN --k k`` already
            measured on these same weights (``test_log_likelihood_k{k}`` in metrics.json, with
            the family's figures of the same pass, ``test_log_likelihood_k{k}_*``: a VRNN's
            FIVO and ELBO) instead of spending another k-sample pass; the metadata says so.
        seed: seed of the measurements' noise (and of the card's samples); ``tfgen evaluate --seed``
            (default 0) repeats them.

    Raises:
        ValueError: a name that is no plain folder name, or (in the user's folder) a shipped
            preset's; a run without a dataset, or without the figure ``reuse_evaluation`` asks for.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"A preset name must be a plain folder name, got {name!r}.")
    directory = directory or presets.user_directory()
    if os.path.abspath(directory) != zoo_presets.DIRECTORY and name in zoo_presets.shipped():
        raise ValueError(f"{name} is the name of a shipped preset, which would hide yours: choose another "
                         "--name.")
    metrics = runs.read_metrics(run)
    if metrics.get("status") not in runs.FINISHED:
        raise ValueError(f"{run} is not a finished run (metrics.json status {metrics.get('status')!r}); only "
                         "finished runs become presets.")
    run_config = runs.read_json(os.path.join(run, runs.CONFIG))
    if run_config.get("family") in families.NAMES:  # register the family's model classes with Keras
        families.module(run_config["family"], "model")
    model, settings = runs.load(run)
    family = families.of(model)
    optimizers = {name: run_config[name] for name in runs.OPTIMIZERS if run_config.get(name)}
    if "train_seconds" not in metrics:
        print(f"warning: {run}/metrics.json records no train_seconds (is the run finished?); the "
              "preset's wall time will be null.", file=sys.stderr)
    dataset = settings.get("dataset")
    if dataset is None:
        raise ValueError(f"{run}/config.json records no dataset in its settings; cannot evaluate it.")
    k = family.default_k if k is None else k
    test = family.test_data(model, settings, "test", batch_size)
    if not model.compiled:
        model.compile(optimizer="adam")  # evaluate() needs a compiled model; the optimizer is unused
    test_evaluate = {key: round(float(value), 4)
                     for key, value in model.evaluate(test, verbose=0, return_dict=True).items()}
    print(f"{name}: model.evaluate on test: {test_evaluate}")
    evaluations = []
    measured = metrics.get(f"test_log_likelihood_k{k}") if reuse_evaluation else None
    if reuse_evaluation and measured is None:
        raise ValueError(f"{run}/metrics.json has no test_log_likelihood_k{k}; run `tfgen evaluate {run} "
                         f"--k {k}` first or drop --reuse-evaluation.")
    if measured is not None:  # with the family's other figures of that pass (a VRNN's FIVO and ELBO)
        prefix = f"test_log_likelihood_k{k}_"
        parts = {key[len(prefix):]: round(float(value), 4) for key, value in metrics.items()
                 if key.startswith(prefix) and key != f"{prefix}seconds" and isinstance(value, (int, float))}
        evaluations.append({"split": "test", "k": k, "log_likelihood": round(float(measured), 4),
                            "seconds": metrics.get(f"{prefix}seconds"), **parts,
                            "source": f"tfgen evaluate (metrics.json of {os.path.basename(run)})"})
    plan = list(dict.fromkeys([(k, None), (family.quick_k, family.quick_examples)]))  # headline first
    for samples, examples in plan[1:] if measured is not None else plan:
        split = subset(test, examples, batch_size)
        start = time.time()
        figures = family.measure(model, split, samples, seed=seed, verbose=verbose)
        entry = {"split": "test", "k": samples, "log_likelihood": round(figures.pop("log_likelihood"), 4),
                 "seconds": round(time.time() - start, 1), "seed": seed,
                 **({} if examples is None else {"examples": count(split)}),
                 **{key: round(value, 4) for key, value in figures.items()}}
        evaluations.append(entry)
        print(f"{name}: test figure (k = {samples}{'' if examples is None else f', {examples} examples'}): "
              f"{entry['log_likelihood']:.3f} {family.unit}")
    bad = [entry for entry in evaluations if not math.isfinite(entry["log_likelihood"])]
    if bad:
        raise ValueError(f"{run}'s test figure is {bad[0]['log_likelihood']} (k = {bad[0]['k']}); "
                         "a preset needs a finite figure, so nothing was written.")
    measured_keys = {key for entry in evaluations for key in entry}
    test_evaluate = {key: value for key, value in test_evaluate.items() if key not in measured_keys}
    folder = os.path.join(directory, name)
    metadata = presets.save_to_preset(model, folder, {
        "description": description,
        "dataset": dataset,
        "family": family.name,
        "passes": family.passes(settings, metrics),
        "train_seconds": metrics.get("train_seconds"),
        "test_log_likelihood": evaluations[0]["log_likelihood"],
        "test_k": k,
        "test_unit": family.unit,
        "evaluations": evaluations,
        "test_evaluate": test_evaluate,
        "command": command or family.command(settings),
        "run_metrics": training_record(metrics),
        "settings": settings,
        **optimizers,
    })
    write_card(folder, model, seed)
    print(f"{name} -> {folder}")
    return metadata


def write_card(folder: str, model=None, seed: int = 0) -> str:
    """Draw the preset's samples into ``samples.png`` and write its model card from its metadata
    (the family's papers cited); return the card's path. ``model``: the preset's, if loaded."""
    model = model or zoo_presets.load(folder, compile=False)
    family = families.of(model)
    metadata = presets.read_metadata(folder)
    settings = zoo_presets.read_config(folder)["settings"]
    family.sample(model, settings, os.path.join(folder, SAMPLES), seed=seed, scale=2)
    what = "a sequence" if family.default_num == 1 else f"{family.default_num} images"
    caption = f"{what} sampled from the model (tfgen sample {metadata['name']} --seed {seed})"
    return model_card.write(folder, metadata, {SAMPLES: caption}, family.references)


def training_record(metrics):
    """A run's ``metrics.json`` without the held-out figures it measured (keys ``test...``,
    ``val...``), which the preset's ``evaluations`` supersede."""
    return {key: value for key, value in metrics.items() if not key.startswith(("test", "val"))}


def subset(dataset, examples, batch_size=100):
    """The first ``ceil(examples / batch_size)`` batches of ``dataset`` (all of it for ``None``)."""
    import math

    return dataset if examples is None else dataset.take(math.ceil(examples / batch_size))


def count(dataset):
    """Examples in a batched ``dataset``."""
    import tensorflow as tf

    return sum(int(tf.nest.flatten(batch)[0].shape[0]) for batch in dataset)
