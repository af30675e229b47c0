"""The game catalogue: ALE ROM ids, display names and reference-table keys.

Three spellings of one game meet in this project:

* the **ROM id** ale-py loads (``space_invaders``, ``montezuma_revenge``),
* the **display name** used on the command line, in configs and in gymnasium
  ids (``SpaceInvaders``, as in ``ALE/SpaceInvaders-v5``; ale-py derives it
  from the ROM id, which gives ``Jamesbond``, ``MontezumaRevenge``,
  ``UpNDown``), and
* the **table key** of the published numbers in ``dqn_core/results/data/*.csv``,
  which follow DQN Zoo's ``atari_data.py`` (``jamesbond``, ``up_n_down``,
  ``montezuma_revenge``).

With ale-py 0.12 every one of the 62 games in the reference tables has a ROM
whose id is exactly its table key (``tests/test_games.py`` checks this against
the CSVs, so a ROM renamed by a future ale-py fails loudly there rather than
silently dropping a game from a table). The mismatches that do exist are
between those and the names other sources print (the Nature paper's "Up and
Down", "Montezuma's Revenge", "Pitfall II", ...): :data:`_ALIASES` maps them
explicitly, and everything else is matched after lower-casing and dropping
punctuation, so ``"Ms. Pac-Man"``, ``"MsPacman"`` and ``"ms_pacman"`` are one
game.

:func:`resolve_game` is the one entry point: it accepts any of the spellings
above, gymnasium ids (``ALE/Pong-v5``, ``PongNoFrameskip-v4``) and any case, and
fails with :class:`~dqn_core.config.ConfigError` naming the closest games.
Classic-control ids (``CartPole-v1``) are not Atari games; ``envs/make.py`` builds
them and :func:`is_classic` recognises them.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import ale_py
import ale_py.roms
import gymnasium as gym

from dqn_core.config import ConfigError

gym.register_envs(ale_py)


@dataclass(frozen=True)
class GameInfo:
    """One Atari game under its three spellings."""

    rom_id: str
    """ale-py ROM id, snake_case (``space_invaders``)."""
    name: str
    """Display / CLI name, CamelCase as in ``ALE/<name>-v5`` (``SpaceInvaders``)."""
    key: str
    """Key of the game in the reference tables (DQN Zoo ``atari_data.py`` names)."""

    @property
    def gym_id(self) -> str:
        """The gymnasium id of the ALE v5 environment (``ALE/SpaceInvaders-v5``)."""
        return f"ALE/{self.name}-v5"


#: ROMs that ale-py ships but registers no ``ALE/<Name>-v5`` env for: they have
#: no single-player mode (ale_py/registration.py skips exactly these).
MULTIPLAYER_ONLY_ROMS = frozenset({"combat", "joust", "maze_craze", "warlords"})

#: Classic-control environments the harness supports (built by ``envs/make.py``).
CLASSIC_ENVS = ("CartPole-v1",)

#: Spellings used by papers and other code bases that do not reduce to a ROM id
#: after lower-casing and dropping punctuation. Keys are already normalised
#: (see :func:`_norm`); values are ROM ids.
_ALIASES: dict[str, str] = {
    "montezumasrevenge": "montezuma_revenge",  # Nature 2015 table: "Montezuma's Revenge"
    "upanddown": "up_n_down",  # Nature 2015 table: "Up and Down"
    "pitfallii": "pitfall2",  # "Pitfall II: Lost Caverns"
    "atlantisii": "atlantis2",
    "tictactoe": "tic_tac_toe_3d",  # "3-D Tic-Tac-Toe"
    "3dtictactoe": "tic_tac_toe_3d",
}


def _rom_id_to_name(rom_id: str) -> str:
    # Same rule as ale_py.registration.rom_id_to_name, so names match gymnasium ids.
    return rom_id.title().replace("_", "")


def _norm(text: str) -> str:
    """Lower-case and keep only letters and digits ("Ms. Pac-Man" -> "mspacman")."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _build_catalogue() -> tuple[GameInfo, ...]:
    registered = {
        spec.kwargs.get("game")
        for env_id, spec in gym.registry.items()
        if env_id.startswith("ALE/") and env_id.endswith("-v5")
    }
    games = []
    for rom_id in sorted(ale_py.roms.get_all_rom_ids()):
        if rom_id in MULTIPLAYER_ONLY_ROMS or rom_id not in registered:
            continue
        # Table keys equal ROM ids for every game in the reference tables (see the
        # module docstring); games outside the tables use the same convention.
        games.append(GameInfo(rom_id=rom_id, name=_rom_id_to_name(rom_id), key=rom_id))
    return tuple(games)


#: Every ALE game usable here (single-player, registered as ``ALE/<Name>-v5``).
GAMES: tuple[GameInfo, ...] = _build_catalogue()

_BY_NORM: dict[str, GameInfo] = {}
for _g in GAMES:
    _BY_NORM[_norm(_g.rom_id)] = _g
    _BY_NORM[_norm(_g.name)] = _g
    _BY_NORM[_norm(_g.key)] = _g
_BY_ROM = {g.rom_id: g for g in GAMES}
for _alias, _rom in _ALIASES.items():
    if _rom in _BY_ROM:
        _BY_NORM[_alias] = _BY_ROM[_rom]

# "ALE/Pong-v5", "PongNoFrameskip-v4", "PongDeterministic-v0", "Pong-ramNoFrameskip-v4".
_GYM_ID = re.compile(
    r"^(?:ALE/)?(?P<game>.+?)(?:-ram)?(?:NoFrameskip|Deterministic)?(?:-v\d+)?$", re.IGNORECASE
)


def _strip_gym_id(name: str) -> str:
    match = _GYM_ID.match(name.strip())
    return match.group("game") if match else name.strip()


def is_classic(name: str) -> bool:
    """Whether ``name`` is a supported classic-control env id (``CartPole-v1``).

    Args:
        name: an env id, any case.

    Returns:
        True for the ids in :data:`CLASSIC_ENVS`.
    """
    return name.strip().lower() in {c.lower() for c in CLASSIC_ENVS}


def classic_env_id(name: str) -> str:
    """The canonical spelling of a classic-control env id (``cartpole-v1`` -> ``CartPole-v1``).

    Raises:
        ConfigError: ``name`` is not one of :data:`CLASSIC_ENVS`.
    """
    for env_id in CLASSIC_ENVS:
        if env_id.lower() == name.strip().lower():
            return env_id
    raise ConfigError(
        f"env.game: {name!r} is not a classic-control env (known: {', '.join(CLASSIC_ENVS)})"
    )


def resolve_game(name: str) -> GameInfo:
    """Find a game from any of its spellings.

    Args:
        name: display name (``SpaceInvaders``), ROM id (``space_invaders``), table
            key, a paper's spelling (``"Ms. Pac-Man"``) or a gymnasium id
            (``ALE/Pong-v5``, ``PongNoFrameskip-v4``); case does not matter.

    Returns:
        The game's :class:`GameInfo`.

    Raises:
        ConfigError: unknown name (the message suggests the closest games), a
            multiplayer-only ROM, or a classic-control id.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"env.game: expected a game name, got {name!r}")
    if is_classic(name):
        raise ConfigError(
            f"env.game: {name!r} is a classic-control env, not an Atari game "
            "(use it with env.protocol=classic)"
        )
    for candidate in (name, _strip_gym_id(name)):
        found = _BY_NORM.get(_norm(candidate))
        if found is not None:
            return found
    stripped = _norm(_strip_gym_id(name))
    if stripped in {_norm(r) for r in MULTIPLAYER_ONLY_ROMS}:
        raise ConfigError(
            f"env.game: {name!r} has no single-player mode in ale-py (multiplayer-only ROMs: "
            f"{', '.join(sorted(MULTIPLAYER_ONLY_ROMS))})"
        )
    raise ConfigError(f"env.game: unknown game {name!r}{_suggestion(stripped)}")


def _suggestion(normalised: str) -> str:
    """``"; did you mean Pong?"`` with up to three close display names (or ``""``)."""
    names = {_norm(g.name): g.name for g in GAMES}
    names.update({_norm(g.rom_id): g.name for g in GAMES})
    close = difflib.get_close_matches(normalised, list(names), n=6, cutoff=0.6)
    unique: list[str] = []
    for c in close:
        if names[c] not in unique:
            unique.append(names[c])
    if not unique:
        return " (run `dqn games` for the list)"
    return f"; did you mean {', '.join(unique[:3])}?"


def game_key(name: str) -> str:
    """The reference-table key of a game (``"Jamesbond"`` -> ``"jamesbond"``).

    Classic-control ids have no reference rows; their key is the id lower-cased
    without the version (``CartPole-v1`` -> ``cartpole``), so tables of a smoke
    run still have a stable column.

    Raises:
        ConfigError: unknown game.
    """
    if is_classic(name):
        return classic_env_id(name).split("-v")[0].lower()
    return resolve_game(name).key


def display_name(name: str) -> str:
    """The canonical display name (``"space_invaders"`` -> ``"SpaceInvaders"``).

    Classic-control ids come back in their canonical spelling (``CartPole-v1``).

    Raises:
        ConfigError: unknown game.
    """
    if is_classic(name):
        return classic_env_id(name)
    return resolve_game(name).name


def list_games() -> list[GameInfo]:
    """Every usable Atari game, sorted by ROM id."""
    return list(GAMES)


def _names(keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(resolve_game(k).name for k in keys)


#: The 26 games of the Atari-100k benchmark (Kaiser et al. 2020), as in
#: ``results/data/atari100k_scores.csv``.
ATARI100K_GAMES: tuple[str, ...] = _names(
    (
        "alien", "amidar", "assault", "asterix", "bank_heist", "battle_zone", "boxing",
        "breakout", "chopper_command", "crazy_climber", "demon_attack", "freeway",
        "frostbite", "gopher", "hero", "jamesbond", "kangaroo", "krull", "kung_fu_master",
        "ms_pacman", "pong", "private_eye", "qbert", "road_runner", "seaquest", "up_n_down",
    )
)  # fmt: skip

#: The 49 games of Mnih et al. 2015 (Extended Data Table 2): the rows of
#: ``results/data/published_scores.csv`` with algorithm "DQN (Nature)".
NATURE2015_GAMES: tuple[str, ...] = _names(
    (
        "alien", "amidar", "assault", "asterix", "asteroids", "atlantis", "bank_heist",
        "battle_zone", "beam_rider", "bowling", "boxing", "breakout", "centipede",
        "chopper_command", "crazy_climber", "demon_attack", "double_dunk", "enduro",
        "fishing_derby", "freeway", "frostbite", "gopher", "gravitar", "hero", "ice_hockey",
        "jamesbond", "kangaroo", "krull", "kung_fu_master", "montezuma_revenge", "ms_pacman",
        "name_this_game", "pong", "private_eye", "qbert", "riverraid", "road_runner",
        "robotank", "seaquest", "space_invaders", "star_gunner", "tennis", "time_pilot",
        "tutankham", "up_n_down", "venture", "video_pinball", "wizard_of_wor", "zaxxon",
    )
)  # fmt: skip

#: The 60 games of Dopamine's Atari baselines (``results/data/dopamine_dqn_curves.csv``):
#: the 57 games of the usual suite plus five Dopamine adds (air_raid, carnival,
#: elevator_action, journey_escape, pooyan), minus defender and surround.
DOPAMINE_GAMES: tuple[str, ...] = _names(
    (
        "air_raid", "alien", "amidar", "assault", "asterix", "asteroids", "atlantis",
        "bank_heist", "battle_zone", "beam_rider", "berzerk", "bowling", "boxing", "breakout",
        "carnival", "centipede", "chopper_command", "crazy_climber", "demon_attack",
        "double_dunk", "elevator_action", "enduro", "fishing_derby", "freeway", "frostbite",
        "gopher", "gravitar", "hero", "ice_hockey", "jamesbond", "journey_escape", "kangaroo",
        "krull", "kung_fu_master", "montezuma_revenge", "ms_pacman", "name_this_game",
        "phoenix", "pitfall", "pong", "pooyan", "private_eye", "qbert", "riverraid",
        "road_runner", "robotank", "seaquest", "skiing", "solaris", "space_invaders",
        "star_gunner", "tennis", "time_pilot", "tutankham", "up_n_down", "venture",
        "video_pinball", "wizard_of_wor", "yars_revenge", "zaxxon",
    )
)  # fmt: skip

#: Five games for the 10M-frame ``atari5`` suite, compared with Dopamine's DQN
#: curves. Why these: they are five of the seven games of the first DQN paper
#: (Mnih et al. 2013), so every DQN implementation has been checked on them; all
#: five are in the Nature, Dopamine and DQN Zoo tables; they span paddle, shooter,
#: navigation and resource-management play; and on each of them Dopamine's legacy
#: DQN visibly learns within 10M frames (mean training return at 1M -> 10M
#: frames, 5 runs: Pong -20.4 -> -4.9, Breakout 1.6 -> 21.5, SpaceInvaders
#: 167 -> 663, Seaquest 117 -> 300, Qbert 193 -> 1658; every rise is larger than
#: the across-run std at 10M frames), so a broken agent shows up at that budget.
#: This is not Aitchison et al.'s (2023) "Atari-5" (BattleZone, DoubleDunk,
#: NameThisGame, Phoenix, Qbert), which is chosen to predict the 57-game median
#: at 200M frames; at 10M frames DQN barely moves on BattleZone and DoubleDunk.
ATARI5: tuple[str, ...] = _names(("pong", "breakout", "space_invaders", "seaquest", "qbert"))

#: Named game lists used by suites.
GAME_LISTS: dict[str, tuple[str, ...]] = {
    "atari5": ATARI5,
    "atari100k": ATARI100K_GAMES,
    "nature2015": NATURE2015_GAMES,
    "dopamine": DOPAMINE_GAMES,
}


def game_list(name: str) -> list[str]:
    """A named game list (``atari5``, ``atari100k``, ``nature2015``, ``dopamine``).

    Returns:
        Display names, in the list's order.

    Raises:
        ConfigError: unknown list name.
    """
    if name not in GAME_LISTS:
        hint = difflib.get_close_matches(name, list(GAME_LISTS), n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(
            f"games: unknown game list {name!r}{extra} (known: {', '.join(GAME_LISTS)})"
        )
    return list(GAME_LISTS[name])
