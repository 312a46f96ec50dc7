"""Training runs on disk, and :class:`Run`, the one driver every zoo family trains through.

A run folder holds::

    config.json        the family, the model's Keras serialisation, the run's settings and
                       the optimizers' configs (written when training finishes)
    model.weights.h5   the final weights
    metrics.json       figures, ``final_train`` (last epoch's logs), ``train_seconds``,
                       ``epochs``, ``status`` ("finished", "time_budget", "early_stopped" or
                       "diverged"; the first three are :data:`FINISHED`)
    history.csv        one row per epoch with every column any callback logged (``val_*``:
                       the validation split's, when the family gives one)
    logs/              TensorBoard event files: train/ and validation/ scalars (Keras'),
                       pictures/ (samples, reconstructions, piano rolls: the family's)
    checkpoints/epoch-000012/   model.keras (weights and every optimizer's state, dual
                                optimizers too) + state.json (epochs done, the model's
                                sampling-noise state, wall time, history so far)
                                (+ best.weights.h5 with early stopping)
    best.weights.h5    with early stopping (``Run.fit(monitor=...)``): the weights of the
                       epoch with the best monitored held-out figure so far

A checkpoint is written into a temporary folder and renamed into place, so a kill at any
moment leaves only complete checkpoints; ``--resume`` continues from the newest one and
gives the weights an uninterrupted run would have (given data that are a function of the
epoch, :func:`tfgen.data.epoch_batches`). A batch whose loss is NaN or infinite, or an epoch
that ends with non-finite weights, stops the run: that epoch is not checkpointed, no final
weights are written, ``metrics.json`` says ``"status": "diverged"`` and :class:`DivergedError`
is raised (the CLI exits 1); so does a final figure passed to :meth:`Run.finish` that is not
finite. A batch the model cannot score (:mod:`tfgen.data_checks`) stops the run before its
update with a ``ValueError`` naming the epoch and batch; a new run that stops before its first
checkpoint leaves no folder behind.

Under a multi-worker strategy (:mod:`tfgen.distribute`) only the chief writes ``out``; the
other workers read its checkpoints to resume and write their own files to a temporary folder,
deleted when the process exits.

Early stopping (``Run.fit(..., monitor="val_...", patience=N)``) is Keras' own
``EarlyStopping`` made resumable: the best weights live in ``best.weights.h5`` (and in each
checkpoint), the best figure and the wait are replayed from the history, so a run resumed in
another process stops at the epoch an uninterrupted one would, and ends with the best weights.

Nothing here is pickled; ``config.json`` lets :func:`load` rebuild any registered model
without knowing its class.
"""
from __future__ import annotations

import atexit
import contextlib
import csv
import glob
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import tfgen
from tfgen import distribute, summaries
from tfgen.errors import DivergedError

CONFIG, WEIGHTS, METRICS, HISTORY = "config.json", "model.weights.h5", "metrics.json", "history.csv"
BEST_WEIGHTS = "best.weights.h5"
CHECKPOINTS, LOGS = "checkpoints", "logs"
FINISHED = ("finished", "time_budget", "early_stopped")  # statuses of runs that wrote their final weights
CHECKPOINT_MODEL, CHECKPOINT_STATE = "model.keras", "state.json"
OPTIMIZERS = ("optimizer", "dual_optimizer")
# Settings a resumed run may change: how long and how loudly it runs, not what it trains.
RESUMABLE = frozenset({"epochs", "passes", "max_minutes", "checkpoint_every", "verbose", "resume",
                       "overwrite", "out"})
KEEP_CHECKPOINTS = 2  # newest checkpoints kept besides those asked to be kept
STEPS_PER_CALL = 10  # most training steps per call of the compiled step (Keras' steps_per_execution)


def steps_per_call(steps_per_epoch: int | None, replicas: int = 1) -> int:
    """Training steps :meth:`Run.fit` runs per call of the compiled step: the largest divisor
    of ``steps_per_epoch`` up to :data:`STEPS_PER_CALL` (1 when the epoch's length is unknown,
    or under a ``tf.distribute`` strategy with several ``replicas``, where Keras' multi-step
    loop fails: "You must feed a value for placeholder" with MultiWorkerMirroredStrategy).

    Keras' ``steps_per_execution``: each call of the step costs the same per-call work
    (``fit()``'s Python loop, callbacks, the call into the graph), which ten steps per call
    share (0.6-3.7 ms less per step on this project's CPU benchmarks, docs/benchmarks.md).
    A divisor, so that no call runs into the next epoch's batches and a resumed run sees the
    same batches in the same epochs.
    """
    if not steps_per_epoch or replicas > 1:
        return 1
    return max(d for d in range(1, STEPS_PER_CALL + 1) if steps_per_epoch % d == 0)


class Run:
    """One training run in folder ``out``: refuses to overwrite, resumes exactly, stops on NaN.

    Args:
        out: the run folder.
        settings: JSON-ready settings of the run (the CLI's flags); recorded in
            ``config.json``, and compared on ``resume``.
        family: the zoo family name recorded in ``config.json`` (what ``tfgen evaluate`` uses).
        overwrite: replace a run already in ``out``.
        resume: continue from the newest checkpoint in ``out`` (or from ``resume_epoch``'s).

    Raises:
        ValueError: ``out`` holds a run and neither ``overwrite`` nor ``resume`` was given; or
            ``resume`` without a checkpoint; or resumed settings differ from the recorded ones.

    Use::

        run = Run(out, settings, "iwae", resume=args.resume)
        model = run.restore() or new_model()
        run.fit(model, data, epochs=20)
        run.finish(model, test_log_likelihood_k5000=...)
    """

    def __init__(self, out: str, settings: dict, family: str | None, overwrite: bool = False,
                 resume: bool = False, resume_epoch: int | None = None):
        if overwrite and resume:
            raise ValueError("Pass either --overwrite (start again) or --resume (continue), not both.")
        self.out, self.family = str(out), family
        self.settings = json.loads(json.dumps(settings))  # JSON-ready, as recorded
        self.resume = resume or resume_epoch is not None
        self.checkpoint, self.state = None, {"epoch": 0, "history": [], "train_seconds": 0.0}
        if os.path.exists(self.out) and not os.path.isdir(self.out):
            raise ValueError(f"--out {self.out} is a file, not a folder.")
        self.created = not os.path.exists(self.out)
        shared = self.out
        if not distribute.is_chief():  # another worker of a multi-worker run: the chief writes `out`
            if not (overwrite or self.resume):
                existing_run(shared)  # refuse as the chief does, rather than wait for it
            self.out = tempfile.mkdtemp(prefix="tfgen-worker-")
            atexit.register(shutil.rmtree, self.out, ignore_errors=True)
        if self.resume:
            self.checkpoint = latest_checkpoint(shared, resume_epoch)
            self.state = read_json(os.path.join(self.checkpoint, CHECKPOINT_STATE))
            _check_same_settings(self.state.get("settings", {}), self.settings, self.checkpoint)
            _restore_best_weights(self.checkpoint, self.out)
        else:
            prepare_dir(self.out, overwrite)
        self.started = time.time()

    # --- model -----------------------------------------------------------------------------
    def restore(self) -> keras.Model | None:
        """The compiled model of the checkpoint being resumed (its optimizers' state and its
        sampling noise as they were), or ``None`` for a new run."""
        if self.checkpoint is None:
            return None
        model, self.state = load_checkpoint(self.checkpoint)
        return model

    @property
    def initial_epoch(self) -> int:
        """Epochs done before this session (those of the checkpoint resumed)."""
        return self.state["epoch"]

    # --- training --------------------------------------------------------------------------
    def fit(self, model: keras.Model, data: tf.data.Dataset | Callable[[int], tf.data.Dataset], epochs: int,
            steps_per_epoch: int | None = None, callbacks: Sequence[keras.callbacks.Callback] = (),
            max_minutes: float | None = None, checkpoint_every: int = 1, keep_epochs: Iterable[int] = (),
            verbose: int = 1, validation_data: tf.data.Dataset | None = None,
            pictures: Callable[[keras.Model], dict[str, np.ndarray]] | None = None,
            monitor: str | None = None, patience: int | None = None, mode: str = "max") -> dict[str, list]:
        """Train ``model`` for epochs ``initial_epoch .. epochs - 1``; return the whole history.

        Args:
            model: a compiled model (new, or :meth:`restore`'s).
            data: a ``tf.data.Dataset`` read once per epoch, or a function
                ``first_epoch -> dataset`` of the batches of every remaining epoch back to
                back (then pass ``steps_per_epoch``); the latter resumes exactly.
            epochs: the epoch to train up to.
            steps_per_epoch: batches per epoch (required for a function of the first epoch).
                A model compiled with Keras' default of one step per call then runs
                :func:`steps_per_call` steps per call.
            callbacks: the family's callbacks, run before the driver's own (so the logs they
                add reach the history, TensorBoard and checkpoints).
            max_minutes: stop after the first epoch that ends past this wall time.
            checkpoint_every: checkpoint every this many epochs (and after the last).
            keep_epochs: epochs whose checkpoints are never pruned (e.g. schedule stages).
            verbose: Keras' verbosity.
            validation_data: held-out data (a validation split, never the test split) that
                ``fit`` scores after every epoch: the model's bound and every logged metric as
                ``val_*`` columns, in the history and in TensorBoard.
            pictures: ``model -> {name: picture in [0, 1]}``, drawn into TensorBoard after
                every epoch (``logs/pictures``, :class:`tfgen.summaries.Pictures`).
            monitor: early stopping on this log key (a held-out figure a callback logs, e.g.
                ``val_log_likelihood_k100``): stop after ``patience`` evaluations without
                improvement and end with the weights of the best one (``best.weights.h5``).
            patience: evaluations of ``monitor`` without improvement before stopping.
            mode: ``"max"`` (a bound, the default) or ``"min"`` (a loss).

        Returns:
            ``{column: [value per epoch]}`` over every epoch of the run, resumed ones included.

        Raises:
            DivergedError: a loss was NaN or infinite (the last good checkpoint is kept).
        """
        if checkpoint_every is not None and checkpoint_every < 1:
            raise ValueError(f"--checkpoint-every must be >= 1, got {checkpoint_every}.")
        if max_minutes is not None and not (max_minutes > 0 and math.isfinite(max_minutes)):
            raise ValueError(f"--max-minutes must be a positive number, got {max_minutes}.")
        first, state = self.initial_epoch, self.state
        if first >= epochs:
            raise ValueError(f"The checkpoint already has {first} epochs; ask for more with --epochs.")
        stopping = [] if monitor is None else [
            _EarlyStopping(self.out, monitor, patience, mode, state["history"])]
        if stopping and stopping[0].replay() >= patience:
            raise ValueError(f"{self.out} already stopped early ({patience} evaluations of {monitor} without "
                             "improvement); its final weights are the best ones.")
        if callable(data) and not hasattr(data, "element_spec"):
            data = data(first)
        calls = steps_per_call(steps_per_epoch, model.distribute_strategy.num_replicas_in_sync)
        if model.steps_per_execution == 1 and calls > 1:  # a user's own setting stays
            model.steps_per_execution = calls
            model.make_train_function(force=True)  # the cached step functions run one step
            model.make_test_function(force=True)
        guard = _NaNGuard()
        checkpointer = _Checkpointer(self, every=checkpoint_every or epochs, keep=set(keep_epochs),
                                     guard=guard, seconds_before=state["train_seconds"],
                                     history=state["history"])
        budget = [] if max_minutes is None else [TimeBudget(max_minutes)]  # before the checkpointer
        logs = os.path.join(self.out, LOGS)
        drawn = [] if pictures is None else [summaries.Pictures(os.path.join(logs, "pictures"), pictures)]
        # Early stopping sees the family's held-out figure and saves the best weights before the
        # checkpointer copies them.
        driver = [*stopping, guard, *budget, checkpointer, keras.callbacks.TensorBoard(logs), *drawn]
        start = time.time()
        try:
            model.fit(data, epochs=epochs, initial_epoch=first, steps_per_epoch=steps_per_epoch,
                      validation_data=validation_data, verbose=verbose, callbacks=list(callbacks) + driver)
        except ValueError as error:  # bad data or settings found by the model, before a batch's update
            self._abandon(f"{error} Training stopped at {guard.position()}.")
            raise ValueError(f"{error} Training stopped at {guard.position()}; nothing final was written.") \
                from None
        self.train_seconds = state["train_seconds"] + time.time() - start
        self.history = checkpointer.history
        self.epochs_done = first + len(self.history) - len(state["history"])
        self.stopped_early = bool(stopping and stopping[0].stopped_epoch)
        self.budget_hit = self.epochs_done < epochs and not guard.diverged and not self.stopped_early
        self.best = stopping[0].summary() if stopping else {}
        if guard.diverged:
            last = latest_checkpoint(self.out, required=False)
            update_metrics(self.out, status="diverged", diverged_at=guard.where,
                           last_good_checkpoint=last and os.path.relpath(last, self.out))
            raise DivergedError(
                f"training diverged at {guard.where} (loss {guard.loss}); nothing final was written. "
                + (f"The last good checkpoint is {last}: lower the learning rate and pass --resume."
                   if last else "No epoch finished cleanly: lower the learning rate and start again."))
        return {key: [row.get(key) for row in self.history] for key in _columns(self.history)}

    def _abandon(self, reason):
        """After a failure: a new run with no checkpoint leaves nothing; otherwise metrics.json
        records ``"status": "failed"`` beside the checkpoints kept."""
        if not self.resume and not checkpoints(self.out):
            if self.created:
                shutil.rmtree(self.out, ignore_errors=True)
            else:
                for name in (LOGS, HISTORY, METRICS):
                    path = os.path.join(self.out, name)
                    if os.path.isdir(path):
                        shutil.rmtree(path)
                    elif os.path.exists(path):
                        os.remove(path)
        else:
            update_metrics(self.out, status="failed", error=reason)

    def finish(self, model: keras.Model, **metrics) -> dict:
        """Write the final ``config.json``, ``model.weights.h5`` and ``metrics.json``; return it.

        Raises:
            DivergedError: a figure in ``metrics`` is NaN or infinite (nothing final is
                written; ``metrics.json`` says ``"status": "diverged"``).
        """
        bad = sorted(key for key, value in _flat_numbers(metrics) if not math.isfinite(value))
        if bad:
            update_metrics(self.out, status="diverged", diverged_at=f"the final figures ({', '.join(bad)})")
            raise DivergedError(f"the final figures {', '.join(bad)} are not finite; nothing final was "
                                f"written (the checkpoints in {self.out}/{CHECKPOINTS} are kept).")
        save(model, self.out, self.settings, self.family)
        last = ({key: value for key, value in self.history[-1].items() if key != "epoch"}
                if self.history else {})
        status = "early_stopped" if self.stopped_early else "time_budget" if self.budget_hit else "finished"
        return update_metrics(self.out, status=status, epochs=self.epochs_done,
                              train_seconds=round(self.train_seconds, 1), final_train=last, **self.best,
                              **metrics)


def _check_same_settings(recorded, settings, checkpoint, resumable=RESUMABLE,
                         what="--resume continues the run"):
    """``ValueError`` naming every setting outside ``resumable`` that differs from the recorded one.

    Only what the checkpoint records is compared, key by key inside nested settings (the
    model's config): a setting that a later tfgen added (a new flag, a new config field) is not
    in an older checkpoint and takes its value from the command.
    """
    # Checkpoints written before settings stopped recording the command's family name carry a
    # "family" key; the family is the checkpoint's model class, so it is not compared.
    recorded = {key: value for key, value in recorded.items() if key != "family"}
    changed = {key: (old, settings.get(key)) for key, old in recorded.items()
               if key not in resumable and _differs(old, settings.get(key))}
    if changed:
        details = ", ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in sorted(changed.items()))
        raise ValueError(f"{what} of {checkpoint} with its own settings, but these "
                         f"differ: {details}. Start a new run (another --out) to change them.")


def _differs(recorded, value):
    """Whether ``value`` changes ``recorded``; dicts compared on the keys ``recorded`` has."""
    if isinstance(recorded, dict) and isinstance(value, dict):
        return any(_differs(old, value.get(key)) for key, old in recorded.items())
    return recorded != value


def check_search_settings(out, settings, extendable=("max_trials",)):
    """Record a search's ``settings`` in ``out/settings.json``, or refuse to continue a search
    there whose recorded settings differ (besides how long and loudly it runs and ``extendable``):
    its finished trials were scored by other rules and would be reported as the new best."""
    settings = json.loads(json.dumps(settings))
    path = os.path.join(out, "settings.json")
    if os.path.exists(path):
        _check_same_settings(read_json(path), settings, out, RESUMABLE | set(extendable),
                             what="this search continues the one")
    os.makedirs(out, exist_ok=True)
    write_json(path, settings)


class _NaNGuard(keras.callbacks.Callback):
    """Stops ``fit`` at the first batch whose loss is NaN or infinite, or at the end of an epoch
    whose logs or weights are."""

    def __init__(self):
        super().__init__()
        self.diverged, self.where, self.loss, self.epoch, self.batch = False, None, None, 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batch = epoch, None

    def on_train_batch_begin(self, batch, logs=None):
        self.batch = batch

    def position(self, last=None):
        """Where training is: ``"epoch 3, batch 17"`` (``"batches 11-20"`` when a call of the
        step runs several, :func:`steps_per_call`), or ``"its first batch"`` before any."""
        if self.batch is None:
            return f"epoch {self.epoch + 1}" if self.epoch else "its first batch"
        last = self.batch + self.model.steps_per_execution - 1 if last is None else last
        batches = f"batch {last + 1}" if last == self.batch else f"batches {self.batch + 1}-{last + 1}"
        return f"epoch {self.epoch + 1}, {batches}"

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.diverged, self.loss = True, float(loss)
            self.where = self.position(last=batch)
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        bad = [key for key, value in (logs or {}).items()
               if isinstance(value, (int, float, np.floating)) and not np.isfinite(value)]
        # A batch's loss is computed before its update: the last step of an epoch can make the
        # weights non-finite behind a finite loss, and they must not become a checkpoint.
        if not self.diverged and not all(np.isfinite(w).all() for w in self.model.get_weights()):
            bad.append("weights")
        if bad and not self.diverged:
            self.diverged, self.loss = True, {key: (logs or {}).get(key, "not finite") for key in bad}
            self.where = f"the end of epoch {epoch + 1} ({', '.join(bad)} not finite)"
            self.model.stop_training = True


class _EarlyStopping(keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` that survives a resume in another process.

    The best weights are written to ``out/best.weights.h5`` when ``monitor`` improves (and
    copied into each checkpoint by :func:`save_checkpoint`) and loaded back when training
    ends; :meth:`replay` rebuilds the best value, its epoch and the wait from the resumed
    history. Epochs whose logs lack ``monitor`` (held-out figures measured every N epochs)
    neither count nor warn.
    """

    def __init__(self, out, monitor, patience, mode, history):
        if patience is None or patience < 1:
            raise ValueError(f"Early stopping on {monitor} needs patience >= 1, got {patience!r}.")
        super().__init__(monitor=monitor, patience=patience, mode=mode)
        self.path, self.history = os.path.join(out, BEST_WEIGHTS), history

    def replay(self):
        """Set the state from the history of the epochs already trained; return the wait."""
        self.wait, self.stopped_epoch, self.best, self.best_epoch = 0, 0, None, 0
        if self.monitor_op is None:
            self._set_monitor_op()
        for row in self.history:
            value = row.get(self.monitor)
            if value is None:
                continue
            self.wait += 1
            if self._is_improvement(value, self.best):
                self.best, self.best_epoch, self.wait = value, row["epoch"] - 1, 0
        return self.wait

    def on_train_begin(self, logs=None):
        self.replay()

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get(self.monitor) is None:
            return
        super().on_epoch_end(epoch, logs)
        if self.best_epoch == epoch:
            with _atomic(self.path, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)

    def on_train_end(self, logs=None):
        if os.path.exists(self.path):
            self.model.load_weights(self.path)

    def summary(self):
        """``best_epoch`` and ``best_{monitor}`` for ``metrics.json``."""
        if self.best is None:
            return {}
        return {"best_epoch": self.best_epoch + 1, f"best_{self.monitor}": float(self.best)}


class _Checkpointer(keras.callbacks.Callback):
    """Appends each epoch to ``history.csv`` and checkpoints every ``every`` epochs."""

    def __init__(self, run, every, keep, guard, seconds_before, history):
        super().__init__()
        self.run, self.every, self.keep, self.guard = run, every, keep, guard
        self.seconds_before, self.history = seconds_before, list(history)

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.diverged:
            return
        done = epoch + 1
        row = {"epoch": done, **{key: _plain(value) for key, value in (logs or {}).items()}}
        self.history.append(row)
        write_history(os.path.join(self.run.out, HISTORY), self.history)
        last = done == self.params.get("epochs") or self.model.stop_training
        if done % self.every == 0 or last or done in self.keep:
            seconds = self.seconds_before + time.time() - self.start
            save_checkpoint(self.model, self.run.out, done, seconds, self.history, self.run.settings)
            prune_checkpoints(self.run.out, self.keep)


class TimeBudget(keras.callbacks.Callback):
    """Stop ``fit`` after the first epoch that ends ``minutes`` of wall time after it began."""

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = 60.0 * minutes

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if time.time() - self.start > self.seconds:
            self.model.stop_training = True


# --- checkpoints -------------------------------------------------------------------------------
def save_checkpoint(model: keras.Model, out: str, epochs_done: int, train_seconds: float, history: list[dict],
                    settings: dict) -> str:
    """Write ``out/checkpoints/epoch-{epochs_done}/`` atomically (temporary folder, then rename)."""
    folder = os.path.join(out, CHECKPOINTS)
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, f"epoch-{epochs_done:06d}")
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=folder)
    model.save(os.path.join(tmp, CHECKPOINT_MODEL))
    state = {"epoch": int(epochs_done), "train_seconds": round(float(train_seconds), 1),
             "seed_generator_state": model.seed_generator.state.numpy().tolist(),
             "history": history, "settings": settings, "tfgen_version": tfgen.__version__}
    write_json(os.path.join(tmp, CHECKPOINT_STATE), state)
    if os.path.exists(os.path.join(out, BEST_WEIGHTS)):
        shutil.copy(os.path.join(out, BEST_WEIGHTS), os.path.join(tmp, BEST_WEIGHTS))
    if os.path.exists(final):  # an earlier attempt at this epoch (a resumed run): replace it
        shutil.rmtree(final)
    os.rename(tmp, final)
    return final


def checkpoints(out: str) -> list[str]:
    """Complete checkpoint folders of the run in ``out``, oldest first."""
    return sorted(glob.glob(os.path.join(out, CHECKPOINTS, "epoch-[0-9]*")))


def latest_checkpoint(out: str, epoch: int | None = None, required: bool = True) -> str | None:
    """The newest complete checkpoint of ``out`` (or the one after ``epoch`` epochs)."""
    found = checkpoints(out)
    if epoch is not None:
        found = [f for f in found if f.endswith(f"epoch-{epoch:06d}")]
    if not found:
        if not required:
            return None
        which = f"after {epoch} epochs" if epoch is not None else "at all"
        raise ValueError(f"--resume: {out} holds no checkpoint {which} ({out}/{CHECKPOINTS}/epoch-N).")
    return found[-1]


def _restore_best_weights(checkpoint, out):
    """Put the checkpoint's best weights (early stopping) back in the run folder, or remove a
    newer run's best weights that the checkpoint did not have."""
    source, target = os.path.join(checkpoint, BEST_WEIGHTS), os.path.join(out, BEST_WEIGHTS)
    if os.path.exists(source):
        shutil.copy(source, target)
    elif os.path.exists(target):
        os.remove(target)


def prune_checkpoints(out: str, keep: Iterable[int] = ()) -> None:
    """Delete all but the newest :data:`KEEP_CHECKPOINTS` checkpoints and those in ``keep``."""
    found = checkpoints(out)
    for folder in found[:-KEEP_CHECKPOINTS]:
        if int(folder.rsplit("-", 1)[1]) not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def load_checkpoint(folder: str) -> tuple[keras.Model, dict]:
    """``(model, state)`` of a checkpoint folder: the model compiled with its optimizers' state
    and its sampling noise restored; ``state`` as :func:`save_checkpoint` wrote it."""
    model = keras.saving.load_model(os.path.join(folder, CHECKPOINT_MODEL))
    state = read_json(os.path.join(folder, CHECKPOINT_STATE))
    model.seed_generator.state.assign(np.asarray(state["seed_generator_state"],
                                                 dtype=model.seed_generator.state.dtype))
    return model, state


# --- finished runs -----------------------------------------------------------------------------
def existing_run(out: str, overwrite: bool = False) -> list[str]:
    """The run files in ``out``; ``ValueError`` if there are any and not ``overwrite``."""
    existing = [f for f in (CONFIG, WEIGHTS, METRICS, HISTORY, CHECKPOINTS, BEST_WEIGHTS)
                if os.path.exists(os.path.join(out, f))]
    if existing and not overwrite:
        raise ValueError(
            f"{out} already holds a run ({', '.join(existing)}); choose another --out, pass --resume to "
            "continue it or --overwrite to replace it."
        )
    return existing


def prepare_dir(out: str, overwrite: bool = False) -> None:
    """Create ``out``; refuse to reuse a folder holding a run unless ``overwrite`` (then it is
    emptied of the old run's files)."""
    existing = existing_run(out, overwrite)
    for name in existing + [LOGS]:
        path = os.path.join(out, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    os.makedirs(out, exist_ok=True)


def save(model: keras.Model, out: str, settings: dict, family: str | None = None) -> None:
    """Write the model's config with the run ``settings`` (and ``family``) and its weights."""
    config = {
        "family": family,
        "model": keras.saving.serialize_keras_object(model),
        "settings": settings,
        "tfgen_version": tfgen.__version__,
    }
    for name in OPTIMIZERS:  # so a preset made from the run can recompile
        if getattr(model, name, None) is not None:
            config[name] = keras.optimizers.serialize(getattr(model, name))
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, CONFIG), config)
    with _atomic(os.path.join(out, WEIGHTS), suffix=".weights.h5") as tmp:
        model.save_weights(tmp)


def load(path: str) -> tuple[keras.Model, dict]:
    """``(model, settings)`` of the run in ``path``, with its weights loaded, not compiled.

    Raises:
        FileNotFoundError: ``config.json`` or ``model.weights.h5`` is missing.
        ValueError: ``config.json`` lacks ``model`` or ``settings``, names a class Keras does
            not know, or asks for more weights than ``model.weights.h5`` holds
            (:func:`check_sizes`); the weights do not fit the model.
    """
    config_path, weights_path = os.path.join(path, CONFIG), os.path.join(path, WEIGHTS)
    for f in (config_path, weights_path):
        if not os.path.exists(f):
            raise FileNotFoundError(f"{path} is not a finished tfgen run: {f} is missing.")
    config = read_json(config_path)
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} holds a JSON {type(config).__name__}, not a tfgen run's object.")
    missing = [key for key in ("model", "settings") if not isinstance(config.get(key), dict)]
    if missing:
        raise ValueError(f"{config_path} lacks {' and '.join(missing)}; it was not written by tfgen.")
    name = config["model"].get("registered_name")
    if keras.saving.get_registered_object(name) is None:
        raise ValueError(f"{config_path} names the model class {name!r}, which Keras does not know "
                         "(not a tfgen model, or its module is not imported).")
    check_sizes(config["model"].get("config", {}), weights_path)
    try:
        model = keras.saving.deserialize_keras_object({**config["model"], "compile_config": None})
        if not model.built:
            model.build()
        model.load_weights(weights_path)
    except (TypeError, KeyError) as error:
        raise ValueError(f"{path}: the model in {CONFIG} cannot be built or loaded ({type(error).__name__}: "
                         f"{error}).") from None
    return model, config["settings"]


def weight_count(weights_path):
    """Numbers stored in a ``.weights.h5`` file, read from its headers only."""
    import h5py

    sizes = []
    try:
        with h5py.File(weights_path, "r") as f:
            f.visititems(lambda _, item: sizes.append(item.size) if isinstance(item, h5py.Dataset) else None)
    except OSError as error:
        raise ValueError(f"{weights_path} is not a readable weights file ({error}).") from None
    return sum(sizes)


SIZE_FACTOR = 64


def check_sizes(model_config, weights_path):
    """Refuse a model config that asks for more weights than ``weights_path`` holds, before
    anything is built (a hostile ``hidden [[20000, 20000]]`` would take 10 GB).

    Sizes in a config come as ints and lists of ints (an MLP's widths, an image shape); any
    one int, and any two neighbours in a list (the matrix between two layers), bound the
    weights the model has from below. Seeds and sample counts are not sizes. Some fields size
    blocks a configuration does not build (an IAF's width beside a Gaussian posterior), so a
    config may ask for up to :data:`SIZE_FACTOR` times the stored numbers: the hostile config
    asks for 400 million against about a million.
    """
    stored = weight_count(weights_path)

    def demands(value, key=""):
        if key in ("seed", "k", "name") or isinstance(value, bool):
            return
        if isinstance(value, int):
            yield value
        elif isinstance(value, dict):
            for child_key, child in value.items():
                yield from demands(child, child_key)
        elif isinstance(value, (list, tuple)):
            ints = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
            yield from (a * b for a, b in zip(ints, ints[1:]))
            for child in value:
                yield from demands(child, key)

    try:
        largest = max(demands(model_config), default=0)
    except RecursionError:
        raise ValueError(f"The config beside {weights_path} is nested too deep to be a tfgen "
                         "model.") from None
    if largest > SIZE_FACTOR * stored:
        raise ValueError(f"{weights_path} holds {stored} numbers, but its config asks for a layer of at "
                         f"least {largest}; the config does not belong to these weights "
                         "(refusing to build it).")


MAX_JSON_BYTES = 64 << 20


def read_json(file: str) -> Any:
    """The JSON value in ``file``; ``ValueError`` naming the file if it is not JSON, larger than
    :data:`MAX_JSON_BYTES`, or nested too deep to parse."""
    if os.path.getsize(file) > MAX_JSON_BYTES:
        raise ValueError(f"{file} is larger than {MAX_JSON_BYTES >> 20} MB; not a tfgen file.")
    try:
        with open(file) as f:
            return json.load(f)
    except RecursionError:
        raise ValueError(f"{file} is nested too deep to be a tfgen file.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{file} is not valid JSON ({error}).") from None


def read_metrics(path: str) -> dict:
    """The run's ``metrics.json`` (``{}`` if it has none yet)."""
    file = os.path.join(path, METRICS)
    return read_json(file) if os.path.exists(file) else {}


def update_metrics(path: str, **values) -> dict:
    """Merge ``values`` into ``path/metrics.json``, keeping every key already there."""
    metrics = read_metrics(path)
    metrics.update(values)
    write_json(os.path.join(path, METRICS), metrics)
    return metrics


def write_json(file: str, value: Any) -> None:
    """Write ``value`` as JSON atomically; non-finite floats become ``null`` (valid JSON)."""
    text = json.dumps(_finite(value), indent=2, sort_keys=True, allow_nan=False)
    with _atomic(file) as tmp, open(tmp, "w") as f:
        f.write(text + "\n")


def write_history(file: str, rows: list[dict]) -> None:
    """``rows`` (dicts, one per epoch) as CSV with the union of their columns, atomically."""
    columns = _columns(rows)
    with _atomic(file) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


@contextlib.contextmanager
def _atomic(file, suffix=".tmp"):
    """A unique temporary path beside ``file``, renamed onto it when the block succeeds."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(file)}.", suffix=suffix,
                               dir=os.path.dirname(os.path.abspath(file)))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, file)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _columns(rows):
    """The union of the rows' keys, ``epoch`` first, then in order of first appearance."""
    return list(dict.fromkeys(["epoch"] * any("epoch" in row for row in rows)
                              + [key for row in rows for key in row]))


def _plain(value):
    value = np.asarray(value)
    return value.item() if value.size == 1 else value.tolist()


def _flat_numbers(value, prefix=""):
    """``(key, float)`` of every real number in a nested dict of metrics."""
    if isinstance(value, dict):
        for key, v in value.items():
            yield from _flat_numbers(v, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
    elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        yield prefix, float(value)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
