"""SIGKILL at random moments and SIGTERM (pre-emption) against real `dqn train` processes.

A kill campaign starts ``dqn train`` on one run directory again and again and
kills it each time at a moment drawn from a seeded generator:

* ``time``: a wall-clock delay after launch (imports, resume, environment
  start-up, the first updates);
* ``step``: the first log row at or after a drawn agent step (learning,
  logging, evaluation, the checkpoint that shares a step with a log row);
* ``checkpoint``: as soon as the process's temporary checkpoint file appears
  (plus a drawn jitter), i.e. in the middle of a checkpoint write. A kill that
  really landed mid-write leaves that temporary file behind, which is how the
  test knows (and counts) it.

Progress is capped below the budget, so every launch but the last is killed.
After every kill each file under a checkpoint name is loaded the way a resume
loads it (size and sha256 against the manifest, ``weights_only=True``); the
next launch must resume from exactly the newest of them, and no launch may
ever meet an unusable checkpoint. The last launch finishes the run, whose
files must then be continuous: one metrics row per log point, frames = 4 x
steps, the learner's update counter equal to what an uninterrupted run has at
every row, every evaluation once.
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from . import (
    CHECKPOINT_EVERY,
    LOG_EVERY,
    RESUME_RE,
    Launched,
    RunSpec,
    assert_clean_output,
    assert_mlflow_mirrors_csv,
    audit_checkpoints,
    check_finished_run,
    checkpoint_temps_of,
    child_env,
    last_logged_step,
    launch,
    read_csv,
    wait_until,
)

pytestmark = pytest.mark.integration

#: Seconds a pre-empted job may take between SIGTERM and its exit. Schedulers
#: allow at least this much before they SIGKILL (Slurm's default KillWait and
#: Kubernetes' default terminationGracePeriodSeconds are both 30 s).
SIGTERM_BOUND_S = 30.0
#: A launch that is neither killed nor finished by then is reported as hung.
LAUNCH_TIMEOUT_S = 300.0


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Kill:
    """One killed launch."""

    mode: str
    trigger: str
    resumed_from: int | None  # what the process said it resumed from (None: killed before)
    expected_resume: int | None  # the newest complete checkpoint when it was launched
    last_logged: int  # last metrics row this process wrote (-1: none)
    mid_write: bool  # killed while writing a checkpoint (its temporary file was left)
    newest_after: int | None


def _resumed_from(text: str) -> int | None:
    m = RESUME_RE.search(text)
    if m is None:
        return None
    assert int(m.group(1)) == int(m.group(2)), m.group(0)
    return int(m.group(2))


def kill_once(
    spec: RunSpec,
    mode: str,
    rng: np.random.Generator,
    log: Path,
    *,
    env: dict[str, str],
    time_range: tuple[float, float],
    jitter_s: float,
) -> Kill:
    """Launch ``dqn train`` on ``spec`` and SIGKILL it at a moment of kind ``mode``."""
    ckpt_dir = spec.run_dir / "checkpoints"
    metrics = spec.run_dir / "metrics.csv"
    before = audit_checkpoints(ckpt_dir).newest if ckpt_dir.exists() else None
    start = before or 0
    # Caps keep the durable progress (the newest checkpoint) at most one checkpoint
    # period short of the budget, so no launch can finish the run before its kill.
    if mode == "checkpoint":
        cap = spec.steps - CHECKPOINT_EVERY + LOG_EVERY
        jitter = float(rng.uniform(0.0, jitter_s))
        trigger = f"checkpoint write (+{jitter * 1000:.0f} ms)"
    else:
        cap = min(start + 2 * CHECKPOINT_EVERY, spec.steps - 2 * CHECKPOINT_EVERY)
        if mode == "time":
            delay = float(rng.uniform(*time_range))
            trigger = f"{delay:.2f} s after launch"
        elif mode == "step":
            target = int(rng.integers(start + 1, max(cap, start + 1) + 1))
            trigger = f"step {target}"
        else:
            raise ValueError(f"mode: {mode!r} is not one of time, step, checkpoint")
    stale_inode = _inode(metrics)
    child = launch(spec.cli_args(), log, env=env)
    poll_s = 0.002 if mode == "checkpoint" else 0.02
    while True:
        if child.proc.poll() is not None:
            raise AssertionError(
                f"dqn train exited with {child.proc.returncode} before its {mode} kill "
                f"({trigger}):\n{child.output()[-4000:]}"
            )
        # Until this process rewrites metrics.csv (cut back to its checkpoint), the
        # rows in it are the previous process's.
        logged = last_logged_step(metrics) if _inode(metrics) != stale_inode else -1
        if mode == "checkpoint" and checkpoint_temps_of(ckpt_dir, child.pid):
            time.sleep(jitter)
            break
        if logged >= cap:
            trigger += f", capped at step {cap}"
            break
        if mode == "time" and time.monotonic() - child.started >= delay:
            break
        if mode == "step" and logged >= target:
            break
        if time.monotonic() - child.started > LAUNCH_TIMEOUT_S:
            child.proc.kill()
            raise AssertionError(f"no {mode} kill point ({trigger}) within {LAUNCH_TIMEOUT_S} s")
        time.sleep(poll_s)
    child.proc.kill()
    child.proc.wait()
    mid_write = bool(checkpoint_temps_of(ckpt_dir, child.pid))
    text = child.output()
    assert_clean_output(text, f"launch killed at {trigger}")
    after = audit_checkpoints(ckpt_dir) if ckpt_dir.exists() else None
    resumed = _resumed_from(text)
    if resumed is not None:
        assert resumed == before, f"resumed from step {resumed}, newest checkpoint was {before}"
    return Kill(
        mode=mode,
        trigger=trigger,
        resumed_from=resumed,
        expected_resume=before,
        last_logged=last_logged_step(metrics) if _inode(metrics) != stale_inode else -1,
        mid_write=mid_write,
        newest_after=after.newest if after else None,
    )


def kill_campaign(
    spec: RunSpec,
    modes: list[str],
    rng: np.random.Generator,
    logs: Path,
    *,
    env: dict[str, str],
    time_range: tuple[float, float],
    jitter_s: float,
    min_mid_write: int,
    max_extra: int = 3,
) -> tuple[list[Kill], Launched]:
    """Kill ``dqn train`` once per mode, then let it finish.

    Checkpoint kills that miss the write (it finished before the signal) are
    repeated, at most ``max_extra`` times, until ``min_mid_write`` landed.

    Returns:
        The kills and the finished last launch.
    """
    kills: list[Kill] = []
    queue = list(modes)
    extra = 0
    while queue:
        mode = queue.pop(0)
        kills.append(
            kill_once(
                spec,
                mode,
                rng,
                logs / f"launch{len(kills):02d}.log",
                env=env,
                time_range=time_range,
                jitter_s=jitter_s,
            )
        )
        if not queue and sum(k.mid_write for k in kills) < min_mid_write and extra < max_extra:
            queue.append("checkpoint")
            extra += 1
    newest = audit_checkpoints(spec.run_dir / "checkpoints").newest
    final = launch(spec.cli_args(), logs / "final.log", env=env)
    rc = final.wait(LAUNCH_TIMEOUT_S * 2)
    text = final.output()
    assert rc == 0, text[-4000:]
    assert_clean_output(text, "the finishing launch")
    assert _resumed_from(text) == newest, text[-4000:]
    return kills, final


def describe(kills: list[Kill]) -> str:
    return "\n".join(
        f"  {i:2d} {k.mode:<10} {k.trigger:<45} resumed {k.resumed_from!s:>5} "
        f"logged {k.last_logged:>5} newest after {k.newest_after!s:>5}"
        f"{'  MID-WRITE' if k.mid_write else ''}"
        for i, k in enumerate(kills)
    )


def test_three_sigkills_one_mid_checkpoint_then_resume_is_continuous(tmp_path: Path) -> None:
    """CI version: a kill while training, one inside a checkpoint write, one at a random time."""
    spec = RunSpec(tmp_path / "run", steps=800)
    rng = np.random.default_rng(3)
    kills, _ = kill_campaign(
        spec,
        ["step", "checkpoint", "time"],
        rng,
        tmp_path / "logs",
        env=child_env(),
        time_range=(0.5, 4.0),
        jitter_s=0.0,
        min_mid_write=1,
    )
    print(f"\n{len(kills)} kills:\n{describe(kills)}")
    assert len(kills) >= 3
    assert sum(k.mid_write for k in kills) >= 1, describe(kills)
    check_finished_run(spec.run_dir, spec.steps)


@pytest.mark.slow
def test_twenty_sigkills_at_random_moments_lose_nothing(tmp_path: Path) -> None:
    """20 kills (7 timed, 7 at a step, 6 inside checkpoint writes), MLflow on a sqlite store."""
    from mlflow import MlflowClient

    from dqn_core.tracking import init_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = RunSpec(tmp_path / "run", steps=2000, mlflow=True, suite="kill20")
    init_store(uri, spec.suite)  # `dqn mlflow-init`: the store exists before any job
    rng = np.random.default_rng(20)
    modes = list(rng.permutation(["time"] * 7 + ["step"] * 7 + ["checkpoint"] * 6))
    kills, _ = kill_campaign(
        spec,
        [str(m) for m in modes],
        rng,
        tmp_path / "logs",
        env=child_env({"MLFLOW_TRACKING_URI": uri}),
        time_range=(0.2, 6.0),
        jitter_s=0.1,
        min_mid_write=3,
    )
    print(f"\n{len(kills)} kills:\n{describe(kills)}")
    assert len(kills) >= 20
    assert sum(k.mid_write for k in kills) >= 3, describe(kills)
    assert sum(k.resumed_from is not None for k in kills) >= 10, describe(kills)
    check_finished_run(spec.run_dir, spec.steps)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(spec.suite)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, f"{len(runs)} MLflow runs for one run directory"
    assert runs[0].info.status == "FINISHED"
    # Steps logged by a killed process and regenerated after its resume hold several
    # values in MLflow; the latest must be metrics.csv's.
    assert_mlflow_mirrors_csv(uri, spec.run_dir)


# ------------------------------------------------------------------- SIGTERM
def _sigterm(child: Launched) -> tuple[int, float, str]:
    """SIGTERM ``child``; returns (step it stopped at, seconds to exit, output)."""
    t0 = time.monotonic()
    child.proc.send_signal(signal.SIGTERM)
    rc = child.wait(SIGTERM_BOUND_S * 4)
    latency = time.monotonic() - t0
    text = child.output()
    assert rc == 128 + signal.SIGTERM, f"exit status {rc}:\n{text[-4000:]}"
    m = re.search(r"stopped by signal SIGTERM at step (\d+)", text)
    assert m is not None, text[-4000:]
    assert "run `dqn train` again with the same arguments to resume" in text
    assert_clean_output(text, "SIGTERM")
    return int(m.group(1)), latency, text


def test_sigterm_checkpoints_at_the_signal_and_exits_within_the_bound(tmp_path: Path) -> None:
    """Pre-emption while training and inside a checkpoint write: a complete checkpoint
    at the step the signal was seen, exit 143 within the bound, a seamless resume."""
    spec = RunSpec(tmp_path / "run", steps=800)
    ckpt_dir = spec.run_dir / "checkpoints"
    metrics = spec.run_dir / "metrics.csv"
    rng = np.random.default_rng(143)
    latencies = []
    stopped_at = None
    for moment in ("training", "checkpoint write"):
        stale_inode = _inode(metrics)
        child = launch(spec.cli_args(), tmp_path / f"{moment.replace(' ', '-')}.log")
        if moment == "training":
            target = int(rng.integers(LOG_EVERY, 2 * CHECKPOINT_EVERY - LOG_EVERY))
            wait_until(
                lambda t=target, i=stale_inode: (
                    _inode(metrics) != i and last_logged_step(metrics) >= t
                ),
                LAUNCH_TIMEOUT_S,
                f"step {target}",
                child,
            )
        else:
            wait_until(
                lambda c=child: bool(checkpoint_temps_of(ckpt_dir, c.pid)),
                LAUNCH_TIMEOUT_S,
                "a checkpoint write",
                child,
            )
        step, latency, text = _sigterm(child)
        if stopped_at is not None:
            assert _resumed_from(text) == stopped_at, text[-4000:]
        latencies.append(latency)
        audit = audit_checkpoints(ckpt_dir)
        # The checkpoint of the signal's step is the newest, complete and listed.
        assert audit.newest == step and step not in audit.unlisted, audit
        assert checkpoint_temps_of(ckpt_dir, child.pid) == []
        rows = read_csv(metrics)
        assert int(rows[-1]["step"]) <= step < int(rows[-1]["step"]) + LOG_EVERY
        assert latency < SIGTERM_BOUND_S, f"{moment}: exited {latency:.1f} s after SIGTERM"
        stopped_at = step
    final = launch(spec.cli_args(), tmp_path / "final.log")
    assert final.wait(LAUNCH_TIMEOUT_S) == 0, final.output()[-4000:]
    assert _resumed_from(final.output()) == stopped_at
    print(f"\nSIGTERM to exit: {', '.join(f'{s:.2f} s' for s in latencies)}")
    check_finished_run(spec.run_dir, spec.steps)
