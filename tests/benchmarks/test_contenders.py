"""The benchmark's contenders: cases named by their configuration, and tfgen's XLA ``fit()``
timed in a process of its own (graph-mode steps slow down after an XLA ``fit()`` in the
same process, docs/benchmarks.md)."""
import dataclasses
import os
import sys

import pytest

from benchmarks import peer, registry, train


@pytest.mark.parametrize("name, batch, fields", [
    ("iwae_L1_k50", 100, {"layers": 1, "k": 50, "objective": "iwae", "estimator": "total"}),
    ("iwae_L2_k5_b20", 20, {"layers": 2, "k": 5, "objective": "iwae", "estimator": "total"}),
    ("vae_L1_k1_b20", 20, {"layers": 1, "k": 1, "objective": "vae", "estimator": "total"}),
    ("iwae_L1_k50_path_b100", 100, {"layers": 1, "k": 50, "objective": "iwae", "estimator": "path"}),
])
def test_iwae_cases_are_found_by_the_name_of_their_configuration(name, batch, fields):
    case = registry.named(name)
    assert (case.name, case.batch) == (name, batch)
    assert {key: case.build.keywords[key] for key in fields} == fields


@pytest.mark.parametrize("name", ["iwae_L1", "iwae_L0_k1", "iwae_L1_k050", "iwae_L1_k50_b100"])
def test_an_unknown_or_unusual_case_name_is_refused_with_the_known_ones(name):
    with pytest.raises(ValueError, match=f"Unknown benchmark case '{name}'.*vrnn_jsb_fivo_k4.*_b{{batch}}"):
        registry.named(name)


def test_a_case_its_name_would_not_rebuild_is_refused_before_a_process_starts():
    changed = dataclasses.replace(registry.named("iwae_L1_k1"), batch=50)
    assert registry.same(registry.named("iwae_L1_k1"), registry.named("iwae_L1_k1"))
    assert registry.same(registry.named("iwae_L2_k5_b20"), registry.named("iwae_L2_k5_b20"))
    with pytest.raises(ValueError, match="'iwae_L1_k1' names another case"):
        train.FitProcess(changed, 4, 1, jit_compile=True)


def test_the_xla_contender_trains_in_its_own_process_and_reports_its_epochs():
    with train.FitProcess(registry.named("iwae_L1_k1_b20"), 4, 1, jit_compile=True,
                          steps_per_execution=2) as contender:
        assert contender.info["implementation"] == "tfgen fit(), xla, 2 steps/call"
        assert contender.process.pid != os.getpid()
        first, second = contender.epoch(4), contender.epoch(4)
    assert contender.process.returncode == 0
    for epoch in (first, second):
        assert (epoch.steps, epoch.steady_steps) == (4, 2)
        assert 0 < epoch.steady_wall < epoch.wall and 0 < epoch.steady_cpu <= epoch.cpu


def _script(source):
    return [sys.executable, "-c", source]


def test_a_contender_that_fails_to_start_says_why():
    with pytest.raises(RuntimeError, match=r"(?s)The contender exited \(code 3\).*no data here"):
        peer.Process(_script("import sys; sys.stderr.write('no data here\\n'); sys.exit(3)"), "The contender")


def test_a_contender_that_dies_between_epochs_says_why():
    serves_once = ("import json, sys\n"
                   "print(json.dumps({'info': 1}), flush=True)\n"
                   "sys.stdin.readline()\n"
                   "sys.stderr.write('out of memory\\n'); sys.exit(9)\n")
    with peer.Process(_script(serves_once), "The contender") as contender:
        with pytest.raises(RuntimeError, match=r"(?s)exited \(code 9\).*out of memory"):
            contender.epoch(4)
        with pytest.raises(RuntimeError, match=r"(?s)exited \(code 9\).*out of memory"):
            contender.epoch(4)  # its input is a broken pipe now
    assert contender.stderr.closed and contender.process.stdout.closed
