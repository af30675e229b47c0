"""Games whose ROM in ale-py is another dump than the one atari-py 0.2.6 shipped.

Until atari-py 0.2.7 (May 2021), ``pip install gym[atari]`` installed the ROMs
inside atari-py; the Atari-100k papers (DER, DrQ, SPR, and the runs rliable
publishes) trained in that era, and none records which ROM files it played.
For 10 of the 26 Atari-100k games atari-py 0.2.6's file is not ale-py's, and
four of those are PAL editions, which the ALE plays with 250-line screens
(docs/atari100k.md, Finding 9; ``scripts/atari_py_roms.py`` lists them from
atari-py's source archive). On BankHeist the dump moved learned scores three- to
fourfold (Finding 8). A per-game table that has such a game says so in
its notes (:func:`rom_note`), so that a gap to a published score there is read
with the edition in mind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["ATARI_PY_OTHER_DUMPS", "OtherDump", "rom_note"]


class OtherDump(NamedTuple):
    """The two files of one game: ale-py's and atari-py 0.2.6's."""

    ale_py_md5: str
    atari_py_md5: str
    atari_py_is_pal: bool


#: By ALE game name; MD5s as ``scripts/atari_py_roms.py`` prints them (ale-py 0.12.1).
ATARI_PY_OTHER_DUMPS: dict[str, OtherDump] = {
    "Amidar": OtherDump(
        "acb7750b4d0c4bd34969802a7deb2990", "056f5d886a4e7e6fdd83650554997d0d", True
    ),
    "Assault": OtherDump(
        "de78b3a064d374390ac0710f95edde92", "c31a17942d162b80962cb1f7571cd1d5", True
    ),
    "BankHeist": OtherDump(
        "00ce0bdd43aed84a983bef38fe7f5ee3", "83b8c01c72306d60dd9b753332ebd276", True
    ),
    "BattleZone": OtherDump(
        "41f252a66c6301f1e8ab3612c19bc5d4", "e434c0e161dd3c3fb435eb6bad2e182c", False
    ),
    "DemonAttack": OtherDump(
        "f0e0addc07971561ab80d9abe1b8d333", "b24f6a5820a4b7763a3d547e3e07441d", False
    ),
    "Gopher": OtherDump(
        "c16c79aad6272baffb8aae9a7fff0864", "8f90590dba143d783df5a6cff2000e4d", True
    ),
    "Krull": OtherDump(
        "4baada22435320d185c95b7dd2bcdb24", "cc724ebe74a109e39c0b2784ddc980ca", False
    ),
    "KungFuMaster": OtherDump(
        "5b92a93b23523ff16e2789b820e2a4c5", "0b4e793c9425175498f5a65a3e960086", False
    ),
    "MsPacman": OtherDump(
        "87e79cd41ce136fd4f72cc6e2c161bee", "9469d18238345d87768e8965f9f4a6b2", False
    ),
    "RoadRunner": OtherDump(
        "ce5cc62608be2cd3ed8abd844efb8919", "7d3cdde63b16fa637c4484e716839c94", False
    ),
}


def _names(games: list[str]) -> str:
    if len(games) <= 2:
        return " and ".join(games)
    return ", ".join(games[:-1]) + f" and {games[-1]}"


def rom_note(games: Iterable[str], roms_dir: str | None) -> str | None:
    """The notes' sentence on the ROM files a table's runs played (None: nothing to say).

    Args:
        games: the table's games (ALE names).
        roms_dir: the runs' ``env.roms_dir`` (one value a table: it changes results,
            so runs that differ in it never pool); None or "" for ale-py's ROMs.
    """
    if roms_dir:
        return (
            f"ROMs: the files in {roms_dir} (env.roms_dir), not ale-py's; each run's "
            "summary.json records its ROM's MD5 (docs/atari100k.md, Finding 9)."
        )
    other = sorted(set(games) & set(ATARI_PY_OTHER_DUMPS))
    if not other:
        return None
    pal = [g for g in other if ATARI_PY_OTHER_DUMPS[g].atari_py_is_pal]
    pal_clause = f", a PAL edition for {_names(pal)}" if pal else ""
    return (
        f"ROMs: ale-py's. For {_names(other)}, atari-py 0.2.6 (what `pip install gym[atari]` "
        f"installed until May 2021) shipped another dump{pal_clause}; which dump the published "
        "runs played is not recorded (docs/atari100k.md, Finding 9)."
    )
