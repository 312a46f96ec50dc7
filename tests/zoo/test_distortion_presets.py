"""The shipped distortion preset and the committed Fashion-MNIST runs docs/distortion.md cites."""
import os
import pathlib

import numpy as np
import pytest

import zoo
from tests.markers import requires_data
from tfgen import presets, runs
from zoo import families
from zoo.distortion import family, figures

PRESET = "distortion_fashion_mnist_g10"
RUNS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "runs" / "fashion_mnist"
# docs/distortion.md's table: test D, rate (nats), ELBO (nats), bits/dim.
DOCS_TABLE = {"dt_g5": (4.789, 208.4, -3670.2, 6.754), "dt_g10": (9.541, 92.9, -3824.9, 7.039),
              "dt_g20": (18.933, 33.4, -4034.2, 7.424), "dt_g40": (25.683, 53.2, -4206.4, 7.740),
              "dt_g40_cont": (39.602, 4.7, -4294.3, 7.902), "dt_g40_s20": (19.413, 2.6, -4065.7, 7.482)}
PRESET_RUN = {"dt_g10_e20": (10.059, 64.1, -3816.5, 7.023)}  # the preset's run, in the text below the table


@requires_data
def test_shipped_preset_reproduces_its_quick_figure():
    meta = zoo.available()[PRESET]
    model = zoo.load(PRESET)
    assert families.of(model) is family.FAMILY and model.compiled
    assert (meta["family"], meta["test_unit"], meta["test_k"], model.config.gamma) == (
        "distortion", family.FAMILY.unit, 1, 10.0)
    headline, quick = meta["evaluations"]
    assert (quick["k"], quick["examples"]) == (family.FAMILY.quick_k, family.FAMILY.quick_examples)
    test = family.FAMILY.test_data(model, zoo.presets.read_config(presets.registered()[PRESET])["settings"])
    subset = test.take(family.FAMILY.quick_examples // 100)
    measured = family.FAMILY.measure(model, subset, quick["k"], quick["seed"])
    assert measured["log_likelihood"] == pytest.approx(quick["log_likelihood"], abs=1e-2)
    # The ELBO with its parts: bits/dim = -ELBO / (784 ln 2), rate = the sum of the layers' KL.
    assert measured["bits_per_dim"] == pytest.approx(-measured["elbo"] / (784 * np.log(2)), rel=1e-4)
    kls = sum(measured[f"kl_{layer}"] for layer in model.rate_layers)
    assert measured["rate"] == pytest.approx(kls, rel=1e-4)
    assert headline["distortion"] == pytest.approx(model.config.gamma, rel=0.02)  # the target, met within 2 %


def test_committed_runs_load_with_the_figures_docs_quote():
    for name, (distortion, rate, elbo, bits) in {**DOCS_TABLE, **PRESET_RUN}.items():
        model, settings = runs.load(str(RUNS / name))
        test = family.figures_of(runs.read_metrics(str(RUNS / name)))
        assert (round(test["distortion"], 3), round(test["rate"], 1), round(test["elbo"], 1),
                round(test["bits_per_dim"], 3)) == (distortion, rate, elbo, bits), name
        assert families.of(model) is family.FAMILY and settings["model"]["gamma"] == model.config.gamma
    secondary, _ = runs.load(str(RUNS / "dt_g40_s20"))
    primary, _ = runs.load(str(RUNS / "dt_g40"))
    for a, b in zip(secondary.primary.get_weights(), primary.get_weights()):
        np.testing.assert_array_equal(a, b)


@requires_data
def test_figures_redraw_from_the_committed_runs(tmp_path):
    primaries = [str(RUNS / name) for name in ("dt_g5", "dt_g10", "dt_g20", "dt_g40_cont")]
    table = figures.make_all(primaries, [str(RUNS / "dt_g40_s20")], str(tmp_path), examples=4)
    for name, (distortion, rate, elbo, bits) in DOCS_TABLE.items():
        if name != "dt_g40":
            row = next(line for line in table.splitlines() if line.startswith(f"| {RUNS / name} |"))
            assert f"| {distortion:.3f} |" in row and f"| {rate:.1f} |" in row
            assert f"| {elbo:.1f} | {bits:.3f} |" in row
    assert "| (its primary, same 2000 test images) | primary | 40 | 25.362 |" in table
    assert len(os.listdir(tmp_path)) == 4
