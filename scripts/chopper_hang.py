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
share of episodes ALE 0.6 would not have ended. ``--budget SHARE LENGTH`` plays
nothing: it counts the agent steps of actual play left in a 100k-step run on
ALE 0.6 if each episode lasts LENGTH steps and ends facing left with
probability SHARE (a frozen one running on to 27,000 steps).

``--old-ale`` checks that rule on the emulators themselves: it plays
sequences of uniformly random actions, one a frame, from the same start on
ale-py and on atari-py's ALE 0.6 (its package directory, built from source as
in ``scripts/emulator_compare.py``), each until ale-py's game ends and then
on ALE 0.6 until its game ends or 108,000 frames, and prints for each the
chopper's direction at ale-py's game over and where ALE 0.6's game ended.
Sequences whose console RAM differs after the reset (each ALE draws the
console timer at reset from its own generator) are not comparable and are
listed apart.

Usage, from the repository root::

    python scripts/chopper_hang.py RUN_DIR --checkpoint ckpt-000000100000.pt --episodes 30
    python scripts/chopper_hang.py RUN_DIR --random --episodes 100
    python scripts/chopper_hang.py --old-ale /tmp/atari-py-0.2.6/atari_py --sequences 40
    python scripts/chopper_hang.py --budget 0.23 705   # share facing left, episode length
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_compare import RecordingAle, install, play, probe_policy

from dqn_core.envs.wrappers import CHOPPER_FACING_RIGHT as FACING


def facing_at_game_over(frames: list[tuple[int, int, bool, bytes, int]]) -> int | None:
    """The chopper's direction (RAM 0xC2) at the episode's game-over frame; None if it never came."""
    for _, _, over, ram, _ in frames:
        if over:
            return ram[FACING]
    return None


def old_ale_check(package: Path, sequences: int, cap: int = 108_000) -> None:
    """Random per-frame action sequences on ale-py and ALE 0.6: does facing left mean no end there?"""
    import ale_py
    from emulator_compare import load_old_ale

    rom = package / "atari_roms" / "chopper_command.bin"
    old = load_old_ale(package)
    new = ale_py.ALEInterface()
    for ale in (old, new):
        ale.setFloat("repeat_action_probability", 0.0)
        ale.loadROM(str(rom))
    old_actions, new_actions = old.getLegalActionSet(), new.getLegalActionSet()
    agree = compared = 0
    for seed in range(sequences):
        actions = np.random.default_rng(seed).integers(18, size=cap)
        new.reset_game()
        old.reset_game()
        old_ram = bytes(np.asarray(old.getRAM(), dtype=np.uint8))
        same_start = bytes(np.asarray(new.getRAM(), dtype=np.uint8)) == old_ram
        f = 0
        while not new.game_over():
            new.act(new_actions[actions[f]])
            f += 1
        facing = int(new.getRAM()[FACING])
        g = 0
        while not old.game_over() and g < cap:
            old.act(old_actions[actions[g]])
            g += 1
        ended = f"ended at frame {g}" if g < cap else f"not ended after {cap} frames"
        note = "" if same_start else " (another start: not compared)"
        side = "right" if facing == 1 else "LEFT"
        print(f"sequence {seed}: ale-py over at frame {f} facing {side}; ALE 0.6 {ended}{note}")
        if same_start:
            compared += 1
            agree += (g == f) if facing == 1 else (g == cap)
    print(
        f"{compared} of {sequences} sequences from the same start; in {agree} of them ALE 0.6 ended "
        "at ale-py's game-over frame when the chopper faced right, and never when it faced left"
    )


def budget_count(share: float, length: int, runs: int = 20_000, budget: int = 100_000) -> None:
    """Agent steps of actual play in a ``budget``-step run on ALE 0.6, by a simple count.

    Each episode lasts ``length`` agent steps and ends facing left with probability
    ``share``; such an episode then runs on to the 27,000-step cap. ``runs`` runs,
    numpy generator seed 0.
    """
    rng = np.random.default_rng(0)
    played, frozen = np.zeros(runs), np.zeros(runs)
    for r in range(runs):
        t = 0
        while t < budget:
            played[r] += min(length, budget - t)
            if rng.random() < share:
                frozen[r] += 1
                t += 27_000
            else:
                t += length
    low, high = np.percentile(played, [10, 90])
    print(
        f"share {share:g}, episodes of {length} steps: {played.mean():,.0f} agent steps of play "
        f"in {budget:,} (10th-90th percentile {low:,.0f}-{high:,.0f}); "
        f"{frozen.mean():.2f} frozen episodes a run"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path, nargs="?", help="a ChopperCommand run directory")
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="file name in RUN_DIR/checkpoints: its policy plays")
    source.add_argument("--random", action="store_true", help="uniformly random actions play")
    source.add_argument(
        "--old-ale", type=Path, help="atari-py's package directory: check the rule on ALE 0.6"
    )
    ap.add_argument("--sequences", type=int, default=40, help="--old-ale: action sequences")
    source.add_argument(
        "--budget",
        nargs=2,
        type=float,
        metavar=("SHARE", "LENGTH"),
        help="no play: the steps of actual play in a 100k-step run on ALE 0.6, by a simple count",
    )
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument(
        "--epsilon", type=float, help="acting epsilon (default: the run's evaluation one)"
    )
    ap.add_argument("--max-steps", type=int, default=27_000, help="agent steps an episode at most")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.budget is not None:
        budget_count(args.budget[0], int(args.budget[1]))
        return
    if args.old_ale is not None:
        if not (args.old_ale / "ale_python_interface.py").is_file():
            ap.error(
                f"--old-ale: {args.old_ale} has no ale_python_interface.py (atari-py's package)"
            )
        old_ale_check(args.old_ale, args.sequences)
        return
    if args.run_dir is None or not (args.run_dir / "config.yaml").is_file():
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
            right = facing == 1  # ALE 0.6's test (dqn_core.envs.wrappers)
            verdict = "facing right: ends in both" if right else "facing LEFT: ALE 0.6 runs on"
            left += not right
            (scores_right if right else scores_left).append(score)
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
