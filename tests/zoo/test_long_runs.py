"""The long runs committed mid-training (``docs/runs/*/<run>/checkpoints/epoch-N``).

Each must resume in a later session with the training command its checkpoint records
(``Family.command`` of the recorded settings, the command docs/results.md and docs/vrnn.md
quote) plus ``--out COPY --resume``: the run driver refuses a resume whose settings differ, so
asking for no more epochs than the checkpoint has gets as far as the driver's "already has N
epochs" and proves the settings match, without training.
"""
import glob
import os
import shlex
import shutil

import pytest

from tests.markers import requires_data
from tfgen import runs
from zoo import cli, families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKPOINTS = sorted(glob.glob(os.path.join(ROOT, "docs", "runs", "*", "*", "checkpoints", "epoch-*")))


def resume_command(checkpoint, out, epochs=None):
    """The argv of ``tfgen`` that resumes ``checkpoint``'s run into ``out`` (its recorded
    training command, ``--out out --resume``, ``--epochs`` replaced when given)."""
    for name in families.NAMES:  # register every zoo model class for loading
        families.module(name, "model")
    model, state = runs.load_checkpoint(checkpoint)
    argv = shlex.split(families.of(model).command(state["settings"]))[1:]
    flags = {"--out": str(out), **({"--epochs": str(epochs)} if epochs is not None else {})}
    for flag, value in flags.items():
        argv[argv.index(flag) + 1] = value
    return argv + ["--resume"], state


@requires_data
@pytest.mark.parametrize("checkpoint", CHECKPOINTS, ids=lambda path: path.split(os.sep)[-3])
def test_committed_checkpoint_resumes_with_its_recorded_command(checkpoint, tmp_path, capsys):
    run = os.path.dirname(os.path.dirname(checkpoint))
    out = tmp_path / "run"
    shutil.copytree(run, out)
    state = runs.read_json(os.path.join(checkpoint, runs.CHECKPOINT_STATE))
    assert os.path.exists(os.path.join(run, runs.HISTORY)) and len(state["history"]) == state["epoch"]
    argv, _ = resume_command(checkpoint, out, epochs=state["epoch"])
    assert cli.main(argv) == 2
    assert f"already has {state['epoch']} epochs" in capsys.readouterr().err


def test_every_committed_checkpoint_folder_holds_only_epoch_folders():
    """A checkpoint copied in as loose files (``checkpoints/model.keras``) is invisible to
    ``--resume`` and to the test above; every entry must be an ``epoch-N`` folder."""
    folders = glob.glob(os.path.join(ROOT, "docs", "runs", "*", "*", "checkpoints"))
    assert folders
    for folder in folders:
        for entry in os.listdir(folder):
            assert entry.startswith("epoch-") and os.path.isdir(os.path.join(folder, entry)), (folder, entry)
