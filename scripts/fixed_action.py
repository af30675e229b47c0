"""What one action pressed every step scores, beside the published runs. For Finding 8.

A floor to read a learner's score against: on some games one action held down
scores well without any learning (Freeway's UP crosses the road, and is hit by
every car on the way). It plays ``--episodes`` episodes of the game through
the harness's environment with the preset's evaluation settings (its protocol's
no-op starts and episode cap), pressing ``ACTION`` every step except, with
probability ``--epsilon`` (default: the preset's ``eval.epsilon``), a uniformly
random action, and prints the scores' mean, standard deviation and range, and
where the mean sits among the published per-run scores of ``--algorithm``
(percentile: the share of runs below it, ties counting one half, as the
per-game tables). Seeds: episode ``i`` resets with ``--seed + i``; the epsilon
draws come from one generator seeded with ``--seed``.

``--run RUN_DIR --checkpoint FILE`` then plays the same episodes (the same
resets) with that checkpoint's policy at the run's evaluation epsilon and
prints its scores beside, and the share of its steps that took each action:
how far a learner's policy is from holding one action down.

Usage, from the repository root::

    python scripts/fixed_action.py Freeway UP --episodes 30 --preset drq-eps
    python scripts/fixed_action.py Freeway UP --episodes 10 --preset drq-eps \
        --run results/atari100k-drq/runs/drq-eps/Freeway/seed0 --checkpoint ckpt-000000100000.pt
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from emulator_compare import checkpoint_policy, play

from dqn_core.config import load_config, load_run_config
from dqn_core.envs import make_vec_env
from dqn_core.envs.games import game_key
from dqn_core.envs.make import action_meanings
from dqn_core.results import reference
from dqn_core.results.published import run_percentile


def fixed_action_scores(
    game: str,
    action: str,
    episodes: int,
    preset: str,
    epsilon: float | None,
    seed: int,
    max_steps: int | None = None,
) -> tuple[list[float], list[int]]:
    """(scores, agent steps) of ``episodes`` episodes pressing ``action`` (a name as the
    ALE gives it, e.g. ``UP``), at ``epsilon`` (None: the preset's evaluation epsilon),
    each cut at ``max_steps`` agent steps (None: the preset's ``eval.max_steps``)."""
    config = load_config(preset, sets=[f"env.game={game}"])
    meanings = action_meanings(config)
    if action.upper() not in meanings:
        raise ValueError(f"{game} has no action {action!r}; its actions: {', '.join(meanings)}")
    index = meanings.index(action.upper())
    eps = config.eval.epsilon if epsilon is None else epsilon
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"epsilon {eps} is outside [0, 1]")
    rng = np.random.default_rng(seed)
    n_actions = len(meanings)

    def policy(obs: np.ndarray) -> np.ndarray:
        if rng.random() < eps:
            return rng.integers(0, n_actions, size=1)
        return np.array([index])

    cap = config.eval.max_steps if max_steps is None else max_steps
    return play_episodes(config, lambda env: policy, episodes, seed, cap)


def play_episodes(
    config: Any,
    make_policy: Callable[[Any], Callable[[np.ndarray], np.ndarray]],
    episodes: int,
    seed: int,
    max_steps: int,
) -> tuple[list[float], list[int]]:
    """(scores, agent steps) of ``episodes`` evaluation episodes, episode ``i`` reset with
    ``seed + i`` and cut at ``max_steps``; ``make_policy(env)`` gives each one's policy."""
    scores, steps = [], []
    for i in range(episodes):
        env = make_vec_env(config, 1, seed + i, evaluation=True)
        try:
            t, score = play(env, make_policy(env), max_steps)
        finally:
            env.close()
        scores.append(score)
        steps.append(t)
    return scores, steps


def policy_census(
    run_dir: Path, checkpoint: str, episodes: int, seed: int, max_steps: int | None = None
) -> tuple[list[float], list[int], dict[str, float]]:
    """(scores, agent steps, share of steps by action name) of a run checkpoint's policy at
    the run's evaluation epsilon, on the resets that ``fixed_action_scores`` plays."""
    config = load_run_config(run_dir / "config.yaml")
    path = run_dir / "checkpoints" / checkpoint
    if not path.is_file():
        raise ValueError(f"{path} does not exist (the checkpoints stay where the run trained)")
    rng = np.random.default_rng(seed)
    taken: Counter[int] = Counter()

    act: Callable[[np.ndarray], np.ndarray] | None = None  # the checkpoint, read once

    def make_policy(env: Any) -> Callable[[np.ndarray], np.ndarray]:
        nonlocal act
        if act is None:
            act = checkpoint_policy(run_dir, config, env, path, rng)
        read = act

        def policy(obs: np.ndarray) -> np.ndarray:
            action = read(obs)
            taken[int(np.asarray(action).reshape(-1)[0])] += 1
            return action

        return policy

    cap = config.eval.max_steps if max_steps is None else max_steps
    scores, steps = play_episodes(config, make_policy, episodes, seed, cap)
    meanings = action_meanings(config)
    total = sum(taken.values())
    return scores, steps, {meanings[a]: n / total for a, n in sorted(taken.items())}


def summary(label: str, scores: list[float], steps: list[int]) -> str:
    a = np.asarray(scores, dtype=float)
    sd = a.std(ddof=1) if a.size > 1 else float("nan")
    return (
        f"{label}, {a.size} episodes (mean {np.mean(steps):,.0f} agent steps): "
        f"mean {a.mean():,.2f}, sd {sd:,.2f}, range {a.min():,.1f}-{a.max():,.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("game")
    parser.add_argument("action", help="an action's name as the ALE gives it (UP, FIRE, ...)")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--preset", default="drq-eps", help="whose evaluation settings")
    parser.add_argument("--epsilon", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-steps", type=int, default=None,
        help="agent steps an episode at most (default: the preset's eval.max_steps)",
    )  # fmt: skip
    parser.add_argument("--algorithm", default="DrQ(eps)", help="published per-run algorithm")
    parser.add_argument("--run", type=Path, help="a run directory whose checkpoint plays too")
    parser.add_argument("--checkpoint", help="file name in RUN/checkpoints")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error("--episodes: at least 1")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error("--max-steps: at least 1")
    if (args.run is None) != (args.checkpoint is None):
        parser.error("--run and --checkpoint go together")
    try:
        scores, steps = fixed_action_scores(
            args.game, args.action, args.episodes, args.preset, args.epsilon, args.seed,
            args.max_steps,
        )  # fmt: skip
        table = reference.atari100k_runs(args.algorithm)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    runs = table.loc[table["game"] == game_key(args.game), "score"].to_numpy(float)

    def place(scores: list[float]) -> str:
        if not runs.size:
            return f"no published {args.algorithm} runs for {args.game}"
        return (
            f"percentile {run_percentile(float(np.mean(scores)), runs):.0f} of "
            f"{args.algorithm}'s {runs.size} published runs (median {np.median(runs):,.1f})"
        )

    print(summary(f"{args.game}, {args.action.upper()} every step", scores, steps))
    print(place(scores))
    if args.run is not None:
        try:
            scores, steps, shares = policy_census(
                args.run, args.checkpoint, args.episodes, args.seed, args.max_steps
            )
        except ValueError as err:
            raise SystemExit(str(err)) from None
        print(summary(f"{args.run}, {args.checkpoint}", scores, steps))
        print(place(scores))
        print("share of steps: " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()))


if __name__ == "__main__":
    main()
