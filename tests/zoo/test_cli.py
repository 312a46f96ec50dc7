"""The tfgen command end to end on a tiny budget, and its refusals."""
import json

import pytest

from zoo import cli


def run(*argv):
    return cli.main([str(a) for a in argv])


def test_train_then_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert run("train", "--model", "iwae", "--k", 3, "--layers", 2, "--estimator", "path", "--epochs", 2,
               "--batch-size", 50, "--seed", 3, "--out", out, "--verbose", 0) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.weights.h5", "metrics.json",
                                               "history.csv", "logs"}
    assert metrics["k"] == 3 and -60 < metrics["test_log_likelihood"] < 0
    assert config["model"]["config"]["layers"] == 2 and config["settings"]["estimator"] == "path"
    assert "test log-likelihood (k = 3)" in capsys.readouterr().out

    assert run("evaluate", out, "--k", 400, "--verbose", 0) == 0
    evaluated = json.loads((out / "metrics.json").read_text())
    assert evaluated["test_log_likelihood"] == metrics["test_log_likelihood"]  # training's figure kept
    assert evaluated["test_log_likelihood_k400"] > metrics["test_log_likelihood"] - 0.2


@pytest.mark.parametrize("flags,message", [
    (["--model", "flow"], "Unknown model 'flow'"),
    (["--dataset", "cifar10"], "Unknown dataset 'cifar10'"),
    (["--k", "0"], "k must be an integer >= 1"),
    (["--layers", "3"], "1 or 2 stochastic layers"),
    (["--estimator", "dreg"], "Unknown gradient estimator"),
    (["--epochs", "0"], "--epochs must be >= 1"),
])
def test_bad_arguments_fail_before_training(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert run("train", *flags, "--out", out, "--verbose", 0) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_existing_run_is_not_overwritten_silently(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text('{"test_log_likelihood": -1.0}')
    assert run("train", "--epochs", 1, "--out", out, "--verbose", 0) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text()) == {"test_log_likelihood": -1.0}


def test_evaluate_names_a_missing_run(tmp_path, capsys):
    assert run("evaluate", tmp_path, "--k", 10) == 2
    assert "config.json is missing" in capsys.readouterr().err
