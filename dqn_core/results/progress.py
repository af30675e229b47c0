"""Where a suite's runs stand: evaluated, trained, part-trained or not started.

A suite of many runs is made over days, often across machines and sessions;
``dqn status RESULTS_DIR`` reads what each run folder holds (``summary.json``,
``evaluate.csv``, the last row of ``metrics.csv``, the checkpoint names) without
loading a checkpoint, and with the suite's file also lists the runs it plans
that have no folder yet. It reads only; the workflow decides what to run.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

from dqn_core.config import ConfigError, load_run_config, load_yaml
from dqn_core.run.checkpoint_files import scan

#: A run's state, from furthest to least far.
STATES = ("evaluated", "trained", "training", "not started")


@dataclass(frozen=True)
class RunProgress:
    """One run: ``run_id`` is ``preset/game/seed<k>`` under ``RESULTS_DIR/runs``."""

    run_id: str
    state: str
    step: int | None = None  # last agent step in metrics.csv
    total_steps: int | None = None
    checkpoint_step: int | None = None  # newest checkpoint (resume point)
    score: float | None = None  # evaluate.csv's mean, else the in-run final evaluation
    rate: float | None = None  # agent steps/s of metrics.csv's last training row
    logged_at: float | None = None  # metrics.csv's modification time (seconds since the epoch)


def _last_step_and_rate(metrics: Path) -> tuple[int | None, float | None]:
    """The last agent step in ``metrics`` and the last training rate logged (steps/s)."""
    if not metrics.is_file():
        return None, None
    last, rate = None, None
    with metrics.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if (row.get("step") or "").isdigit():
                last = int(row["step"])
            if row.get("train/steps_per_second"):
                rate = float(row["train/steps_per_second"])
    return last, rate


def _mean_score(path: Path) -> float | None:
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as f:
        scores = [float(r["score"]) for r in csv.DictReader(f) if r.get("score")]
    return sum(scores) / len(scores) if scores else None


def run_progress(run_dir: Path, run_id: str) -> RunProgress:
    """What ``run_dir`` holds, as a :class:`RunProgress` (``not started`` if absent)."""
    if not (run_dir / "config.yaml").is_file():
        return RunProgress(run_id, "not started")
    total = load_run_config(run_dir / "config.yaml").train.total_steps
    checkpoint = max(scan(run_dir / "checkpoints").values(), default=None)
    metrics = run_dir / "metrics.csv"
    step, rate = _last_step_and_rate(metrics)
    if not (run_dir / "summary.json").is_file():  # written last: not finished
        logged_at = metrics.stat().st_mtime if metrics.is_file() else None
        return RunProgress(run_id, "training", step, total, checkpoint, None, rate, logged_at)
    # A `dqn evaluate` of a part-trained run (evaluate.csv written before summary.json)
    # is not the run's final evaluation, hence the order of these checks.
    evaluated = _mean_score(run_dir / "evaluate.csv")
    if evaluated is not None:
        return RunProgress(run_id, "evaluated", step, total, checkpoint, evaluated)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    score = summary.get("final_eval_mean")
    return RunProgress(
        run_id, "trained", step, total, checkpoint, None if score is None else float(score)
    )


def suite_plan(cfg: object) -> list[tuple[str, str, str]]:
    """``(preset, game, seed)`` for each run a suite config plans: presets x games x seeds."""
    lists = [cfg.get(k) if isinstance(cfg, dict) else None for k in ("presets", "games", "seeds")]
    if not all(isinstance(v, list) and v for v in lists):
        raise ConfigError("needs presets, games and seeds lists, none of them empty")
    presets, games, seeds = (v for v in lists if isinstance(v, list))
    return [(str(p), str(g), str(s)) for p in presets for g in games for s in seeds]


def planned_runs(suite_config: Path) -> list[str]:
    """The run ids a suite file plans: its presets x games x seeds."""
    try:
        plan = suite_plan(load_yaml(suite_config))
    except ConfigError as exc:
        raise ConfigError(f"{suite_config}: {exc}") from exc
    return [f"{p}/{g}/seed{s}" for p, g, s in plan]


def suite_progress(results_dir: Path, suite_config: Path | None = None) -> list[RunProgress]:
    """Every run folder under ``results_dir/runs``, and the suite's planned runs without one."""
    runs_root = Path(results_dir) / "runs"
    found = sorted(
        p.parent.relative_to(runs_root).as_posix() for p in runs_root.glob("*/*/seed*/config.yaml")
    )
    ids = list(found)
    if suite_config is not None:
        ids += [r for r in planned_runs(suite_config) if r not in set(found)]
    if not ids:
        raise FileNotFoundError(f"{runs_root}: no run folders (preset/game/seed<k>/config.yaml)")
    return [run_progress(runs_root / r, r) for r in ids]


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _training_note(r: RunProgress, now: float) -> str:
    """``17.8 steps/s, ~1 h 32 min of training left; last logged 2 min ago`` (parts known)."""
    parts = []
    if r.rate and r.step is not None and r.total_steps:
        left = max(r.total_steps - r.step, 0) / r.rate
        parts.append(f"{r.rate:.1f} steps/s, ~{_duration(left)} of training left")
    if r.logged_at is not None:
        parts.append(f"last logged {_duration(max(now - r.logged_at, 0.0))} ago")
    return "; ".join(parts)


def render_progress(rows: list[RunProgress], now: float | None = None) -> str:
    """A text table, furthest runs first, and a count of each state.

    A part-trained run's last column gives its last logged rate, the training
    time that rate leaves, and how long ago ``metrics.csv`` was written (a run
    that stopped keeps its state; only this age tells it from one still going).
    """
    now = time.time() if now is None else now
    order = {s: i for i, s in enumerate(STATES)}
    rows = sorted(rows, key=lambda r: (order[r.state], r.run_id))
    width = max(len("run"), *(len(r.run_id) for r in rows))
    head = f"{'run':<{width}}  {'state':<11}  {'agent steps':>17}  {'checkpoint':>10}"
    lines = [f"{head}  score or progress"]
    for r in rows:
        steps = f"{r.step:,} / {r.total_steps:,}" if r.step is not None and r.total_steps else ""
        ckpt = f"{r.checkpoint_step:,}" if r.checkpoint_step is not None else ""
        last = f"{r.score:,.1f}" if r.score is not None else ""
        if r.state == "training":
            last = _training_note(r, now)
        line = f"{r.run_id:<{width}}  {r.state:<11}  {steps:>17}  {ckpt:>10}  {last}"
        lines.append(line.rstrip())
    counts = [f"{sum(r.state == s for r in rows)} {s}" for s in STATES]
    lines.append(f"{len(rows)} runs: " + ", ".join(counts))
    return "\n".join(lines)
