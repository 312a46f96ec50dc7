"""Turn a tfgen run directory into a registered preset, re-measuring its test figure.

The run (``config.json`` + ``model.weights.h5`` + ``metrics.json``, as ``tfgen train``
writes it) is loaded, ``model.evaluate`` run on the test split (the training bound and its
parts, recorded as ``test_evaluate``), its test log-likelihood re-estimated with ``k`` importance samples
(5000 by default, Burda et al. 2016) by :func:`tfgen.evaluation.log_likelihood`, plus a
quick ``k = 100`` figure a test can re-check in seconds, and written with
:func:`tfgen.presets.save_to_preset` into ``zoo/presets/<name>/``. The command line is
``tfgen preset RUN --name NAME``.
"""
import json
import os
import sys
import time

from tfgen import data, evaluation, presets, runs
from zoo.presets import DIRECTORY

QUICK_K = 100


def build(run, name, k=5000, directory=DIRECTORY, description="", command=None, batch_size=100,
          verbose=1, reuse_evaluation=False):
    """Write the preset ``name`` from ``run``; return its metadata.

    Args:
        run: a run directory.
        name: the preset's name (its folder in ``directory``).
        k: importance samples of the recorded test log-likelihood.
        command: the command that trained the run; by default rebuilt from the run's
            settings as ``tfgen train --flag value ...``.
        reuse_evaluation: take the k-sample figure that ``tfgen evaluate RUN --k k`` already
            measured on these same weights (``test_log_likelihood_k{k}`` in metrics.json)
            instead of spending another k-sample pass; the metadata says so.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"A preset name must be a plain folder name, got {name!r}.")
    model, settings = runs.load(run)
    metrics = runs.read_metrics(run)
    with open(os.path.join(run, runs.CONFIG)) as f:
        run_config = json.load(f)
    optimizers = {name: run_config[name] for name in presets.OPTIMIZERS if run_config.get(name)}
    if "train_seconds" not in metrics:
        print(f"warning: {run}/metrics.json records no train_seconds (is the run finished?); the "
              "preset's wall time will be null.", file=sys.stderr)
    dataset = settings.get("dataset")
    if dataset is None:
        raise ValueError(f"{run}/config.json records no dataset in its settings; cannot evaluate it.")
    test = data.load(dataset, "test", batch_size)
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
    if measured is not None:
        evaluations.append({"split": "test", "k": k, "log_likelihood": round(float(measured), 4),
                            "seconds": metrics.get(f"test_log_likelihood_k{k}_seconds"),
                            "source": f"tfgen evaluate (metrics.json of {os.path.basename(run)})"})
    for samples in dict.fromkeys((k, QUICK_K)):  # the headline k first, no duplicate
        if measured is not None and samples == k:
            continue
        start = time.time()
        ll = evaluation.log_likelihood(model, test, k=samples, verbose=verbose).mean()
        evaluations.append({"split": "test", "k": samples, "log_likelihood": round(float(ll), 4),
                            "seconds": round(time.time() - start, 1)})
        print(f"{name}: test log-likelihood (k = {samples}): {ll:.3f} nats")
    # A run on the paper's schedule records the passes it ran; its --epochs is unused there.
    passes = (metrics.get("schedule") or {}).get("passes", settings.get("epochs", metrics.get("epochs")))
    return presets.save_to_preset(model, os.path.join(directory, name), {
        "description": description,
        "dataset": dataset,
        "passes": passes,
        "train_seconds": metrics.get("train_seconds"),
        "test_log_likelihood": evaluations[0]["log_likelihood"],
        "test_k": k,
        "evaluations": evaluations,
        "test_evaluate": test_evaluate,
        "command": command or train_command(settings),
        "run_metrics": metrics,
        "settings": settings,
        **optimizers,
    })


def train_command(settings):
    """``tfgen train`` with the flags of a run's recorded settings."""
    flags = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not None and value is not False:
            flags.append(f"{flag} {value}")
    return " ".join(["tfgen train"] + flags)
