"""scripts/rom_diff.py: ROMs beside ale-py's, byte for byte, and random play replayed on them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ale_py.roms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from rom_diff import (  # noqa: E402
    catalogue_entry,
    random_play_comparison,
    random_scores,
    rom_pair,
    screen_lines,
    stella_catalogue,
)


def copy_rom(rom_id: str, to: Path, patch: dict[int, int] | None = None) -> Path:
    data = bytearray(Path(str(ale_py.roms.get_rom_path(rom_id))).read_bytes())
    for offset, value in (patch or {}).items():
        data[offset] = value
    to.mkdir(exist_ok=True)
    path = to / f"{rom_id}.bin"
    path.write_bytes(bytes(data))
    return path


def test_a_copy_is_the_same_a_patched_byte_differs_and_a_missing_rom_is_said(
    tmp_path: Path,
) -> None:
    copy_rom("pong", tmp_path)
    assert not rom_pair("Pong", tmp_path).differs
    original = Path(str(ale_py.roms.get_rom_path("pong"))).read_bytes()[0x100]
    copy_rom("pong", tmp_path, {0x100: original ^ 0xFF})
    pair = rom_pair("Pong", tmp_path)
    assert pair.differs and pair.bytes_differing == 1
    missing = rom_pair("Breakout", tmp_path)
    assert missing.theirs is None and missing.differs


def test_demon_attack_without_its_wave_84_hang_plays_the_same(tmp_path: Path) -> None:
    # atari-py 0.2.6's DemonAttack replaces the canonical ROM's BEQ-to-itself at $F482
    # (a hang once the wave counter reaches 84) with two NOPs: early play cannot tell.
    rom = copy_rom("demon_attack", tmp_path, {0x482: 0xEA, 0x483: 0xEA})
    out = random_play_comparison("DemonAttack", rom, episodes=1)
    assert out.frames > 500 and out.differing == 0


def test_random_scores_on_a_copy_are_ale_pys_scores(tmp_path: Path) -> None:
    copy_rom("breakout", tmp_path)
    ours = random_scores("Breakout", None, episodes=2, seed=4)
    assert len(ours) == 2 and all(s >= 0 for s in ours)
    assert random_scores("Breakout", tmp_path, episodes=2, seed=4) == ours
    assert random_scores("Breakout", None, episodes=2, seed=5) != ours


def test_stella_catalogue_rows_and_what_a_dump_gets(tmp_path: Path) -> None:
    # Two rows in DefProps.hxx's layout (21 quoted fields), as the ALE's source has them.
    empty = ', "", "", "", ""'
    rows = [
        '{ "' + "a" * 32 + '", "Parker Bros", "PB5310", "Amidar (1983) (PAL) [!]", "", "Uncommon", '
        '"", "", "A", "A", "", "", "", "NONE", "", "", "", "", "", "", "" },',
        '{ "'
        + "b" * 32
        + '", "CCE", "", "Road Runner (CCE)", "", ""'
        + empty * 2
        + ', "", "", "20", "", "", "", "" },',
    ]
    (tmp_path / "DefProps.hxx").write_text(
        "static const char* DefProps[2][21] = {\n" + "\n".join(rows)
    )
    catalogue = stella_catalogue(tmp_path / "DefProps.hxx")
    assert set(catalogue) == {"a" * 32, "b" * 32}
    assert catalogue_entry(catalogue, "a" * 32) == (
        "Amidar (1983) (PAL) [!] (Console.LeftDifficulty A, Console.RightDifficulty A, "
        "Controller.Right NONE)"
    )
    assert catalogue_entry(catalogue, "b" * 32) == "Road Runner (CCE) (Display.YStart 20)"
    assert catalogue_entry(catalogue, "c" * 32) == "not listed: the defaults"


def test_screen_lines_of_an_ntsc_rom() -> None:
    assert screen_lines(Path(str(ale_py.roms.get_rom_path("pong")))) == 210


def test_the_script_needs_a_directory(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "rom_diff.py"), str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and "is not a directory" in run.stderr
