"""What a trained policy does with each life of one evaluation episode. For Finding 7.

Plays one episode of a run's checkpoint by the run's protocol (its evaluation
environment: no-op starts, no life-loss terminal) at ``--epsilon`` and prints,
for every life, the agent steps it lasted, the points it scored and how often
each action was taken, then the agent step of the first press of ``--watch``
(default FIRE). On Breakout this shows a policy that never serves: one life
that lasts to the episode cap with no points.

Usage, from the repository root::

    python scripts/lives_probe.py results/atari100k/runs/der/Breakout/seed0 \\
        --checkpoint ckpt-000000100000.pt --epsilon 0

``--frames FILE.png`` also draws each life's newest frame every ``--frames-every``
agent steps, a row a life (what the agent saw: 84x84 grey).

The run directory must hold its ``checkpoints/`` (the committed tables keep only
the small files; the checkpoints stay where the run trained).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dqn_core.envs import VecEnv

Policy = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


@dataclass
class Life:
    """One life: agent steps, points, action counts; ``ended`` False if the episode was cut."""

    steps: int = 0
    points: float = 0.0
    actions: Counter[int] = field(default_factory=Counter)
    ended: bool = False
    frames: list[np.ndarray] = field(default_factory=list)
    """the newest frame the agent saw after steps 1, 1 + k, 1 + 2k, ... of the life
    (``snap_every`` = k; at most ``MAX_SNAPS``)"""


MAX_SNAPS = 8


def frame_grid(lives: list[Life]) -> np.ndarray:
    """One row per life of its ``frames`` (blank where a life has fewer), 2-pixel
    white borders: a uint8 image to write with OpenCV."""
    width = max(len(life.frames) for life in lives)
    if width == 0:
        raise ValueError("no frames were kept (play_lives with snap_every)")
    h, w = lives[0].frames[0].shape
    grid = np.full((len(lives) * (h + 2), width * (w + 2)), 255, dtype=np.uint8)
    for i, life in enumerate(lives):
        for j, frame in enumerate(life.frames):
            top, left = i * (h + 2) + 1, j * (w + 2) + 1
            grid[top : top + h, left : left + w] = frame
    return grid


def play_lives(
    env: VecEnv,
    policy: Policy,
    epsilon: float,
    rng: np.random.Generator,
    max_steps: int,
    watch: int | None = None,
    snap_every: int | None = None,
) -> tuple[list[Life], int | None]:
    """Play one episode on the first of ``env``'s envs: its lives and the step of the first
    ``watch``; with ``snap_every``, each life keeps some of its frames (``Life.frames``)."""
    obs = env.reset()
    lives = [Life()]
    first_watch = None
    for t in range(max_steps):
        action = policy(obs, epsilon, rng)
        out = env.step(action)
        a = int(action[0])
        if a == watch and first_watch is None:
            first_watch = t
        life = lives[-1]
        life.steps += 1
        life.points += float(out.reward[0])
        life.actions[a] += 1
        if snap_every and (life.steps - 1) % snap_every == 0 and len(life.frames) < MAX_SNAPS:
            life.frames.append(np.array(out.next_obs[0, -1]))
        if out.terminated[0] or out.truncated[0]:
            life.ended = bool(out.life_lost[0] or out.terminated[0])
            break
        if out.life_lost[0]:
            life.ended = True
            lives.append(Life())
        obs = out.obs
    return lives, first_watch


def main() -> None:
    from dqn_core.experiment import (
        CheckpointManager,
        configure_cpu,
        int_seed,
        load_run_config,
        make_vec_env,
        trained_learner,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--checkpoint", required=True, help="file name in RUN_DIR/checkpoints")
    ap.add_argument("--epsilon", type=float, default=0.0)
    ap.add_argument("--watch", default="FIRE", help="action name whose first press to report")
    ap.add_argument("--max-steps", type=int, default=27_000, help="agent steps at most")
    ap.add_argument("--seed", type=int, default=0, help="seeds the episode's env and epsilon draws")
    ap.add_argument(
        "--noisy",
        action="store_true",
        help="act with fresh noise (eval.noisy), not the mean weights",
    )
    ap.add_argument(
        "--frames",
        type=Path,
        help=f"write a PNG: one row per life, its newest frame every --frames-every steps "
        f"(at most {MAX_SNAPS})",
    )
    ap.add_argument("--frames-every", type=int, default=100, help="agent steps between frames")
    args = ap.parse_args()
    if args.frames_every < 1:
        ap.error(f"--frames-every: expected a positive number of steps, got {args.frames_every}")
    if not (args.run_dir / "config.yaml").is_file():
        ap.error(f"{args.run_dir} has no config.yaml (not a dqn-harness run directory)")
    ckpt = args.run_dir / "checkpoints" / args.checkpoint
    if not ckpt.is_file():
        ap.error(f"{ckpt} does not exist (the checkpoints stay where the run trained)")
    config = load_run_config(args.run_dir / "config.yaml")
    if args.noisy:
        if not config.agent.noisy:
            ap.error("--noisy: the run's network has no noisy layers")
        config = replace(config, eval=replace(config.eval, noisy=True))
    manager = CheckpointManager(args.run_dir / "checkpoints", keep=config.train.keep_checkpoints)
    state = manager.load(ckpt)
    configure_cpu(config.train)
    env = make_vec_env(config, 1, int_seed(config.seed, "lives_probe", args.seed), evaluation=True)
    learner = trained_learner(config, state, env.obs_shape, env.num_actions)
    names = env.action_meanings
    watch = names.index(args.watch) if args.watch in names else None
    rng = np.random.default_rng(args.seed)
    every = args.frames_every if args.frames else None
    lives, first = play_lives(env, learner.act, args.epsilon, rng, args.max_steps, watch, every)
    env.close()
    noise = ", fresh noise" if args.noisy else ""
    print(f"{args.run_dir} {args.checkpoint} epsilon {args.epsilon}{noise}:")
    for i, life in enumerate(lives, 1):
        counts = ", ".join(f"{names[a]} {n}" for a, n in sorted(life.actions.items()))
        state_ = "lost" if life.ended else "cut (episode cap or --max-steps)"
        print(f"  life {i}: {life.steps} agent steps, {life.points:g} points, {state_}; {counts}")
    print(f"  first {args.watch}: " + ("never" if first is None else f"agent step {first}"))
    if args.frames:
        import cv2

        if not cv2.imwrite(str(args.frames), frame_grid(lives)):
            raise SystemExit(f"--frames: could not write {args.frames}")
        print(f"  frames (a row a life, every {every} steps): {args.frames}")


if __name__ == "__main__":
    main()
