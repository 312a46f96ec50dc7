"""Every notebook in notebooks/ runs top to bottom in fast mode (TFGEN_FAST=1) without error,
and writes nothing to stderr (no TensorFlow log lines or warnings in what readers see); its
markdown shows the figures it draws at its full budget (docs/figures/notebooks, made by
docs/scripts/notebook_figures.py), so it can be read without running it.

The kernel is this test's own interpreter (a kernelspec written to a temporary folder), so the
notebooks see the same environment and the worktree on PYTHONPATH.
"""
import json
import os
import pathlib
import re
import sys

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "tfgen-test"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    jupyter_path = tmp_path_factory.mktemp("jupyter")
    spec_dir = jupyter_path / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tfgen test", "language": "python"}))
    env = {
        "JUPYTER_PATH": str(jupyter_path),
        "TFGEN_FAST": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
    }
    if os.environ.get("TFGEN_DATA_DIR"):  # kernels run in notebooks/: a relative path would miss
        env["TFGEN_DATA_DIR"] = os.path.abspath(os.environ["TFGEN_DATA_DIR"])
    return env


def test_notebooks_exist():
    assert [nb.name for nb in NOTEBOOKS][:5] == [
        "00_quickstart.ipynb", "01_vae_vs_iwae.ipynb", "02_vrnn_objectives.ipynb",
        "03_lagrangian_vae.ipynb", "04_distortion_targeting.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_is_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "strip outputs"
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert tagged == code[:1], "the first code cell, and only it, is tagged 'parameters'"
    assert "TFGEN_FAST" in tagged[0].source, "the parameters cell reads TFGEN_FAST"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_shows_its_full_budget_figures(path):
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", markdown)
    missing = [link for link in links if not (path.parent / link).is_file()]
    assert not missing, f"images the markdown shows but the repository lacks: {missing}"
    own = sorted((ROOT / "docs" / "figures" / "notebooks").glob(f"{path.stem}_*.png"))
    assert own, f"no full-budget figure docs/figures/notebooks/{path.stem}_*.png"
    shown = {(path.parent / link).resolve() for link in links}
    assert [f.name for f in own if f.resolve() not in shown] == [], "a full-budget figure the markdown omits"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_fast_mode_with_clean_outputs(path, kernel_env, monkeypatch):
    for key, value in kernel_env.items():
        monkeypatch.setenv(key, value)
    for key in ("TF_CPP_MIN_LOG_LEVEL", "MPLBACKEND"):  # as a reader's kernel: the notebook quiets itself
        monkeypatch.delenv(key, raising=False)
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable, FAST)"))
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=600,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    printed = "".join(out["text"] for out in nb.cells[-1].outputs if out.get("name") == "stdout")
    assert printed.split() == [sys.executable, "True"]  # the kernel may stream a print in pieces
    noise = [output["text"] for cell in nb.cells for output in cell.get("outputs", [])
             if output.get("name") == "stderr"]  # TensorFlow's log lines, retracing and other warnings
    assert not noise, noise[0][:500]
