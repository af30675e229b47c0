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
(reward, lives, game over, console RAM, screen). With ``--scores N``, each
differing game also plays N uniform-random episodes on each ROM through the
harness (``env.roms_dir``; the ``atari100k`` evaluation settings, the same seeds),
printed beside the random score that human-normalised tables use. A second
table gives each differing game's screen lines as the ALE plays each dump (250:
the ALE took it for a PAL cartridge) and, with ``--defprops`` (the ALE source's
``src/emucore/DefProps.hxx``, in atari-py's sdist or the ALE repository), the
name and the emulation properties Stella's catalogue gives each dump by its MD5.

Usage, from the repository root::

    python scripts/rom_diff.py /tmp/atari-py-0.2.6/atari_py/atari_roms --episodes 3
    python scripts/rom_diff.py /tmp/atari-py-0.2.6/atari_py/atari_roms --episodes 0 \
        --scores 30 --games Amidar Assault BankHeist BattleZone Krull
"""

from __future__ import annotations

import argparse
import re
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


#: The columns of Stella's catalogue (``DefProps.hxx``), and the values a ROM it
#: does not list gets (``Props.cxx``); the first six name the cartridge.
PROPERTY_NAMES = (
    "Cartridge.MD5", "Cartridge.Manufacturer", "Cartridge.ModelNo", "Cartridge.Name",
    "Cartridge.Note", "Cartridge.Rarity", "Cartridge.Sound", "Cartridge.Type",
    "Console.LeftDifficulty", "Console.RightDifficulty", "Console.TelevisionType",
    "Console.SwapPorts", "Controller.Left", "Controller.Right", "Controller.SwapPaddles",
    "Display.Format", "Display.YStart", "Display.Height", "Display.Phosphor",
    "Display.PPBlend", "Emulation.HmoveBlanks",
)  # fmt: skip
PROPERTY_DEFAULTS = (
    "", "", "", "Untitled", "", "", "MONO", "AUTO-DETECT", "B", "B", "COLOR", "NO",
    "JOYSTICK", "JOYSTICK", "NO", "AUTO-DETECT", "34", "210", "NO", "77", "YES",
)  # fmt: skip


def stella_catalogue(defprops: Path) -> dict[str, dict[str, str]]:
    """Stella's catalogue: MD5 -> the properties it sets (empty fields left out)."""
    rows = {}
    for line in defprops.read_text(errors="replace").splitlines():
        fields = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
        if len(fields) == len(PROPERTY_NAMES) and re.fullmatch(r"[0-9a-f]{32}", fields[0]):
            rows[fields[0]] = {n: v for n, v in zip(PROPERTY_NAMES, fields, strict=True) if v}
    return rows


def catalogue_entry(catalogue: dict[str, dict[str, str]], rom_md5: str) -> str:
    """A dump's name in the catalogue and the emulation properties it sets otherwise than
    the defaults (a dump it does not list plays with the defaults)."""
    entry = catalogue.get(rom_md5)
    if entry is None:
        return "not listed: the defaults"
    defaults = dict(zip(PROPERTY_NAMES, PROPERTY_DEFAULTS, strict=True))
    changed = [
        f"{name} {value}"
        for name, value in entry.items()
        if PROPERTY_NAMES.index(name) >= 6 and value != defaults[name]
    ]
    return entry.get("Cartridge.Name", "?") + (f" ({', '.join(changed)})" if changed else "")


def screen_lines(rom: Path) -> int:
    """Lines of the screen the ALE gives for ``rom`` (210; 250 where it detects PAL)."""
    ale = fresh_ale_py()
    ale.loadROM(str(rom))
    return int(ale.getScreenDims()[0])


def random_scores(game: str, roms_dir: Path | None, episodes: int, seed: int = 0) -> list[float]:
    """Scores of uniform-random play (``atari100k`` evaluation settings) on ``roms_dir``'s ROM.

    ``roms_dir`` None: ale-py's ROM. The same ``seed`` gives the same no-op
    starts and action draws on either ROM.
    """
    from dqn_core.config import load_config
    from dqn_core.envs import make_vec_env

    sets = [f"env.game={game}"] + ([f"env.roms_dir={roms_dir}"] if roms_dir else [])
    env = make_vec_env(load_config("der", sets=sets), 1, seed, evaluation=True)
    rng = np.random.default_rng(seed)
    try:
        return [
            play(env, lambda obs: rng.integers(0, env.num_actions, size=1), 27_000)[1]
            for _ in range(episodes)
        ]
    finally:
        env.close()


def _mean_se(scores: list[float]) -> str:
    a = np.asarray(scores, dtype=float)
    se = a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else float("nan")
    return f"{a.mean():,.1f} ± {se:,.1f}"


def main() -> None:
    from dqn_core.envs.games import ATARI100K_GAMES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rom_dir", type=Path, help="a directory of ROMs named as ale-py names them")
    ap.add_argument("--games", nargs="+", default=list(ATARI100K_GAMES))
    ap.add_argument("--episodes", type=int, default=2, help="random episodes a differing game")
    ap.add_argument(
        "--scores", type=int, default=0, help="random-play episodes a differing game and ROM"
    )
    ap.add_argument("--defprops", type=Path, help="Stella's catalogue, the ALE's DefProps.hxx")
    args = ap.parse_args()
    if not args.rom_dir.is_dir():
        ap.error(f"{args.rom_dir} is not a directory")
    print("| game | ale-py MD5 | other MD5 | bytes differing | random play: frames differing |")
    print("| --- | --- | --- | ---: | --- |")
    same = 0
    differing: list[RomPair] = []
    for game in args.games:
        pair = rom_pair(game, args.rom_dir)
        if pair.theirs is None:
            print(f"| {game} | {md5(pair.ours)} | (none) | | |")
            continue
        if not pair.differs:
            same += 1
            continue
        differing.append(pair)
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
    if differing:
        catalogue = stella_catalogue(args.defprops) if args.defprops else None
        print("\nThe dumps as the ALE plays them (screen lines: 250 where it detects PAL):\n")
        header = "| game | screen lines, ale-py's / other |"
        if catalogue is not None:
            header += " Stella's catalogue: ale-py's dump | other dump |"
        print(header)
        print("| --- | --- |" + (" --- | --- |" if catalogue is not None else ""))
        for pair in differing:
            assert pair.theirs is not None
            row = f"| {pair.game} | {screen_lines(pair.ours)} / {screen_lines(pair.theirs)} |"
            if catalogue is not None:
                row += f" {catalogue_entry(catalogue, md5(pair.ours))} |"
                row += f" {catalogue_entry(catalogue, md5(pair.theirs))} |"
            print(row)
    if args.scores > 0 and differing:
        from dqn_core.envs.games import resolve_game
        from dqn_core.results.reference import normalizer

        print(f"\nUniform-random play, {args.scores} episodes a ROM (mean ± standard error):\n")
        print("| game | ale-py's ROM | other ROM | random score of the HNS tables |")
        print("| --- | ---: | ---: | ---: |")
        for pair in differing:
            game = pair.game
            ours = random_scores(game, None, args.scores)
            theirs = random_scores(game, args.rom_dir, args.scores)
            random_score = normalizer(resolve_game(game).key)[0]
            print(f"| {game} | {_mean_se(ours)} | {_mean_se(theirs)} | {random_score:,.1f} |")


if __name__ == "__main__":
    main()
