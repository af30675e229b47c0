"""The per-game tables' note on ROM editions (dqn_core.results.rom_editions)."""

from __future__ import annotations

import hashlib

import pytest

from dqn_core.envs.games import game_list
from dqn_core.envs.make import rom_file
from dqn_core.results.rom_editions import ATARI_PY_OTHER_DUMPS, rom_note


@pytest.mark.parametrize("game", sorted(ATARI_PY_OTHER_DUMPS))
def test_the_listed_md5_is_the_rom_ale_py_ships(game: str) -> None:
    """An ale-py upgrade that changes one of these files makes the note stale: this says so."""
    md5 = hashlib.md5(rom_file(game).read_bytes()).hexdigest()
    dumps = ATARI_PY_OTHER_DUMPS[game]
    assert md5 == dumps.ale_py_md5
    assert dumps.atari_py_md5 != dumps.ale_py_md5


def test_the_listed_games_are_atari100k_games_four_of_them_pal() -> None:
    assert set(ATARI_PY_OTHER_DUMPS) <= set(game_list("atari100k"))
    pal = sorted(g for g, d in ATARI_PY_OTHER_DUMPS.items() if d.atari_py_is_pal)
    assert pal == ["Amidar", "Assault", "BankHeist", "Gopher"]


def test_a_table_without_such_a_game_gets_no_note() -> None:
    assert rom_note(["Pong", "Breakout", "CartPole-v1"], None) is None
    assert rom_note([], "") is None


def test_the_note_names_the_tables_games_in_order_and_the_pal_ones() -> None:
    note = rom_note(["Pong", "Krull", "BankHeist", "Assault", "Krull"], None)
    assert note is not None
    assert note.startswith("ROMs: ale-py's. For Assault, BankHeist and Krull, atari-py 0.2.6")
    assert "another dump, a PAL edition for Assault and BankHeist;" in note
    assert "Pong" not in note
    no_pal = rom_note(["Krull"], "")
    assert no_pal is not None
    assert "For Krull, atari-py" in no_pal and "PAL" not in no_pal


def test_runs_on_other_rom_files_say_so_whatever_the_games() -> None:
    note = rom_note(["Pong"], "/data/atari-py-roms")
    assert note is not None
    assert "the files in /data/atari-py-roms (env.roms_dir), not ale-py's" in note
