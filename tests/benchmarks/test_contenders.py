"""The benchmark's contenders: cases named by their configuration, and tfgen's XLA ``fit()``
timed in a process of its own (graph-mode steps slow down after an XLA ``fit()`` in the
same process, docs/benchmarks.md)."""
import os

import pytest

from benchmarks import registry, train


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


def test_an_unknown_case_name_is_refused_with_the_registered_ones():
    with pytest.raises(ValueError, match="Unknown benchmark case 'iwae_L1'.*vrnn_jsb_fivo_k4"):
        registry.named("iwae_L1")


def test_the_xla_contender_trains_in_its_own_process_and_reports_its_epochs():
    contender = train.FitProcess("iwae_L1_k1_b20", 4, 1, jit_compile=True, steps_per_execution=2)
    try:
        assert contender.info["implementation"] == "tfgen fit(), xla, 2 steps/call"
        assert contender.process.pid != os.getpid()
        first, second = contender.epoch(4), contender.epoch(4)
    finally:
        contender.close()
    assert contender.process.returncode == 0
    for epoch in (first, second):
        assert (epoch.steps, epoch.steady_steps) == (4, 2)
        assert 0 < epoch.steady_wall < epoch.wall and 0 < epoch.steady_cpu <= epoch.cpu


def test_a_contender_that_fails_to_start_says_why():
    expected = r"(?s)contender no_such_case .* exited \(code 1\).*Unknown benchmark case"
    with pytest.raises(RuntimeError, match=expected):
        train.FitProcess("no_such_case", 4, 1, jit_compile=True)
