"""Training killed while it writes a checkpoint or its final weights resumes to bit-identical weights.

Each timing stops the process inside a write (issue 13, kind 13): a real ``SIGKILL`` in a
subprocess, and, in this process, an exception no handler catches raised at several points
of :func:`tfgen.runs.save_checkpoint` and :func:`tfgen.runs.save` (a kill runs no cleanup;
the exception runs only ``finally`` blocks, which remove temporary files a kill would leave,
so the leftovers of a real kill are created by hand too).
"""
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.tfgen.test_runs import SETTINGS, train
from tfgen import runs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Killed(BaseException):
    """Stands for the process dying: not an ``Exception``, so nothing on the way catches it."""


def state(model):
    return [v.numpy() for v in model.weights + model.optimizer.variables]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    _, model, _ = train(tmp_path_factory.mktemp("straight") / "run", 4)
    return state(model)


def killed_at(monkeypatch, name, when):
    """Make ``runs.<name>`` die on its ``when``-th call (for ``prune_checkpoints``: the new
    checkpoint is in place, the old ones not yet pruned)."""
    original, calls = getattr(runs, name), []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) < when:
            return original(*args, **kwargs)
        raise Killed(name)

    monkeypatch.setattr(runs, name, dying)


def killed_in_save(monkeypatch, when):
    """Die halfway through the ``when``-th ``model.save`` of a checkpoint (a partial .keras file)."""
    original, calls = keras.Model.save, []

    def dying(self, filepath, *args, **kwargs):
        calls.append(1)
        if len(calls) < when:
            return original(self, filepath, *args, **kwargs)
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 partial")
        raise Killed("model.save")

    monkeypatch.setattr(keras.Model, "save", dying)


# Inside the checkpoint's model.keras, and after its rename but before old checkpoints are pruned;
# inside its state.json is the real SIGKILL below.
@pytest.mark.parametrize("where", ["model.save", "prune_checkpoints"])
def test_a_kill_inside_a_checkpoint_write_resumes_to_bit_identical_weights(tmp_path, monkeypatch, straight,
                                                                           where):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        if where == "model.save":
            killed_in_save(patch, 3)  # during epoch 3's checkpoint
        else:
            killed_at(patch, where, 3)
        with pytest.raises(Killed):
            train(out, 4)
    done = int(runs.latest_checkpoint(out).rsplit("-", 1)[1])
    assert done == (3 if where == "prune_checkpoints" else 2)  # the half-written one is invisible
    run, model, history = train(out, 4, resume=True)
    assert run.initial_epoch == done and len(history["loss"]) == 4
    for a, b in zip(straight, state(model)):
        np.testing.assert_array_equal(a, b)


def test_a_kill_during_the_final_weights_write_leaves_no_half_file(tmp_path, monkeypatch, straight):
    out = tmp_path / "run"
    run, model, _ = train(out, 4)
    with monkeypatch.context() as patch:
        def dying(self, filepath, *args, **kwargs):
            with open(filepath, "wb") as f:
                f.write(b"\x89HDF partial")
            raise Killed("save_weights")

        patch.setattr(keras.Model, "save_weights", dying)
        with pytest.raises(Killed):
            run.finish(model)
    assert not (out / "model.weights.h5").exists()  # never a file that looks complete but is not
    with pytest.raises(FileNotFoundError, match="not a finished tfgen run"):
        runs.load(out)
    run.finish(model)
    loaded, _ = runs.load(out)
    for a, b in zip(straight, [w.numpy() for w in loaded.weights]):
        np.testing.assert_array_equal(a, b)


# A real SIGKILL in the middle of epoch 3's checkpoint (after its model.keras, before its state).
KILL = """
import os, signal
from tfgen import runs
from tests.tfgen.test_runs import train
original, calls = runs.write_json, []
def dying(file, value):
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(file, value)
runs.write_json = dying
train(OUT, 4)
"""


def test_a_real_sigkill_during_a_checkpoint_resumes_to_bit_identical_weights(tmp_path, straight):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", KILL.replace("OUT", repr(str(out)))], cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    leftovers = [name for name in os.listdir(out / "checkpoints") if name.startswith(".tmp-")]
    assert leftovers and runs.latest_checkpoint(out).endswith("epoch-000002")
    run, model, _ = train(out, 4, resume=True, settings=SETTINGS)
    for a, b in zip(straight, state(model)):
        np.testing.assert_array_equal(a, b)
