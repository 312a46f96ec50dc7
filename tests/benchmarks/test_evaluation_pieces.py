"""benchmarks.evaluation_pieces: each piece timed against the chunk's FLOP floor, and the bound."""
import pytest

from benchmarks import evaluation_pieces, machine


def test_pieces_are_measured_against_the_chunk_floor_and_summed_into_the_bound(monkeypatch):
    monkeypatch.setattr(machine, "matmul_peak", lambda: {"gflops_per_cpu_s": 100.0})  # the 2048^3 run takes s
    r = evaluation_pieces.measure(rows=256, repeats=1, calls=1)
    flop = 2 * 256 * (50 * 200 + 200 * 200 + 200 * 784)
    assert r["floor_cpu_ms"] == pytest.approx(flop / 100.0 / 1e6)
    assert set(r["pieces"]) == {"decoder matmuls", "tanh, two layers", "Bernoulli log-likelihood",
                                "exp per pixel alone", "standard normals"}
    for piece in r["pieces"].values():
        assert piece["cpu_ms"] >= 0
        assert piece["over_floor"] == pytest.approx(piece["cpu_ms"] / r["floor_cpu_ms"])
    bound = sum(r["pieces"][name]["over_floor"] for name in ("decoder matmuls", "tanh, two layers",
                                                            "exp per pixel alone"))
    assert r["lower_bound_over_floor"] == pytest.approx(bound)
