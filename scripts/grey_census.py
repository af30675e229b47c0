"""Which colour boundaries vanish in the grey frames the agents see, game by game and dump by dump.

The agents here (and Dopamine's, and the DER paper's) learn from the ALE's
luminance image. Two colours of one luminance look alike there: on ale-py's
BankHeist dump the car takes the grey of one of the streets' shades and
vanishes (``scripts/bankheist_contrast.py``, Finding 8). This census says where
else to look. For each game it plays uniformly random actions through the
harness's evaluation environment (the ``drq-eps`` preset's Atari-100k protocol)
and at every agent step counts, on the screen, the boundaries between colours:
pairs of neighbouring pixels (left-right or up-down) whose colours differ. A
boundary is *lost* when the two colours' grey levels are at most ``--gap``
apart. It prints, per dump, the boundaries per screen, the share of them lost,
the share of steps with any lost, and the colour pairs that lose the most.

With ``--roms-dir`` (atari-py 0.2.6's ROMs: ``scripts/atari_py_roms.py``), each
game whose dump there differs from ale-py's is played on it too, with the same
actions and seed.

A lost boundary is a place to look, not a harm: a score digit on a band of
its own grey, or two shades of one wall, lose nothing the agent needs. Which
pairs matter takes the frames (as ``bankheist_contrast.py`` reads BankHeist's).

Usage, from the repository root::

    python scripts/grey_census.py --steps 2000 --roms-dir ATARI_PY_ROMS
    python scripts/grey_census.py --games BankHeist Gopher --steps 500
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Grey levels at most this far apart count as one.
GAP = 2
#: The colour ``--figure`` paints the pixels on lost boundaries.
MARK = (255, 0, 255)


@dataclass
class Tally:
    """Boundaries seen over a number of screens."""

    screens: int = 0
    boundaries: int = 0
    lost: int = 0
    screens_losing: int = 0
    pairs: Counter = field(default_factory=Counter)
    #: The grey level of each colour met on a lost boundary.
    greys: dict[int, int] = field(default_factory=dict)
    #: The screen losing the most boundaries, the pixels on them, and how many it lost.
    worst: np.ndarray | None = None
    worst_mask: np.ndarray | None = None
    worst_lost: int = 0

    def add(self, rgb: np.ndarray, grey: np.ndarray, gap: int = GAP) -> None:
        """Count one screen's boundaries (``rgb`` HxWx3, ``grey`` HxW, both uint8)."""
        code = rgb[..., 0].astype(np.int64) << 16 | rgb[..., 1].astype(np.int64) << 8 | rgb[..., 2]
        level = grey.astype(np.int16)
        lost_keys, masks, screen_lost = [], [], 0
        for a, b, ga, gb in (
            (code[:, :-1], code[:, 1:], level[:, :-1], level[:, 1:]),
            (code[:-1], code[1:], level[:-1], level[1:]),
        ):
            differ = a != b
            lost = differ & (np.abs(ga - gb) <= gap)
            self.boundaries += int(differ.sum())
            screen_lost += int(lost.sum())
            masks.append(lost)
            if lost.any():
                low, high = np.minimum(a[lost], b[lost]), np.maximum(a[lost], b[lost])
                lost_keys.append(low << 24 | high)
                for codes, levels in ((a[lost], ga[lost]), (b[lost], gb[lost])):
                    self.greys.update(zip(codes.tolist(), levels.tolist(), strict=True))
        self.screens += 1
        self.lost += screen_lost
        if screen_lost > self.worst_lost:
            marked = np.zeros(grey.shape, bool)
            marked[:, :-1] |= masks[0]
            marked[:, 1:] |= masks[0]
            marked[:-1] |= masks[1]
            marked[1:] |= masks[1]
            self.worst, self.worst_mask, self.worst_lost = rgb.copy(), marked, screen_lost
        if lost_keys:
            self.screens_losing += 1
            keys, counts = np.unique(np.concatenate(lost_keys), return_counts=True)
            self.pairs.update(dict(zip(keys.tolist(), counts.tolist(), strict=True)))

    @property
    def lost_share(self) -> float:
        return self.lost / self.boundaries if self.boundaries else 0.0

    def describe(self, top: int) -> str:
        """The ``top`` colour pairs losing most boundaries: colours, greys, share of the lost."""
        parts = []
        for key, n in self.pairs.most_common(top):
            a, b = key >> 24, key & 0xFFFFFF
            parts.append(
                f"{rgb(a)} / {rgb(b)} (greys {self.greys[a]}, {self.greys[b]}): {n / self.lost:.0%}"
            )
        return "; ".join(parts) or "-"


def rgb(code: int) -> tuple[int, int, int]:
    """The RGB colour of a packed colour code."""
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


def play(game: str, roms_dir: Path | None, steps: int, seed: int, gap: int) -> tuple[str, Tally]:
    """The ROM's MD5 and the tally of ``steps`` random agent steps on it."""
    from dqn_core.config import load_config
    from dqn_core.envs import make_vec_env
    from dqn_core.envs.make import rom_md5

    sets = [f"env.game={game}"] + ([f"env.roms_dir={roms_dir}"] if roms_dir else [])
    config = load_config("drq-eps", sets=sets)
    from emulator_compare import play as play_episode

    env = make_vec_env(config, 1, seed, evaluation=True)
    ale = env.envs[0].unwrapped.ale  # type: ignore[attr-defined]
    rng = np.random.default_rng(seed)
    tally = Tally()

    def looking(obs: np.ndarray) -> np.ndarray:
        tally.add(ale.getScreenRGB(), ale.getScreenGrayscale(), gap)
        return rng.integers(0, env.num_actions, size=1)

    left = steps
    while left:
        left -= play_episode(env, looking, left)[0]
    env.close()
    return str(rom_md5(config)), tally


def write_figure(out: Path, tallies: list[tuple[str, Tally]], per_row: int = 5) -> None:
    """A grid of panels, one per labelled tally: its worst screen as it is, and marked."""
    import cv2

    panels = []
    for label, tally in tallies:
        assert tally.worst is not None and tally.worst_mask is not None
        plain, marked = tally.worst, tally.worst.copy()
        marked[tally.worst_mask] = MARK
        pair = np.hstack([plain, np.zeros((marked.shape[0], 4, 3), np.uint8), marked])
        pair = np.pad(pair, ((18, 250 - marked.shape[0] + 6), (0, 8), (0, 0)))
        cv2.putText(pair, label, (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        panels.append(pair[:, :, ::-1])
    blank = np.zeros_like(panels[0])
    panels += [blank] * (-len(panels) % per_row)
    rows = [np.hstack(panels[i : i + per_row]) for i in range(0, len(panels), per_row)]
    cv2.imwrite(str(out), np.vstack(rows))


def main() -> None:
    from dqn_core.envs.games import ATARI100K_GAMES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--games", nargs="+", default=list(ATARI100K_GAMES))
    ap.add_argument("--steps", type=int, default=2000, help="random agent steps per dump")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gap", type=int, default=GAP, help="grey levels this close count as one")
    ap.add_argument("--top", type=int, default=3, help="colour pairs listed per dump")
    ap.add_argument("--roms-dir", type=Path, help="atari-py 0.2.6's ROMs: differing dumps too")
    ap.add_argument("--figure", type=Path, help="PNG: each dump's screen losing most, marked")
    args = ap.parse_args()
    if args.steps < 1:
        ap.error("--steps must be at least 1")
    if args.roms_dir is not None and not args.roms_dir.is_dir():
        ap.error(f"--roms-dir {args.roms_dir}: not a folder")

    print(
        f"{args.steps} uniformly random agent steps per dump (seed {args.seed}); a boundary is "
        f"lost when its two colours are at most {args.gap} grey levels apart.\n"
    )
    print(
        "| game | dump | MD5 | boundaries per screen | lost | steps losing any "
        "| colour pairs losing most (share of the lost) |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | --- |")
    worst: list[tuple[str, Tally]] = []
    for game in args.games:
        sources: list[tuple[str, Path | None]] = [("ale-py", None)]
        if args.roms_dir is not None:
            from rom_diff import rom_pair

            if rom_pair(game, args.roms_dir).differs:
                sources.append(("atari-py", args.roms_dir))
        for name, roms_dir in sources:
            md5, tally = play(game, roms_dir, args.steps, args.seed, args.gap)
            print(
                f"| {game} | {name} | {md5[:8]} | {tally.boundaries / tally.screens:,.0f} "
                f"| {tally.lost_share:.1%} | {tally.screens_losing / tally.screens:.0%} "
                f"| {tally.describe(args.top)} |",
                flush=True,
            )
            if tally.worst is not None:
                worst.append((f"{game} {name}", tally))
    if args.figure is not None and worst:
        write_figure(args.figure, worst)
        print(
            f"\n{args.figure}: each dump's screen losing the most boundaries, as it is and marked"
        )


if __name__ == "__main__":
    main()
