"""Every test gets its own empty ``$TFGEN_HOME``: presets a test builds never reach the user's
folder, and ``tfgen list`` shows the shipped presets only unless a test adds its own.

Under pytest-xdist (``-n auto``: one worker per core) each worker runs TensorFlow on one
intra-op and one inter-op thread, unless the environment says otherwise: with TensorFlow's
default of a thread per core in every worker, the workers' spinning thread pools share the
cores. On the 2-core development machine the suite took 769 s this way against 857-940 s
(docs/benchmarks.md, "The test suite's threads"). Set here, before any test module imports
TensorFlow; the notebooks' kernels and the CLI tests' subprocesses inherit it. ``tfgen`` is
imported here too, so the tests run in the environment it sets before TensorFlow starts
(oneDNN's kernels, :mod:`tfgen`), as the ``tfgen`` command and the notebooks do.
"""
import os

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import tfgen  # noqa: E402, F401  (after the threads, before any test module imports TensorFlow)


@pytest.fixture(autouse=True)
def tfgen_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_HOME", str(tmp_path / "tfgen_home"))
    return tmp_path / "tfgen_home"
