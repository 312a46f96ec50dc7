"""benchmarks.xla_grid's command line: the grid it times, and a clear error for a bad entry."""
import argparse

import pytest

from benchmarks import xla_grid


def test_grid_entries_are_layers_k_batch():
    assert xla_grid.parse_grid("1:5:100,2:1:20") == [(1, 5, 100), (2, 1, 20)]
    assert (1, 50, 100) in xla_grid.parse_grid(xla_grid.DEFAULT_GRID)


@pytest.mark.parametrize("bad", ["1:5", "1:5:100:2", "1:0:100", "a:5:100", "1:5:-3"])
def test_a_bad_grid_entry_is_refused_by_name(bad, capsys):
    with pytest.raises(argparse.ArgumentTypeError, match=f"grid entry '{bad}' is not layers:k:batch"):
        xla_grid.parse_grid(f"1:1:20,{bad}")
    with pytest.raises(SystemExit):
        xla_grid.main(["--grid", bad])
    assert f"argument --grid: grid entry '{bad}' is not layers:k:batch" in capsys.readouterr().err


def test_rounds_and_threads_must_be_positive(capsys):
    for flag in ("--rounds", "--threads"):
        with pytest.raises(SystemExit):
            xla_grid.main([flag, "0"])
        assert f"argument {flag}: '0' is not a positive integer" in capsys.readouterr().err
