"""Staged learning-rate schedules, as ``epoch -> learning rate`` for Keras callbacks.

Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (ICLR 2016, sec. 5):
stages ``i = 0..7``, stage ``i`` lasts ``3^i`` epochs at learning rate
``0.001 * 10^(-i/7)``, so the whole schedule is ``sum_i 3^i = 3280`` passes over the data.
The published code (github.com/yburda/iwae, ``experiments.py``) rounds the rate to two
significant digits, ``1e-4 * round(10^(1 - i/7), 1)`` (1.0, 0.72, 0.52, 0.37, 0.27, 0.19,
0.14, 0.10 times 1e-3); :meth:`StagedSchedule.burda` uses the code's values.

A ``passes`` budget below 3280 keeps the stages in order and cuts the schedule after
``passes`` epochs; :attr:`StagedSchedule.truncated` says so and every report must too.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BURDA_STAGES = 8
BURDA_PASSES = sum(3 ** i for i in range(BURDA_STAGES))  # 3280


class StagedSchedule:
    """Piecewise-constant learning rate over epochs: ``stages`` is ``[(epochs, rate), ...]``.

    Call it as ``schedule(epoch)`` (0-based, what ``keras.callbacks.LearningRateScheduler``
    passes) to get the rate of that epoch.

    Args:
        stages: ``(epochs, learning_rate)`` per stage, in training order.
        passes: optional budget in epochs; the schedule stops after that many epochs.
    """

    def __init__(self, stages: Sequence[tuple[int, float]], passes: int | None = None):
        self.full_stages = [(int(e), float(lr)) for e, lr in stages]
        if not self.full_stages or any(e < 1 or lr <= 0 for e, lr in self.full_stages):
            raise ValueError(f"Stages need >= 1 epoch and a positive rate each, got {stages!r}.")
        self.full_epochs = sum(e for e, _ in self.full_stages)
        if passes is not None and int(passes) < 1:
            raise ValueError(f"passes must be >= 1, got {passes!r}.")
        self.passes = self.full_epochs if passes is None else min(int(passes), self.full_epochs)
        self.stages, left = [], self.passes
        for epochs, lr in self.full_stages:
            if left <= 0:
                break
            self.stages.append((min(epochs, left), lr))
            left -= epochs
        # boundaries[c] = epochs done when checkpoint c is written (c = 0 before training).
        self.boundaries = [0] + list(np.cumsum([e for e, _ in self.stages]).tolist())

    @classmethod
    def burda(cls, passes: int | None = None) -> StagedSchedule:
        """The IWAE paper's 8 stages of ``3^i`` epochs (published code's rounded rates)."""
        rates = [round(round(10 ** (1 - i / 7), 1) * 1e-4, 6) for i in range(BURDA_STAGES)]
        return cls([(3 ** i, rate) for i, rate in enumerate(rates)], passes)

    @classmethod
    def geometric(cls, epochs: int, first: float, last: float, stages: int = 10) -> StagedSchedule:
        """``epochs`` split into ``stages`` equal stages whose rates fall geometrically from
        ``first`` to ``last`` (``first * (last / first)^(i / (stages - 1))``), a piecewise-
        constant exponential decay."""
        stages = max(1, min(int(stages), int(epochs)))
        lengths = [epochs // stages + (i < epochs % stages) for i in range(stages)]
        ratio = last / first
        return cls([(n, first * ratio ** (i / max(1, stages - 1))) for i, n in enumerate(lengths)])

    @property
    def epochs(self) -> int:
        """Epochs the schedule trains (``passes``)."""
        return self.passes

    @property
    def truncated(self) -> bool:
        """Whether ``passes`` cut the schedule short."""
        return self.passes < self.full_epochs

    def stage_of(self, epoch: int) -> int:
        """0-based stage of 0-based ``epoch``."""
        if not 0 <= epoch < self.passes:
            raise ValueError(f"Epoch {epoch} is outside the schedule's {self.passes} epochs.")
        return int(np.searchsorted(self.boundaries, epoch, side="right")) - 1

    def start_of(self, stage: int) -> int:
        """First epoch (0-based) of ``stage``; ``stage == len(stages)`` gives the end."""
        if not 0 <= stage <= len(self.stages):
            raise ValueError(f"Stage {stage} is outside 0..{len(self.stages)} of this schedule.")
        return self.boundaries[stage]

    def __call__(self, epoch: int, learning_rate: float | None = None) -> float:
        return self.stages[self.stage_of(epoch)][1]

    def describe(self) -> dict:
        """A JSON-ready summary for ``metrics.json``."""
        return {
            "stages": [{"epochs": e, "learning_rate": lr} for e, lr in self.stages],
            "passes": self.passes,
            "full_passes": self.full_epochs,
            "truncated": self.truncated,
        }
