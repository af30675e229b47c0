"""Write run directories the way ``dqn train`` lays them out, for table and plot tests.

``results/<suite>/runs/<preset>/<game>/seed<k>/`` with ``config.yaml``
(``RunConfig.to_yaml()``), ``eval.csv``, ``metrics.csv`` and, for finished
runs, ``summary.json``. Scores are given, never trained, so tests know the
exact numbers every table must show.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from dqn_core.config import AgentConfig, EnvConfig, EvalConfig, RunConfig, TrainConfig
from dqn_core.envs.games import display_name
from dqn_core.envs.protocols import with_revision
from dqn_core.results import reference

EVAL_HEADER = "step,frames,episode,score,length_frames,truncated"
METRICS_HEADER = "step,frames,time_s,train/episode_return,eval/return_mean"


def write_run(
    results_dir: Path,
    *,
    preset: str,
    game: str,
    seed: int,
    protocol: str,
    total_steps: int,
    evals: Mapping[int, Sequence[float]],
    frame_skip: int = 4,
    finished: bool = True,
    eval_epsilon: float = 0.05,
    protocol_revision: int | None = None,
) -> Path:
    """Write one run folder.

    Args:
        results_dir: ``results/<suite>``.
        preset, game, seed, protocol, total_steps: the config fields.
        evals: agent step -> episode scores of the evaluation at that step.
        frame_skip: ``env.frame_skip``.
        finished: write ``summary.json``.
        eval_epsilon: ``eval.epsilon``.
        protocol_revision: ``env.protocol_revision``; None records the current
            revision, as ``dqn train`` does.

    Returns:
        The run directory.
    """
    cfg = RunConfig(
        preset=preset,
        seed=seed,
        env=EnvConfig(
            game=game, protocol=protocol, frame_skip=frame_skip, protocol_revision=protocol_revision
        ),
        agent=AgentConfig(network="mlp" if protocol == "classic" else "nature_cnn"),
        train=TrainConfig(total_steps=total_steps, learning_starts=0),
        eval=EvalConfig(epsilon=eval_epsilon, episodes=max(len(v) for v in evals.values())),
    )
    cfg = with_revision(cfg)
    run_dir = results_dir / "runs" / preset / game / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(cfg.to_yaml())
    eval_lines = [EVAL_HEADER]
    metric_lines = [METRICS_HEADER]
    for step in sorted(evals):
        frames = cfg.steps_to_frames(step)
        for episode, score in enumerate(evals[step]):
            eval_lines.append(f"{step},{frames},{episode},{float(score)!r},{1000 + episode},0")
        mean = float(sum(evals[step]) / len(evals[step]))
        metric_lines.append(f"{step},{frames},{step / 1000:.3f},{mean * 0.9!r},{mean!r}")
    (run_dir / "eval.csv").write_text("\n".join(eval_lines) + "\n")
    (run_dir / "metrics.csv").write_text("\n".join(metric_lines) + "\n")
    if finished:
        last = evals[max(evals)]
        summary = {
            "steps": total_steps,
            "frames": cfg.steps_to_frames(total_steps),
            "final_eval_mean": float(sum(last) / len(last)),
            "config_hash": cfg.config_hash(),
        }
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def write_drq_suite(
    results_dir: Path, runs_per_game: int, games: Sequence[str] | None = None
) -> pd.DataFrame:
    """Lay the shipped DrQ(eps) Atari-100k per-run scores out as ``der`` run folders.

    Each of the 26 games (or the given game keys) gets runs ``0..runs_per_game-1``
    (seed = run index) with one evaluation at 100k agent steps (400k frames) whose
    single episode scores the published per-run score, and an earlier one at 50k
    steps scoring half of it.

    Returns:
        The per-run scores used (columns game, run, score).
    """
    runs = reference.atari100k_runs("DrQ(eps)")
    used = runs[runs["run"] < runs_per_game]
    if games is not None:
        used = used[used["game"].isin(list(games))]
    for r in used.itertuples(index=False):
        write_run(
            results_dir,
            preset="der",
            game=display_name(str(r.game)),
            seed=int(r.run),
            protocol="atari100k",
            total_steps=100_000,
            evals={50_000: [float(r.score) / 2], 100_000: [float(r.score)]},
        )
    return used[["game", "run", "score"]].reset_index(drop=True)
