"""Burda et al.'s staged learning-rate schedule."""
import numpy as np
import pytest

from tfgen import schedules


def test_burda_schedule_has_3280_passes_and_the_codes_rates():
    schedule = schedules.StagedSchedule.burda()
    assert [e for e, _ in schedule.stages] == [3 ** i for i in range(8)]
    assert schedule.epochs == schedules.BURDA_PASSES == 3280 and not schedule.truncated
    rates = [lr for _, lr in schedule.stages]
    np.testing.assert_allclose(rates, [1e-3, 7.2e-4, 5.2e-4, 3.7e-4, 2.7e-4, 1.9e-4, 1.4e-4, 1e-4])
    np.testing.assert_allclose(rates, [1e-3 * 10 ** (-i / 7) for i in range(8)], rtol=0.02)
    assert schedule(0) == 1e-3 and schedule(1) == schedule(3) == rates[1] and schedule(4) == rates[2]
    assert schedule(3279) == rates[7]


def test_a_passes_budget_truncates_the_schedule_in_order():
    schedule = schedules.StagedSchedule.burda(passes=6)
    assert schedule.stages == [(1, 1e-3), (3, 7.2e-4), (2, 5.2e-4)]
    assert schedule.truncated and schedule.describe()["truncated"] and schedule.boundaries == [0, 1, 4, 6]
    assert schedule.start_of(2) == 4 and schedule.stage_of(5) == 2
    with pytest.raises(ValueError, match="outside"):
        schedule(6)
    with pytest.raises(ValueError, match="passes"):
        schedules.StagedSchedule.burda(passes=0)


def test_geometric_schedule_falls_from_the_first_rate_to_the_last_in_equal_stages():
    schedule = schedules.StagedSchedule.geometric(23, 1e-3, 1e-5, stages=3)
    assert [e for e, _ in schedule.stages] == [8, 8, 7] and schedule.epochs == 23
    np.testing.assert_allclose([lr for _, lr in schedule.stages], [1e-3, 1e-4, 1e-5])
    assert schedule(7) == pytest.approx(1e-3) and schedule(8) == pytest.approx(1e-4)
