"""Tests of dqn_core.envs.games: name resolution, suggestions, table keys, suite lists.

The reference tables are read as shipped (``dqn_core/results/data/*.csv``), so a
game added to a table, or a ROM renamed by a new ale-py, fails here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import ale_py.roms
import gymnasium as gym
import pytest

from dqn_core.config import ConfigError
from dqn_core.envs import games
from dqn_core.envs.games import GameInfo, game_key, resolve_game
from dqn_core.results import reference

REFERENCE = Path(reference.__file__).resolve().parent / "data"


def table_games(filename: str, **where: str) -> set[str]:
    with (REFERENCE / filename).open(newline="") as f:
        return {
            row["game"]
            for row in csv.DictReader(f)
            if all(row[column] == value for column, value in where.items())
        }


def all_table_keys() -> set[str]:
    keys: set[str] = set()
    for name in sorted(REFERENCE.glob("*.csv")):
        with name.open(newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames and "game" in reader.fieldnames:
                keys |= {row["game"] for row in reader}
    return keys


# ------------------------------------------------------------------- catalogue
def test_catalogue_is_every_single_player_rom() -> None:
    roms = set(ale_py.roms.get_all_rom_ids())
    assert {g.rom_id for g in games.GAMES} == roms - games.MULTIPLAYER_ONLY_ROMS
    assert len(games.GAMES) == len({g.name for g in games.GAMES}) == len(games.list_games())
    for g in games.GAMES:
        assert isinstance(g, GameInfo)
        assert g.gym_id in gym.registry, g
        assert gym.spec(g.gym_id).kwargs["game"] == g.rom_id


def test_game_info_is_frozen() -> None:
    with pytest.raises(AttributeError):
        games.GAMES[0].name = "x"  # type: ignore[misc]


# ------------------------------------------------------------------ resolution
@pytest.mark.parametrize(
    ("spelling", "rom_id"),
    [
        ("SpaceInvaders", "space_invaders"),
        ("space_invaders", "space_invaders"),
        ("SPACE INVADERS", "space_invaders"),
        ("ALE/SpaceInvaders-v5", "space_invaders"),
        ("SpaceInvadersNoFrameskip-v4", "space_invaders"),
        ("BreakoutDeterministic-v4", "breakout"),
        ("Pong-v0", "pong"),
        ("pong-ramNoFrameskip-v4", "pong"),
        ("Jamesbond", "jamesbond"),
        ("James Bond", "jamesbond"),
        ("MontezumaRevenge", "montezuma_revenge"),
        ("Montezuma's Revenge", "montezuma_revenge"),
        ("UpNDown", "up_n_down"),
        ("Up and Down", "up_n_down"),
        ("Ms. Pac-Man", "ms_pacman"),
        ("Pac-Man", "pacman"),
        ("H.E.R.O.", "hero"),
        ("Q*bert", "qbert"),
        ("Kung-Fu Master", "kung_fu_master"),
        ("Pitfall II", "pitfall2"),
        ("TicTacToe3D", "tic_tac_toe_3d"),
    ],
)
def test_resolve_game_accepts_every_spelling(spelling: str, rom_id: str) -> None:
    assert resolve_game(spelling).rom_id == rom_id


def test_unknown_game_suggests_close_names() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_game("Pnog")
    assert str(err.value) == "env.game: unknown game 'Pnog'; did you mean Pong?"
    with pytest.raises(ConfigError, match=r"did you mean .*SpaceInvaders"):
        resolve_game("SpaceInvader")
    with pytest.raises(ConfigError, match=r"did you mean Breakout"):
        resolve_game("ALE/Breakot-v5")
    with pytest.raises(ConfigError, match=r"dqn games"):
        resolve_game("Xyzzy")
    with pytest.raises(ConfigError, match=r"env\.game"):
        resolve_game("")


def test_multiplayer_only_and_classic_names_are_explained() -> None:
    with pytest.raises(ConfigError, match="no single-player mode"):
        resolve_game("Joust")
    with pytest.raises(ConfigError, match="classic-control"):
        resolve_game("CartPole-v1")
    assert games.is_classic("cartpole-v1") and not games.is_classic("Pong")
    assert games.display_name("cartpole-v1") == "CartPole-v1"
    assert game_key("CartPole-v1") == "cartpole"


# ------------------------------------------------------------------- table keys
#: Reference-table keys with no ROM in ale-py. With ale-py 0.12 there are none:
#: every one of the 62 table games has a ROM whose id equals its key.
ABSENT_FROM_ALE: frozenset[str] = frozenset()


def test_every_reference_table_key_maps_to_a_rom() -> None:
    keys = all_table_keys()
    assert len(keys) == 62  # the 57 of DQN Zoo + 5 Dopamine extras
    missing = {k for k in keys if k not in {g.key for g in games.GAMES}}
    assert missing == ABSENT_FROM_ALE
    for key in sorted(keys - ABSENT_FROM_ALE):
        info = resolve_game(key)
        assert info.key == key and info.rom_id == key
        assert game_key(info.name) == key
        assert games.display_name(key) == info.name


def test_table_key_examples() -> None:
    assert game_key("ALE/SpaceInvaders-v5") == "space_invaders"
    assert game_key("Jamesbond") == "jamesbond"
    assert game_key("MontezumaRevenge") == "montezuma_revenge"
    assert game_key("UpNDown") == "up_n_down"


# ------------------------------------------------------------------ suite lists
def test_suite_lists_have_the_right_games() -> None:
    def keys(names: tuple[str, ...]) -> set[str]:
        return {game_key(n) for n in names}

    assert len(games.ATARI100K_GAMES) == 26
    assert keys(games.ATARI100K_GAMES) == table_games("atari100k_scores.csv")
    assert len(games.NATURE2015_GAMES) == 49
    assert keys(games.NATURE2015_GAMES) == table_games(
        "published_scores.csv", algorithm="DQN (Nature)"
    )
    assert len(games.DOPAMINE_GAMES) == 60
    assert keys(games.DOPAMINE_GAMES) == table_games("dopamine_dqn_curves.csv")
    assert games.ATARI5 == ("Pong", "Breakout", "SpaceInvaders", "Seaquest", "Qbert")
    assert set(games.ATARI5) <= set(games.DOPAMINE_GAMES) & set(games.NATURE2015_GAMES)
    for names in games.GAME_LISTS.values():
        assert len(set(names)) == len(names)
        assert all(resolve_game(n).name == n for n in names)  # display names


def test_game_list_lookup() -> None:
    assert games.game_list("atari5") == list(games.ATARI5)
    with pytest.raises(ConfigError, match="did you mean 'atari5'"):
        games.game_list("atari-5")
