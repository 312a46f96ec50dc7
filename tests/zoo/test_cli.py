"""The tfgen command: its grammar and help, `train iwae` end to end on a tiny budget, its refusals."""
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests import tensorboard
from zoo import cli, families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*argv):
    return cli.main([str(a) for a in argv])


def help_runs(*argv):
    """``python -m zoo.cli ... --help`` in a fresh process: (seconds, stdout, stderr, modules loaded)."""
    code = ("import sys, runpy; sys.argv = ['tfgen', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('zoo.cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('TENSORFLOW' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'NONE')")
    start = time.time()
    done = subprocess.run([sys.executable, "-c", code, *argv, "--help"], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    return time.time() - start, done.stdout, done.stderr


@pytest.mark.parametrize("argv", [(), ("train", "iwae"), ("train", "vrnn"), ("train", "infovae"),
                                  ("train", "distortion"), ("train", "ladder"), ("train", "auxiliary"),
                                  ("evaluate",), ("sample",), ("preset",),
                                  ("tune", "iwae"), ("figures", "distortion")])
def test_help_loads_no_tensorflow_and_prints_no_log_lines(argv):
    _, out, err = help_runs(*argv)
    assert out.strip().endswith("NONE") and "usage: tfgen" in out
    assert err == ""


def every_action():
    """``(command, argparse action)`` for every flag of every subcommand."""
    parser = cli.build_parser()
    stack = [("tfgen", parser)]
    while stack:
        name, p = stack.pop()
        for action in p._actions:
            if action.choices and isinstance(action.choices, dict):  # subcommands
                stack += [(f"{name} {sub}", subparser) for sub, subparser in action.choices.items()]
            elif action.option_strings and action.dest != "help":
                yield name, action


def test_every_flag_has_help_with_its_default_and_choices():
    actions = list(every_action())
    assert len(actions) > 100
    missing = [f"{name} {a.option_strings[0]}" for name, a in actions
               if not a.help or ("default" not in a.help and "required" not in a.help)]
    assert missing == []


def test_every_train_has_the_run_flags_with_one_meaning():
    parser = cli.build_parser()
    trains = parser._subparsers._group_actions[0].choices["train"]._subparsers._group_actions[0].choices
    assert sorted(trains) == sorted(families.NAMES)
    run_flags = {"--out", "--overwrite", "--resume", "--max-minutes", "--checkpoint-every", "--seed",
                 "--verbose"}
    helps = {}
    for name, sub in trains.items():
        flags = {a.option_strings[0]: a for a in sub._actions if a.option_strings}
        assert run_flags <= set(flags), name
        for flag in run_flags - {"--out"}:
            helps.setdefault(flag, set()).add((flags[flag].help, flags[flag].default))
    assert all(len(variants) == 1 for variants in helps.values())


def test_train_evaluate_sample_on_the_digits(tmp_path, capsys):
    out = tmp_path / "run"
    assert run("train", "iwae", "--k", 3, "--layers", 2, "--estimator", "path", "--epochs", 2,
               "--batch-size", 50, "--seed", 3, "--out", out, "--verbose", 0) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.weights.h5", "metrics.json",
                                               "history.csv", "logs", "checkpoints"}
    assert -60 < metrics["test_log_likelihood_k3"] < 0 and metrics["status"] == "finished"
    assert config["family"] == "iwae" and config["model"]["config"]["layers"] == 2
    assert config["settings"]["model"]["estimator"] == "path"
    assert "test log-likelihood (k = 3)" in capsys.readouterr().out
    # TensorBoard: the bound on the validation split, and pictures of samples and reconstructions
    assert {"val_loss", "val_iwae_k3"} <= set(metrics["final_train"])
    assert {"epoch_loss", "epoch_iwae_k3"} <= set(tensorboard.summaries(out / "logs" / "validation"))
    pictures = tensorboard.summaries(out / "logs" / "pictures")
    assert pictures == {"samples": "images", "reconstructions": "images"}

    assert run("evaluate", out, "--k", 400, "--verbose", 0) == 0
    evaluated = json.loads((out / "metrics.json").read_text())
    assert evaluated["test_log_likelihood_k3"] == metrics["test_log_likelihood_k3"]  # training's figure kept
    assert evaluated["test_log_likelihood_k400"] > metrics["test_log_likelihood_k3"] - 0.2
    assert set(evaluated["test_log_likelihood_k400_active_units"]) == {"z1", "z2"}
    assert run("sample", out, "--num", 4, "--out", tmp_path / "s.png") == 0 and (tmp_path / "s.png").exists()


@pytest.mark.parametrize("flags,message", [
    (["--objective", "flow"], "invalid choice: 'flow'"),
    (["--dataset", "cifar10"], "Unknown dataset 'cifar10'"),
    (["--k", "0"], "k must be an integer >= 1"),
    (["--layers", "3"], "1 or 2 stochastic layers"),
    (["--estimator", "taylor"], "invalid choice: 'taylor'"),
    (["--estimator", "vimco", "--k", "1"], "vimco (a leave-one-out baseline) needs k >= 2"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--learning-rate", "nan"], "--learning-rate must be a finite number"),
    (["--hidden", "200,x"], "hidden"),
])
def test_bad_arguments_fail_before_anything_is_written(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert run("train", "iwae", *flags, "--out", out, "--verbose", 0) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_existing_run_is_not_overwritten_silently(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text('{"test_log_likelihood": -1.0}')
    assert run("train", "iwae", "--epochs", 1, "--out", out, "--verbose", 0) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text()) == {"test_log_likelihood": -1.0}


def test_evaluate_names_a_missing_run(tmp_path, capsys):
    assert run("evaluate", tmp_path, "--k", 10) == 2
    assert "neither a preset" in capsys.readouterr().err  # an empty folder: no metadata.json, no run


@pytest.mark.parametrize("config,dataset,likelihood", [("gaussian", "fashion_mnist", "gaussian"),
                                                       ("conv", "binarized_mnist", "bernoulli")])
def test_gaussian_and_convolutional_models_train_from_the_command_line(tmp_path, config, dataset, likelihood):
    from tests.markers import DATA_DIR

    if not DATA_DIR:
        pytest.skip("TFGEN_DATA_DIR is unset")
    out = tmp_path / "run"
    assert run("train", "iwae", "--dataset", dataset, "--config", config, "--objective", "vae", "--epochs", 2,
               "--train-size", 2000, "--batch-size", 100, "--out", out, "--verbose", 0) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config_json = json.loads((out / "config.json").read_text())["model"]["config"]
    assert config_json["likelihood"] == likelihood and metrics["status"] == "finished"
    losses = [float(row["loss"]) for row in csv.DictReader(open(out / "history.csv"))]
    assert np.isfinite(metrics["test_log_likelihood_k1"]) and losses[1] < losses[0]
