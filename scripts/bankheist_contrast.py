"""How well BankHeist's car stands out in the grey frames the agents see, on each dump. For Finding 8.

The observation (here, in Dopamine's and in the DER paper's pipelines alike) is
the ALE's luminance image, resized to 84x84. Colours with one luminance look
alike there. This plays evaluation episodes through a run's environment (its
protocol and ROM, ``env.roms_dir`` included) with a checkpoint's policy or
uniformly random actions, and at every agent step looks at the screen: finds
the player's car by its colour (ale-py's NTSC dump draws it (162, 98, 33), atari-py
0.2.6's PAL dump (238, 209, 128)), takes the most common other colour in a box
reaching 3 pixels around it (the street it is on) and counts the steps by that
colour, with both grey levels and their gap. A gap of a level or two leaves the
car all but invisible in the observation; the streets' shade can change at
every agent step, so it also counts the steps whose whole frame stack (4 steps)
shows the car so.

``--figure OUT --roms-dir DIR`` draws instead one game state on both dumps:
uniformly random actions, the same on both (the two dumps play the same game,
Finding 9), until the car on ale-py's dump sits on a street of its own grey;
then each dump's screen and the agent's 84x84 observation of it.

Usage, from the repository root::

    python scripts/bankheist_contrast.py results/atari100k-drq/runs/drq-eps/BankHeist/seed0 \\
        --checkpoint ckpt-000000100000.pt --episodes 3
    python scripts/bankheist_contrast.py RUN_DIR --random --episodes 3
    python scripts/bankheist_contrast.py --figure contrast.png --roms-dir ATARI_PY_ROMS

The run directory must hold its ``checkpoints/`` for ``--checkpoint``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: The car's colour by ROM MD5: ale-py's NTSC dump, atari-py 0.2.6's PAL dump.
CAR = {
    "00ce0bdd43aed84a983bef38fe7f5ee3": (162, 98, 33),
    "83b8c01c72306d60dd9b753332ebd276": (238, 209, 128),
}
#: Screen rows of the maze (the car drives there) by screen height: NTSC 210, PAL 250.
MAZE_ROWS = {210: (40, 175), 250: (60, 197)}
MARGIN = 3
#: A car this close in grey to its street is hidden; a stack holds this many frames.
HIDDEN, STACK = 2, 4


def car_and_street(rgb: np.ndarray, grey: np.ndarray, car: tuple[int, int, int]) -> tuple | None:
    """(street colour, street grey, car grey) of one screen; None when the car is not in the maze."""
    top, bottom = MAZE_ROWS[rgb.shape[0]]
    maze, maze_grey = rgb[top:bottom], grey[top:bottom]
    is_car = np.all(maze == np.array(car, np.uint8), axis=2)
    if not is_car.any():
        return None
    ys, xs = np.nonzero(is_car)
    window = (
        slice(max(ys.min() - MARGIN, 0), ys.max() + MARGIN + 1),
        slice(max(xs.min() - MARGIN, 0), xs.max() + MARGIN + 1),
    )
    box, box_grey, box_car = maze[window], maze_grey[window], is_car[window]
    colours, first, counts = np.unique(box[~box_car], axis=0, return_index=True, return_counts=True)
    if len(colours) == 0:
        return None
    street = int(np.argmax(counts))
    street_grey = int(box_grey[~box_car][first[street]])
    return tuple(int(v) for v in colours[street]), street_grey, int(box_grey[box_car][0])


def is_hidden(seen: tuple) -> bool:
    """Whether ``car_and_street``'s car is at most ``HIDDEN`` grey levels from its street."""
    return abs(seen[1] - seen[2]) <= HIDDEN


def census(
    env: Any, policy: Callable[[np.ndarray], np.ndarray], car: tuple[int, int, int], episodes: int
) -> tuple[Counter, int, int, list[float]]:
    """Steps by (street colour, street grey, car grey); all steps; hidden steps; the scores.

    A hidden step is one whose whole frame stack (it and the ``STACK - 1`` steps
    before it, in one episode) shows the car at most ``HIDDEN`` grey levels from its
    street.
    """
    from emulator_compare import play

    ale = env.envs[0].unwrapped.ale
    counts: Counter = Counter()
    steps = hidden = streak = 0

    def looking(obs: np.ndarray) -> np.ndarray:
        nonlocal steps, hidden, streak
        steps += 1
        seen = car_and_street(ale.getScreenRGB(), ale.getScreenGrayscale(), car)
        if seen is not None:
            counts[seen] += 1
        streak = streak + 1 if seen is not None and is_hidden(seen) else 0
        hidden += streak >= STACK
        return policy(obs)

    scores = []
    for _ in range(episodes):
        streak = 0
        scores.append(play(env, looking, 27_000)[1])
    return counts, steps, hidden, scores


def car_colour(config: Any) -> tuple[str, tuple[int, int, int]]:
    """The MD5 of the ROM a config plays, and the car's colour on it."""
    from dqn_core.envs.make import rom_md5

    md5 = rom_md5(config)
    if md5 not in CAR:
        raise SystemExit(f"BankHeist ROM with MD5 {md5}: its car colour is not known here")
    return md5, CAR[md5]


def figure(out: Path, roms_dir: Path, seed: int, max_steps: int = 20_000) -> int:
    """Draw one game state on both dumps (see the module's doc); the agent step it shows."""
    import cv2

    from dqn_core.config import load_config
    from dqn_core.envs import make_vec_env

    configs = [
        load_config("drq-eps", sets=["env.game=BankHeist", *extra])
        for extra in ([], [f"env.roms_dir={roms_dir}"])
    ]
    envs = [make_vec_env(config, 1, seed, evaluation=True) for config in configs]
    ales = [env.envs[0].unwrapped.ale for env in envs]  # type: ignore[attr-defined]
    _, car = car_colour(configs[0])
    obs = [env.reset() for env in envs]
    rng = np.random.default_rng(seed)
    step = 0
    while True:
        seen = car_and_street(ales[0].getScreenRGB(), ales[0].getScreenGrayscale(), car)
        if seen is not None and is_hidden(seen):
            break
        step += 1
        if step > max_steps:
            raise SystemExit(f"no such state in {max_steps} agent steps")
        action = rng.integers(0, envs[0].num_actions, size=1)
        outs = [env.step(action) for env in envs]
        obs = [o.obs for o in outs]
        if outs[0].terminated[0] or outs[0].truncated[0]:
            obs = [env.reset() for env in envs]

    def panel(image: np.ndarray, width: int, height: int) -> np.ndarray:
        """``image`` (BGR) scaled to ``width`` x ``height``, on black 500 rows high."""
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST)
        return np.pad(image, ((0, 500 - height), (0, 8), (0, 0)))

    panels = []
    for ale, ob in zip(ales, obs, strict=True):
        screen = ale.getScreenRGB()[:, :, ::-1]
        seen_grey = np.asarray(ob[0, -1], np.uint8)  # the newest frame of the stack, 84x84
        panels.append(panel(screen, 320, 2 * screen.shape[0]))
        panels.append(panel(cv2.cvtColor(seen_grey, cv2.COLOR_GRAY2BGR), 336, 336))
    cv2.imwrite(str(out), np.hstack(panels))
    for env in envs:
        env.close()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path, nargs="?", help="a BankHeist run directory")
    source = ap.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", help="file name in RUN_DIR/checkpoints: its policy plays")
    source.add_argument("--random", action="store_true", help="uniformly random actions play")
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", type=Path, help="draw one state on both dumps into this PNG")
    ap.add_argument("--roms-dir", type=Path, help="with --figure: atari-py 0.2.6's ROM folder")
    args = ap.parse_args()
    if args.figure is not None:
        if args.roms_dir is None:
            ap.error("--figure needs --roms-dir (the folder of atari-py 0.2.6's ROMs)")
        step = figure(args.figure, args.roms_dir, args.seed)
        print(f"{args.figure}: agent step {step} of a random episode (seed {args.seed})")
        return
    if args.run_dir is None or not (args.checkpoint or args.random):
        ap.error("give RUN_DIR and --checkpoint FILE or --random (or --figure)")
    from emulator_compare import probe_policy

    from dqn_core.experiment import configure_cpu, int_seed, load_run_config, make_vec_env

    config = load_run_config(args.run_dir / "config.yaml")
    configure_cpu(config.train)
    md5, car = car_colour(config)
    env = make_vec_env(
        config, 1, int_seed(config.seed, "bankheist_contrast", args.seed), evaluation=True
    )
    policy = probe_policy(ap, args, config, env)
    counts, steps, hidden, scores = census(env, policy, car, args.episodes)
    env.close()
    seen = sum(counts.values())
    print(f"ROM MD5 {md5}; car colour {car}")
    print(
        f"{args.episodes} episodes, scores {', '.join(f'{s:g}' for s in scores)}; "
        f"{steps} agent steps, the car in the maze at {seen}\n"
    )
    print("| street colour | street grey | car grey | gap | agent steps | share |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for (street, street_grey, car_grey), n in counts.most_common():
        gap = abs(street_grey - car_grey)
        print(f"| {street} | {street_grey} | {car_grey} | {gap} | {n} | {n / seen:.1%} |")
    print(
        f"\nThe whole frame stack ({STACK} agent steps) shows the car within {HIDDEN} grey "
        f"levels of its street at {hidden} steps ({hidden / seen:.1%} of those with the car "
        "in the maze)."
    )


if __name__ == "__main__":
    main()
