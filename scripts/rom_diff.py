"""Which games' ROMs differ from ale-py's in another ROM set, and does play notice? For Finding 9.

For each game (default: the 26 of Atari-100k) it compares the ROM that ale-py
ships with the file of the same name in ``ROM_DIR`` (atari-py 0.2.6's
``atari_roms/``, say: the ROMs that ``pip install gym[atari]`` brought until
atari-py 0.2.7 of May 2021, after which ROMs had to be imported and were
checked against the ALE's list of MD5s). It prints both MD5s and how many bytes
differ. For each game whose ROM differs, ``--episodes`` random-action episodes
are played through the harness's ``atari100k`` environment (ale-py's ROM) and
replayed frame by frame on a second ale-py loaded with ``ROM_DIR``'s ROM
(``scripts/emulator_compare.py``): the frames that differ, and in what
(reward, lives, game over, console RAM, screen).

Usage, from the repository root::

    python scripts/rom_diff.py /tmp/atari-py-0.2.6/atari_py/atari_roms --episodes 3
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import ale_py.roms
import numpy as np
from emulator_compare import Comparison, RecordingAle, fresh_ale_py, install, md5, play, replay


@dataclass(frozen=True)
class RomPair:
    game: str
    ours: Path
    theirs: Path | None
    bytes_differing: int

    @property
    def differs(self) -> bool:
        return self.theirs is None or self.bytes_differing > 0


def rom_pair(game: str, rom_dir: Path) -> RomPair:
    """ale-py's ROM of ``game`` beside ``rom_dir``'s file of the same name (``None``: missing)."""
    from dqn_core.envs.games import resolve_game

    rom_id = resolve_game(game).rom_id
    ours = Path(str(ale_py.roms.get_rom_path(rom_id)))
    theirs = rom_dir / f"{rom_id}.bin"
    if not theirs.is_file():
        return RomPair(game, ours, None, 0)
    a, b = ours.read_bytes(), theirs.read_bytes()
    differing = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
    return RomPair(game, ours, theirs, differing)


def random_play_comparison(game: str, rom: Path, episodes: int, seed: int = 0) -> Comparison:
    """Random-action episodes of ``game`` (``atari100k`` protocol), replayed on ale-py with ``rom``."""
    from dqn_core.config import load_config
    from dqn_core.envs import make_vec_env

    config = load_config("der", sets=[f"env.game={game}"])
    env = make_vec_env(config, 1, seed, evaluation=True)
    gym_env = env.envs[0]  # type: ignore[attr-defined]
    recorder = RecordingAle(gym_env.unwrapped.ale)
    install(gym_env, recorder)
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        play(env, lambda obs: rng.integers(0, env.num_actions, size=1), 27_000)
    env.close()
    return replay(recorder.events, recorder.frames, fresh_ale_py(), str(rom))


def main() -> None:
    from dqn_core.envs.games import ATARI100K_GAMES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rom_dir", type=Path, help="a directory of ROMs named as ale-py names them")
    ap.add_argument("--games", nargs="+", default=list(ATARI100K_GAMES))
    ap.add_argument("--episodes", type=int, default=2, help="random episodes a differing game")
    args = ap.parse_args()
    if not args.rom_dir.is_dir():
        ap.error(f"{args.rom_dir} is not a directory")
    print("| game | ale-py MD5 | other MD5 | bytes differing | random play: frames differing |")
    print("| --- | --- | --- | ---: | --- |")
    same = 0
    for game in args.games:
        pair = rom_pair(game, args.rom_dir)
        if pair.theirs is None:
            print(f"| {game} | {md5(pair.ours)} | (none) | | |")
            continue
        if not pair.differs:
            same += 1
            continue
        play_note = ""
        if args.episodes > 0:
            out = random_play_comparison(game, pair.theirs, args.episodes)
            fields = ", ".join(f"{k} {n}" for k, n in out.by_field.items())
            play_note = f"{out.differing} of {out.frames}" + (f" ({fields})" if fields else "")
        print(
            f"| {game} | {md5(pair.ours)} | {md5(pair.theirs)} | {pair.bytes_differing} "
            f"| {play_note} |"
        )
    print(f"\n{same} of {len(args.games)} games: the same ROM, byte for byte.")


if __name__ == "__main__":
    main()
