"""SIGTERM/SIGINT that arrive during an evaluation stop it within one vector step, and
the evaluation is owed, run once on resume, at the step it belongs to.

An evaluation plays up to ``eval.max_steps`` agent steps (125,000 at Atari
scale: minutes), longer than a scheduler's grace period after SIGTERM (30 s in
Slurm and Kubernetes). The loop therefore hands evaluations a ``should_stop``
that reads the signal flag. These tests make evaluations last seconds (eight
Pong games of an untrained agent, ~6,000 agent steps, ~7 s here, instead of the
fault suite's 100-step cap), wait for the process's own "evaluation ...:
started" line, wait a seeded jitter so the signal lands inside the game loop,
signal, and check what docs/reliability.md promises:

* exit status 128+signum, in about a checkpoint write instead of the rest of
  the evaluation (both times are printed);
* a complete checkpoint at the evaluation's step that records the evaluation as
  owed, and nothing of the partial evaluation anywhere (no eval.csv rows, no
  metrics row, no summary);
* a resume that runs the owed evaluation before any training and writes its
  rows once, also for the final evaluation, after which the run finishes with
  continuous files.

The slow test adds SIGINT, signals inside a resumed (owed) evaluation, a
SIGKILL inside the checkpoint that follows an owed evaluation, and a comparison
with an uninterrupted run. The in-process tests cover the parts a process
boundary hides: ``should_stop`` is polled once per vector step, a checkpoint
written before the key existed owes nothing, and a process that dies after
running the owed evaluation but before checkpointing again leaves nothing that
a second resume duplicates, in the run directory or in MLflow.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dqn_core.experiment import mlflow_sink, train
from dqn_core.run import EVAL_OWED_KEY, Trainer, TrainingInterrupted
from dqn_core.run.checkpoint import CheckpointError, CheckpointManager, load_checkpoint
from dqn_core.run.evaluate import EvaluationStopped, evaluate_policy
from dqn_core.run.runlog import METRIC_COLUMNS, WALL_CLOCK_COLUMNS

from . import (
    EVAL_EVERY,
    FRAME_SKIP,
    LOG_EVERY,
    RESUME_RE,
    Launched,
    RunSpec,
    assert_clean_output,
    assert_mlflow_mirrors_csv,
    audit_checkpoints,
    check_metrics_continuous,
    checkpoint_temps_of,
    expected_updates,
    launch,
    read_csv,
    wait_until,
)

pytestmark = pytest.mark.integration

#: Evaluations of eight full games (an untrained Pong agent loses 21-0 in ~760
#: agent steps), so one lasts seconds; the step cap is far away.
EPISODES = 8
EVAL_SETS = (f"eval.episodes={EPISODES}", "eval.max_steps=20000")
#: Seconds a pre-empted job may take between the signal and its exit (Slurm's
#: default KillWait, Kubernetes' default terminationGracePeriodSeconds).
SIGNAL_BOUND_S = 30.0
LAUNCH_TIMEOUT_S = 300.0

CUT_RE = re.compile(
    r"evaluation (\d+) at step (\d+) stopped by (SIG\w+) after (\d+) agent steps "
    r"\((\d+) of (\d+) episodes complete\); nothing of it was written, it runs first on resume"
)
STAMP_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _stamp(text: str, needle: str) -> datetime:
    """Time stamp of the first log line of ``text`` containing ``needle``."""
    for line in text.splitlines():
        m = STAMP_RE.match(line)
        if m and needle in line:
            return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
    raise AssertionError(f"no log line with {needle!r}:\n{text[-4000:]}")


def _started(step: int) -> str:
    return f"frames (step {step}): started"


def _done(step: int) -> str:
    """The line an evaluation at ``step`` logs when it completes."""
    return f"at {FRAME_SKIP * step} frames: "


def _resumed_from(text: str) -> int | None:
    m = RESUME_RE.search(text)
    return None if m is None else int(m.group(2))


def signal_in_evaluation(
    child: Launched, step: int, signum: int, jitter_s: float
) -> tuple[float, str]:
    """Signal ``child`` ``jitter_s`` after its evaluation at ``step`` started.

    Returns:
        (seconds from the signal to the exit, the process's output).
    """
    wait_until(lambda: _started(step) in child.output(), LAUNCH_TIMEOUT_S, _started(step), child)
    time.sleep(jitter_s)
    t0 = time.monotonic()
    child.proc.send_signal(signum)
    rc = child.wait(SIGNAL_BOUND_S * 4)
    latency = time.monotonic() - t0
    text = child.output()
    name = signal.Signals(signum).name
    assert rc == 128 + signum, f"exit status {rc}:\n{text[-4000:]}"
    assert f"stopped by signal {name} at step {step}" in text, text[-4000:]
    cut = CUT_RE.search(text)
    # The line proves the signal met the evaluation, not the loop after it.
    assert cut is not None, f"the signal did not land inside the evaluation:\n{text[-4000:]}"
    assert int(cut.group(2)) == step and cut.group(3) == name, cut.group(0)
    # 0 steps: the signal met the evaluation before its first step (a slow or busy
    # machine builds the evaluation envs slower than the jitter); still inside it.
    assert 0 <= int(cut.group(4)) < 20000, cut.group(0)
    assert _done(step) not in text.split(_started(step))[-1], "the evaluation completed"
    assert_clean_output(text, f"{name} inside the evaluation at step {step}")
    return latency, text


def check_cut_at(spec: RunSpec, step: int) -> dict[str, Any]:
    """After a cut evaluation at ``step``: a complete checkpoint there that owes it, and
    no trace of the partial evaluation. Returns the owed record."""
    ckpts = spec.run_dir / "checkpoints"
    audit = audit_checkpoints(ckpts)
    assert audit.newest == step and step not in audit.unlisted and audit.temps == (), audit
    state = load_checkpoint(ckpts / f"ckpt-{step:012d}.pt")
    owed = state[EVAL_OWED_KEY]
    assert owed is not None and owed["step"] == step, owed
    row = owed["row"]
    assert row["step"] == step and row["frames"] == FRAME_SKIP * step, row
    assert row["learn/updates"] == expected_updates(step), row
    assert row["learn/loss"] is not None and not any(k.startswith("eval/") for k in row), row
    eval_steps = {int(r["step"]) for r in read_csv(spec.run_dir / "eval.csv")}
    assert max(eval_steps, default=0) < step, f"eval.csv has rows at {sorted(eval_steps)}"
    metric_steps = [int(r["step"]) for r in read_csv(spec.run_dir / "metrics.csv")]
    assert metric_steps[-1] == step - LOG_EVERY, metric_steps[-3:]
    assert not (spec.run_dir / "summary.json").exists()
    return owed


def owed_by_newest(spec: RunSpec, step: int) -> dict[str, Any] | None:
    """The ``eval_owed`` record of the newest complete checkpoint, which must be of ``step``."""
    ckpts = spec.run_dir / "checkpoints"
    assert audit_checkpoints(ckpts).newest == step
    owed: dict[str, Any] | None = load_checkpoint(ckpts / f"ckpt-{step:012d}.pt")[EVAL_OWED_KEY]
    return owed


def check_finished(spec: RunSpec, total: int, episodes: int) -> list[dict[str, str]]:
    """Every evaluation once at its step with all its episodes; one metrics row per log
    point, each evaluation row with its training and evaluation columns; the newest
    checkpoint owes nothing. Returns the eval.csv rows."""
    summary = json.loads((spec.run_dir / "summary.json").read_text())
    assert summary["steps"] == total and summary["final_eval_episodes"] == episodes, summary
    metrics = read_csv(spec.run_dir / "metrics.csv")
    check_metrics_continuous(metrics, total)
    evals = read_csv(spec.run_dir / "eval.csv")
    expected = sorted({*range(EVAL_EVERY, total + 1, EVAL_EVERY), total})
    by_step: dict[int, list[dict[str, str]]] = {}
    for r in evals:
        by_step.setdefault(int(r["step"]), []).append(r)
    assert sorted(by_step) == expected, f"evaluations at {sorted(by_step)}, expected {expected}"
    rows = {int(r["step"]): r for r in metrics}
    for step, eps in by_step.items():
        assert [int(r["episode"]) for r in eps] == list(range(episodes)), (step, eps)
        mean = float(np.mean([float(r["score"]) for r in eps]))
        assert float(rows[step]["eval/return_mean"]) == pytest.approx(mean), rows[step]
        assert int(float(rows[step]["eval/episodes"])) == episodes, rows[step]
        assert rows[step]["learn/loss"] != "", f"the training part of row {step} was lost"
        if step == total:
            assert summary["final_eval_mean"] == pytest.approx(mean), summary
    assert [s for s, r in rows.items() if r["eval/return_mean"] != ""] == expected
    state, path = CheckpointManager(spec.run_dir / "checkpoints", keep=2).latest()  # type: ignore[misc]
    assert path.name == f"ckpt-{total:012d}.pt" and state[EVAL_OWED_KEY] is None
    assert audit_checkpoints(spec.run_dir / "checkpoints").temps == ()
    return evals


def check_resume_ran_the_owed_evaluation_first(text: str, step: int, total: int) -> float:
    """The resumed process evaluated ``step`` before training on; returns its duration (s)."""
    assert _resumed_from(text) == step, text[-4000:]
    assert f"the evaluation of step {step} was cut by a signal; running it first" in text
    done_at = text.index(_done(step))
    if step < total:
        next_row = re.search(rf"step {step + LOG_EVERY} \(\d+ frames\)", text)
        assert next_row is not None and done_at < next_row.start(), text[-4000:]
    return (_stamp(text, _done(step)) - _stamp(text, _started(step))).total_seconds()


# ------------------------------------------------------------ real processes
def test_sigterm_inside_evaluations_exits_promptly_and_the_resume_runs_them_once(
    tmp_path: Path,
) -> None:
    """SIGTERM inside the evaluation at step 400, then inside the final one at 800: exit 143
    within about a checkpoint write each time; each resume evaluates first; the run ends
    with every evaluation once."""
    spec = RunSpec(tmp_path / "run", steps=800, extra=EVAL_SETS)
    steps = (400, 800)
    jitters = [float(j) for j in np.random.default_rng(2026).uniform(0.3, 1.5, size=2)]
    latencies, texts = [], []
    for n, (step, jitter) in enumerate(zip(steps, jitters, strict=True)):
        child = launch(spec.cli_args(), tmp_path / f"cut{n}.log")
        latency, text = signal_in_evaluation(child, step, signal.SIGTERM, jitter)
        check_cut_at(spec, step)
        latencies.append(latency)
        texts.append(text)
    final = launch(spec.cli_args(), tmp_path / "final.log")
    assert final.wait(LAUNCH_TIMEOUT_S) == 0, final.output()[-4000:]
    texts.append(final.output())
    assert_clean_output(texts[-1], "the finishing launch")
    check_finished(spec, 800, EPISODES)
    # Each resume played its owed evaluation to the end: the old loop would have gone on
    # for that long, less the jitter already played, before it saw the signal.
    remaining = [
        check_resume_ran_the_owed_evaluation_first(texts[n + 1], step, 800) - jitters[n]
        for n, step in enumerate(steps)
    ]
    print(
        "\nsignal to exit: "
        + ", ".join(f"{x:.2f} s" for x in latencies)
        + "; without the cut the evaluation would have gone on for "
        + ", ".join(f"{x:.2f} s" for x in remaining)
    )
    for latency, rest in zip(latencies, remaining, strict=True):
        assert latency < SIGNAL_BOUND_S
        assert latency < rest / 2, f"exit {latency:.2f} s after the signal; the rest took {rest}"


@pytest.mark.slow
def test_signals_inside_evaluations_and_their_resumes_lose_nothing(tmp_path: Path) -> None:
    """Seven launches on one 1,200-step run: SIGTERM inside the evaluation at 400, SIGINT
    inside its resumed (owed) run, SIGKILL inside the checkpoint written after the owed
    evaluation completed, SIGTERM inside the evaluation at 800 and inside the final one
    at 1,200, SIGINT inside the resumed final one, then a finishing launch. The evaluation
    at 400 must equal an uninterrupted run's: the same games on the same weights."""
    extra = (*EVAL_SETS, "train.deterministic=true")
    spec = RunSpec(tmp_path / "run", steps=1200, extra=extra)
    ckpts = spec.run_dir / "checkpoints"
    rng = np.random.default_rng(15)
    plan = [
        (400, signal.SIGTERM),
        (400, signal.SIGINT),
        (400, signal.SIGKILL),
        (800, signal.SIGTERM),
        (1200, signal.SIGTERM),
        (1200, signal.SIGINT),
    ]
    report = []
    owed_rows: dict[int, dict[str, Any]] = {}
    for n, (step, signum) in enumerate(plan):
        child = launch(spec.cli_args(), tmp_path / f"launch{n}.log")
        if signum == signal.SIGKILL:
            # The owed evaluation completes, then its step is checkpointed again without
            # the debt: kill inside that write, so the rows are on disk and the newest
            # complete checkpoint still owes them.
            deadline = time.monotonic() + LAUNCH_TIMEOUT_S
            while not checkpoint_temps_of(ckpts, child.pid):
                assert child.proc.poll() is None, child.output()[-4000:]
                assert time.monotonic() < deadline, "no checkpoint write after the evaluation"
                time.sleep(0.002)
            child.proc.kill()
            child.proc.wait()
            text = child.output()
            assert _done(step) in text and checkpoint_temps_of(ckpts, child.pid), text[-4000:]
            assert {int(r["step"]) for r in read_csv(spec.run_dir / "eval.csv")} >= {step}
            # The newest complete checkpoint still owes the evaluation whose rows are there.
            assert owed_by_newest(spec, step) == owed_rows[step]
            report.append(f"SIGKILL inside the checkpoint of {step} after its evaluation")
            continue
        jitter = float(rng.uniform(0.3, 3.0))
        latency, text = signal_in_evaluation(child, step, signum, jitter)
        owed = check_cut_at(spec, step)
        # A cut owed evaluation leaves the record as it was (the row of the first cut).
        assert owed_rows.setdefault(step, owed) == owed
        resumed = _resumed_from(text)
        report.append(
            f"{signal.Signals(signum).name} {jitter:.2f} s into the evaluation at {step} "
            f"(resumed from {resumed}): exit after {latency:.2f} s"
        )
        assert latency < SIGNAL_BOUND_S, report[-1]
    final = launch(spec.cli_args(), tmp_path / "final.log")
    assert final.wait(LAUNCH_TIMEOUT_S) == 0, final.output()[-4000:]
    assert_clean_output(final.output(), "the finishing launch")
    evals = check_finished(spec, 1200, EPISODES)
    print("\n" + "\n".join(report))

    reference = RunSpec(tmp_path / "reference", steps=1200, extra=extra)
    train(reference.config(), reference.run_dir, quiet=True)
    ref_evals = read_csv(reference.run_dir / "eval.csv")
    assert [r for r in evals if r["step"] == "400"] == [r for r in ref_evals if r["step"] == "400"]
    row = next(r for r in read_csv(spec.run_dir / "metrics.csv") if r["step"] == "400")
    ref = next(r for r in read_csv(reference.run_dir / "metrics.csv") if r["step"] == "400")
    for key in ref.keys() - set(WALL_CLOCK_COLUMNS):
        assert row[key] == ref[key], f"metrics.csv at step 400, {key}: {row[key]} != {ref[key]}"


# ---------------------------------------------------------------- in process
def _random_policy(calls: list[int]) -> Callable[..., np.ndarray]:
    def policy(obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        calls.append(len(obs))
        return rng.integers(0, 3, size=len(obs))  # NOOP, FIRE, RIGHT: in every action set

    return policy


def test_should_stop_is_polled_before_every_vector_step(tmp_path: Path) -> None:
    """Two evaluation envs: the poll precedes each vector step; True abandons the evaluation
    with how far it got; a poll that never fires changes nothing."""
    config = RunSpec(tmp_path, steps=400, extra=("eval.num_envs=2", "eval.max_steps=400")).config()
    calls: list[int] = []
    plain = evaluate_policy(_random_policy(calls), config, index=3, episodes=2)
    polls: list[int] = []

    def never() -> bool:
        polls.append(len(calls))  # vector steps taken when polled
        return False

    calls.clear()
    assert (
        evaluate_policy(_random_policy(calls), config, index=3, episodes=2, should_stop=never)
        == plain
    )
    assert polls == list(range(len(calls))), "not one poll before each vector step"

    for stop_at in (0, 10):
        calls.clear()
        with pytest.raises(EvaluationStopped) as info:
            evaluate_policy(
                _random_policy(calls),
                config,
                index=3,
                episodes=2,
                should_stop=lambda k=stop_at: len(calls) >= k,
            )
        assert len(calls) == stop_at
        err = info.value
        assert (err.index, err.steps, err.episodes_done, err.episodes) == (3, 2 * stop_at, 0, 2)
        assert str(err) == (
            f"evaluation (index 3) stopped after {2 * stop_at} agent steps "
            "(0 of 2 episodes complete)"
        )


def test_a_checkpoint_without_the_key_owes_nothing(copy_run: Callable[[str], RunSpec]) -> None:
    """Checkpoints written before ``eval_owed`` existed resume as owing nothing; a record
    that does not belong to its checkpoint is refused naming the key."""
    spec = copy_run("old")
    manager = CheckpointManager(spec.run_dir / "checkpoints", keep=2)
    found = manager.latest()
    assert found is not None
    state, path = found
    assert path.name == "ckpt-000000000400.pt" and state[EVAL_OWED_KEY] is None
    meta = {"frames": FRAME_SKIP * 400, "config_hash": state["config_hash"]}
    extended = RunSpec(spec.run_dir, steps=600, seed=spec.seed)

    bad = {**state, EVAL_OWED_KEY: {"step": 200, "row": {"step": 200}}}
    manager.save(bad, 400, extra_meta=meta)
    with pytest.raises(CheckpointError, match=r"checkpoint of step 400: eval_owed must be None"):
        Trainer(extended.config(), spec.run_dir, quiet=True)._resume()

    old = {k: v for k, v in state.items() if k != EVAL_OWED_KEY}  # what the older code wrote
    manager.save(old, 400, extra_meta=meta)
    assert EVAL_OWED_KEY not in load_checkpoint(path)
    trainer = Trainer(extended.config(), spec.run_dir, quiet=True)
    trainer._resume()
    assert trainer.step == 400 and trainer.eval_owed is None
    train(extended.config(), spec.run_dir, quiet=True)
    assert [int(r["step"]) for r in read_csv(spec.run_dir / "eval.csv")] == [400, 600]
    check_metrics_continuous(read_csv(spec.run_dir / "metrics.csv"), 600)


class _Died(Exception):
    """Stands for a process that died at this point."""


def _frames_in_mlflow(client: Any, run_id: str) -> set[int]:
    """Steps (= frames) at which the MLflow run holds any metrics.csv metric."""
    keys = [k for k in METRIC_COLUMNS if k not in ("step", "frames")]
    return {m.step for k in keys for m in client.get_metric_history(run_id, k)}


def test_dying_after_the_owed_final_evaluation_does_not_duplicate_it(tmp_path: Path) -> None:
    """SIGTERM inside the final evaluation (at 400), MLflow on: nothing of step 400 reaches
    MLflow. The resume runs the evaluation and dies before checkpointing; the next resume
    drops its rows, plays the same games again and finishes with the evaluation once,
    MLflow's latest values equal to metrics.csv."""
    from mlflow import MlflowClient

    from dqn_core.tracking import init_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    extra = ("eval.episodes=3", "eval.max_steps=20000")
    spec = RunSpec(tmp_path / "run", steps=400, mlflow=True, suite="evalcut", extra=extra)
    init_store(uri, spec.suite)
    first = Trainer(
        spec.config(),
        spec.run_dir,
        sink=mlflow_sink(spec.config(), spec.run_dir, tracking_uri=uri),
        quiet=True,
    )
    real_act = first.learner.act
    signalled: list[int] = []

    def act(obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        if not first.learner.online.training and not signalled:  # inside the evaluation
            signalled.append(first.step)
            os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler turns it into a flag
        return real_act(obs, epsilon, rng)

    first.learner.act = act  # type: ignore[method-assign]
    with pytest.raises(TrainingInterrupted, match="stopped by signal SIGTERM at step 400"):
        first.run()
    assert signalled == [400]
    owed = check_cut_at(spec, 400)
    client = MlflowClient(uri)
    run_id = json.loads((spec.run_dir / "mlflow_run.json").read_text())["run_id"]
    logged = _frames_in_mlflow(client, run_id)
    assert max(logged) == FRAME_SKIP * (400 - LOG_EVERY), sorted(logged)
    assert client.get_run(run_id).info.status == "KILLED"

    second = Trainer(
        spec.config(),
        spec.run_dir,
        sink=mlflow_sink(spec.config(), spec.run_dir, tracking_uri=uri),
        quiet=True,
    )

    def die() -> Path:
        raise _Died

    second.save_checkpoint = die  # type: ignore[method-assign]
    with pytest.raises(_Died):
        second.run()
    written = [r for r in read_csv(spec.run_dir / "eval.csv") if r["step"] == "400"]
    assert len(written) == 3 and not (spec.run_dir / "summary.json").exists()
    assert owed_by_newest(spec, 400) == owed
    assert audit_checkpoints(spec.run_dir / "checkpoints").temps == ()

    summary = Trainer(
        spec.config(),
        spec.run_dir,
        sink=mlflow_sink(spec.config(), spec.run_dir, tracking_uri=uri),
        quiet=True,
    ).run()
    assert summary["final_eval_episodes"] == 3
    evals = check_finished(spec, 400, 3)
    assert evals == written, "the owed evaluation played other games the second time"
    assert client.get_run(run_id).info.status == "FINISHED"
    assert_mlflow_mirrors_csv(uri, spec.run_dir)
