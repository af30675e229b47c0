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


def play_lives(
    env: VecEnv,
    policy: Policy,
    epsilon: float,
    rng: np.random.Generator,
    max_steps: int,
    watch: int | None = None,
) -> tuple[list[Life], int | None]:
    """Play one episode on the first of ``env``'s envs: its lives and the step of the first ``watch``."""
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
    args = ap.parse_args()
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
    lives, first = play_lives(env, learner.act, args.epsilon, rng, args.max_steps, watch)
    env.close()
    noise = ", fresh noise" if args.noisy else ""
    print(f"{args.run_dir} {args.checkpoint} epsilon {args.epsilon}{noise}:")
    for i, life in enumerate(lives, 1):
        counts = ", ".join(f"{names[a]} {n}" for a, n in sorted(life.actions.items()))
        state_ = "lost" if life.ended else "cut (episode cap or --max-steps)"
        print(f"  life {i}: {life.steps} agent steps, {life.points:g} points, {state_}; {counts}")
    print(f"  first {args.watch}: " + ("never" if first is None else f"agent step {first}"))


if __name__ == "__main__":
    main()
