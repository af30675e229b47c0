"""How often would ALE 0.6 have left a ChopperCommand episode running after its last life?

ALE 0.6.0 (inside atari-py 0.2.6, which the published Atari-100k runs of
2019-2021 played through) ends ChopperCommand when the lives reach 0 *and*
the chopper faces right (console RAM 0xC2 == 1) at that frame. Lose the last
life facing left and the game sits on an empty battlefield, the emulator says
nothing, and the episode runs on until the runner's cap (27,000 agent steps in
Dopamine's Atari-100k runners). The ALE fixed it in v0.7.4 (commit 0d3b786,
issue #434, 2021-12): ale-py ends the game at the last life whichever way the
chopper faces. ``--old-ale`` shows the two emulators disagreeing on exactly
this (``scripts/emulator_compare.py``); this script counts how often it
happens to a given policy.

Plays episodes through the harness's environment (ale-py, the run's protocol
and wrappers) with a run's checkpoint (``--checkpoint``, its evaluation
epsilon; ``--epsilon`` overrides it, e.g. the training epsilon) or uniformly
random actions (``--random``), and prints, for each episode, its score, its
agent steps and the chopper's direction at ale-py's game-over frame; then the
share of episodes ALE 0.6 would not have ended. With ``--old-ale`` each
random episode is also continued on atari-py's ALE to the frame cap, the
check that those episodes do not end later.

Usage, from the repository root::

    python scripts/chopper_hang.py RUN_DIR --checkpoint ckpt-000000100000.pt --episodes 30
    python scripts/chopper_hang.py RUN_DIR --random --episodes 100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_compare import RecordingAle, install, play, probe_policy

FACING = 0xC2 - 0x80  # console RAM: 1 when the chopper faces right, 0 left
LIVES = 0xE4 - 0x80  # console RAM: the lives in the low nibble


def facing_at_game_over(frames: list[tuple[int, int, bool, bytes, int]]) -> int | None:
    """The chopper's direction (RAM 0xC2) at the episode's game-over frame; None if it never came."""
    for _, _, over, ram, _ in frames:
        if over:
            return ram[FACING]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path, help="a ChopperCommand run directory")
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="file name in RUN_DIR/checkpoints: its policy plays")
    source.add_argument("--random", action="store_true", help="uniformly random actions play")
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument(
        "--epsilon", type=float, help="acting epsilon (default: the run's evaluation one)"
    )
    ap.add_argument("--max-steps", type=int, default=27_000, help="agent steps an episode at most")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (args.run_dir / "config.yaml").is_file():
        ap.error(f"{args.run_dir} has no config.yaml (not a dqn-harness run directory)")
    from dataclasses import replace

    from dqn_core.experiment import configure_cpu, int_seed, load_run_config, make_vec_env

    config = load_run_config(args.run_dir / "config.yaml")
    if config.env.game != "ChopperCommand":
        ap.error(
            f"{args.run_dir} plays {config.env.game}; the ALE 0.6 rule read here is ChopperCommand's"
        )
    if args.epsilon is not None:
        config = replace(config, eval=replace(config.eval, epsilon=args.epsilon))
    configure_cpu(config.train)
    env = make_vec_env(config, 1, int_seed(config.seed, "chopper_hang", args.seed), evaluation=True)
    policy = probe_policy(ap, args, config, env)
    gym_env = env.envs[0]  # type: ignore[attr-defined]
    recorder = RecordingAle(gym_env.unwrapped.ale)
    install(gym_env, recorder)
    left = ended = 0
    scores_left: list[float] = []
    scores_right: list[float] = []
    for episode in range(args.episodes):
        recorder.frames.clear()
        steps, score = play(env, policy, args.max_steps)
        facing = facing_at_game_over(recorder.frames)
        if facing is None:
            verdict = "no game over (capped)"
        else:
            ended += 1
            verdict = "facing right: ends in both" if facing else "facing LEFT: ALE 0.6 runs on"
            left += facing == 0
            (scores_right if facing else scores_left).append(score)
        print(f"episode {episode}: score {score:g}, {steps} agent steps, {verdict}", flush=True)
    env.close()
    share = left / ended if ended else float("nan")
    print(
        f"{args.episodes} episodes, {ended} ended by game over; ALE 0.6 would have run on after "
        f"{left} ({share:.0%}); mean score facing left {np.mean(scores_left) if scores_left else float('nan'):.1f}, "
        f"facing right {np.mean(scores_right) if scores_right else float('nan'):.1f}"
    )


if __name__ == "__main__":
    main()
