"""NaN or inf in the loss or the Q-values stops the run with an error that names the
steps, and the newest checkpoint on disk is still the last good one.

The fault is injected into a real Trainer on real ROMs by wrapping the
learner's update: either the online network's weights are poisoned with NaN
(what a divergence does: every later loss and Q-value is NaN, and a
checkpoint written after it would carry the poison), or the update reports an
infinite mean Q-value.
"""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from dqn_core.run import NonFiniteError, Trainer, TrainingInterrupted
from dqn_core.run.checkpoint import CheckpointManager

from . import RunSpec, audit_checkpoints, check_metrics_continuous, read_csv

pytestmark = pytest.mark.integration


def poison(trainer: Trainer, from_step: int, how: str) -> None:
    """Make every update from agent step ``from_step`` on non-finite."""
    real_update = trainer.learner.update

    def update(batch: Any) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        if trainer.step < from_step:
            return real_update(batch)
        if how == "nan-weights":
            with torch.no_grad():
                next(trainer.learner.online.parameters()).fill_(math.nan)
            return real_update(batch)
        metrics, priorities = real_update(batch)
        return {**metrics, "q_mean": torch.tensor(math.inf)}, priorities

    trainer.learner.update = update  # type: ignore[method-assign]


def finite_weights(state: dict[str, Any]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in state["learner"]["online"].values())


@pytest.mark.parametrize(
    ("how", "from_step", "message"),
    [
        (
            "nan-weights",
            310,
            "learn/loss became nan between steps 300 and 350; stopping (the last checkpoint is kept)",
        ),
        (
            "inf-q",
            210,
            "learn/q_mean became inf between steps 200 and 250; stopping (the last checkpoint is kept)",
        ),
    ],
)
def test_non_finite_learning_stops_at_the_next_log_point_keeping_the_good_checkpoint(
    tmp_path: Path, how: str, from_step: int, message: str
) -> None:
    spec = RunSpec(tmp_path / "run", steps=800)
    trainer = Trainer(spec.config(), spec.run_dir, quiet=True)
    poison(trainer, from_step, how)
    with pytest.raises(NonFiniteError) as info:
        trainer.run()
    assert str(info.value) == message
    last_good = (from_step // 200) * 200
    audit = audit_checkpoints(spec.run_dir / "checkpoints")
    assert audit.newest == last_good and audit.temps == (), audit
    state, path = CheckpointManager(spec.run_dir / "checkpoints", keep=2).latest()  # type: ignore[misc]
    assert path.name == f"ckpt-{last_good:012d}.pt" and finite_weights(state)
    # The rows before the failing window are kept; the failing window logged nothing.
    check_metrics_continuous(read_csv(spec.run_dir / "metrics.csv"), (from_step // 50) * 50)
    assert not (spec.run_dir / "summary.json").exists()
    resumed = Trainer(spec.config(), spec.run_dir, quiet=True)
    resumed._resume()
    assert resumed.step == last_good


def poisoned_checkpoints(run_dir: Path) -> list[int]:
    manager = CheckpointManager(run_dir / "checkpoints", keep=2)
    return [i.step for i in manager.checkpoints() if not finite_weights(manager.load(i.path))]


def test_no_checkpoint_is_written_inside_a_non_finite_window(tmp_path: Path) -> None:
    """Checkpoints every 150 steps, log rows every 100: the checkpoint at 450 falls inside
    the window where the loss became NaN, so the run stops there instead of writing it."""
    extra = ("train.log_every_steps=100", "train.checkpoint_every_steps=150")
    spec = RunSpec(tmp_path / "run", steps=800, extra=extra)
    trainer = Trainer(spec.config(), spec.run_dir, quiet=True)
    poison(trainer, 410, "nan-weights")
    with pytest.raises(NonFiniteError, match=r"became nan between steps 400 and 450; stopping"):
        trainer.run()
    assert poisoned_checkpoints(spec.run_dir) == []
    assert audit_checkpoints(spec.run_dir / "checkpoints").newest == 300


def test_no_checkpoint_is_written_at_a_signal_after_the_loss_became_nan(tmp_path: Path) -> None:
    """Pre-emption (SIGTERM) arrives at step 420, after the weights became NaN at 412."""
    spec = RunSpec(tmp_path / "run", steps=800)
    trainer = Trainer(spec.config(), spec.run_dir, quiet=True)
    poison(trainer, 410, "nan-weights")
    real_update = trainer.learner.update
    signalled = []

    def update(batch: Any) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        if trainer.step >= 420 and not signalled:
            signalled.append(trainer.step)
            os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler turns it into a flag
        return real_update(batch)

    trainer.learner.update = update  # type: ignore[method-assign]
    with pytest.raises((NonFiniteError, TrainingInterrupted)):
        trainer.run()
    assert signalled == [420]
    assert poisoned_checkpoints(spec.run_dir) == [], "the newest checkpoint holds NaN weights"
