"""Unpack the ROMs inside atari-py 0.2.6 into a folder that ``env.roms_dir`` plays. For Finding 9.

Until atari-py 0.2.7 (PyPI, 2021-05-21), ``pip install gym[atari]`` brought the
ROMs inside atari-py's package; for 10 of the 26 Atari-100k games they are
other dumps than ale-py's (four PAL editions: docs/atari100k.md, Finding 9).
This takes atari-py 0.2.6's source archive from PyPI (``pip download``, or a
copy given with ``--sdist``), checks it against the SHA-256 PyPI lists for it,
and writes its ``atari_roms/*.bin`` into ``OUT_DIR``: nothing is built or
installed (PyPI marks 0.2.6 yanked, "re-release with new wheels"; pip still
downloads a yanked release pinned with ``==``). Then, for the Atari-100k
games, it prints which files differ from the ROM ale-py ships (MD5s), the list
``scripts/rom_diff.py`` compares in depth.

Usage, from the repository root::

    python scripts/atari_py_roms.py ~/atari-py-0.2.6-roms
    dqn train --preset drq-eps --game BankHeist --seed 0 \\
        --set env.roms_dir=$HOME/atari-py-0.2.6-roms ...
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

SDIST = "atari-py-0.2.6.tar.gz"
# PyPI's SHA-256 of atari-py 0.2.6's source archive (pypi.org/project/atari-py/0.2.6/#files)
SDIST_SHA256 = "6249ad5079b0489e87eb44e65485bb1b07cc1b5af729f1ee52ece749503ceb1d"
ROM_FOLDER = ("atari_py", "atari_roms")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download_sdist(dest: Path) -> Path:
    """``pip download`` atari-py 0.2.6's source archive (no dependencies, nothing built) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += ["--no-build-isolation", "atari-py==0.2.6", "-d", str(dest)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    path = dest / SDIST
    if not path.is_file():
        raise SystemExit(f"pip download left no {SDIST} in {dest}")
    return path


def extract_roms(sdist: Path, out_dir: Path, expected_sha256: str | None = None) -> list[Path]:
    """Write the archive's ``atari_py/atari_roms/*.bin`` into ``out_dir``; the written files, sorted.

    Raises:
        SystemExit: the archive is not the one PyPI lists (its SHA-256 differs), or holds no ROM.
    """
    expected_sha256 = expected_sha256 or SDIST_SHA256
    digest = sha256(sdist)
    if digest != expected_sha256:
        raise SystemExit(
            f"{sdist}: SHA-256 {digest}, not {expected_sha256} (atari-py 0.2.6's on PyPI); "
            "refusing to unpack another archive"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            parts = PurePosixPath(member.name).parts
            # <root>/atari_py/atari_roms/<name>.bin and nothing deeper: the name is used alone
            if len(parts) != 4 or parts[1:3] != ROM_FOLDER or not parts[3].endswith(".bin"):
                continue
            if not member.isfile():
                continue
            data = archive.extractfile(member)
            assert data is not None  # a regular file
            target = out_dir / parts[3]
            target.write_bytes(data.read())
            written.append(target)
    if not written:
        raise SystemExit(f"{sdist}: no atari_py/atari_roms/*.bin inside")
    return sorted(written)


def differing_games(rom_dir: Path, games: list[str]) -> list[tuple[str, str, str | None]]:
    """(game, ale-py's MD5, rom_dir's MD5 or None when missing) for each game whose ROM differs."""
    from emulator_compare import md5
    from rom_diff import rom_pair

    pairs = [rom_pair(game, rom_dir) for game in games]
    return [
        (p.game, md5(p.ours), None if p.theirs is None else md5(p.theirs))
        for p in pairs
        if p.differs
    ]


def listed_differences(
    rows: list[tuple[str, str, str | None]], pal: dict[str, bool] | None = None
) -> list[str]:
    """Where ``rows`` (from :func:`differing_games`) and dqn_core's list of other dumps disagree.

    ``pal``: by game, whether the ALE plays the other dump as a PAL cartridge
    (compared with the list's flag where given). The per-game tables' note on
    ROM editions reads that list (``dqn_core.results.rom_editions``); an empty
    answer means it is current.
    """
    from dqn_core.results.rom_editions import ATARI_PY_OTHER_DUMPS

    found = {game: (ours, theirs) for game, ours, theirs in rows}
    listed = {g: (d.ale_py_md5, d.atari_py_md5) for g, d in ATARI_PY_OTHER_DUMPS.items()}
    problems = [f"{g}: differs here, not listed" for g in sorted(set(found) - set(listed))]
    problems += [f"{g}: listed, does not differ here" for g in sorted(set(listed) - set(found))]
    problems += [
        f"{g}: MD5s {found[g]} here, {listed[g]} listed"
        for g in sorted(set(found) & set(listed))
        if found[g] != listed[g]
    ]
    problems += [
        f"{g}: {'PAL' if is_pal else 'not PAL'} here, listed otherwise"
        for g, is_pal in sorted((pal or {}).items())
        if g in ATARI_PY_OTHER_DUMPS and ATARI_PY_OTHER_DUMPS[g].atari_py_is_pal != is_pal
    ]
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the .bin files into")
    parser.add_argument(
        "--sdist", type=Path, help=f"a local copy of {SDIST} (default: pip download it)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist if args.sdist is not None else download_sdist(Path(tmp))
        written = extract_roms(sdist, args.out_dir)
    print(f"{len(written)} ROMs from {SDIST} (SHA-256 checked) in {args.out_dir}")

    from dqn_core.envs.games import game_list

    games = game_list("atari100k")
    rows = differing_games(args.out_dir, games)
    print(f"\n{len(rows)} of the {len(games)} Atari-100k games play another dump than ale-py's:\n")
    print("| game | ale-py's MD5 | atari-py 0.2.6's MD5 |\n| --- | --- | --- |")
    for game, ours, theirs in rows:
        print(f"| {game} | {ours} | {theirs or 'missing'} |")
    from rom_diff import screen_lines

    from dqn_core.envs.make import rom_file

    # The ALE plays a cartridge it takes for PAL with 250 screen lines (NTSC: 210).
    pal = {game: screen_lines(rom_file(game, args.out_dir)) == 250 for game, _, t in rows if t}
    problems = listed_differences(rows, pal)
    if problems:
        raise SystemExit(
            "dqn_core/results/rom_editions.py (the tables' note on ROM editions) is stale:\n  "
            + "\n  ".join(problems)
        )
    print("\ndqn_core/results/rom_editions.py lists the same games, MD5s and PAL editions.")


if __name__ == "__main__":
    main()
