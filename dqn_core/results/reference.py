"""Published reference numbers, shipped as package data, and their loaders.

The CSV files in ``data/`` beside this module hold every external number the harness
compares against: random and human scores for human normalisation, published
per-game scores (papers, reproductions, Dopamine baselines), Dopamine's DQN
learning curves, the Atari-100k tables and per-run data, and aggregates that
the real rliable computed from those per-run data. ``SOURCES.md`` (shipped
too) says where each number was read, with repository commits, and lists the
caveats. Game names in every table are the snake_case keys of DQN Zoo's
``atari_data.py`` (``space_invaders``, ``montezuma_revenge``); map an ALE game
name to that key with :func:`dqn_core.envs.games.game_key`.

Human normalisation convention (one place, used by every table and plot):
``hns = (score - random) / (human - random)`` with the ``random`` / ``human``
columns of ``atari_random_human.csv``, i.e. DQN Zoo's values (human scores
"at 30 minutes", the ones rliable and later papers use). They agree with
rliable's table on 56 of 57 games. **Video Pinball** is the exception: DQN
Zoo (and Mnih et al. 2015) use random = 16,256.9, rliable's table uses 0.0.
We use DQN Zoo's 16,256.9, the value measured under the no-op-start protocol
that the ``nature2015`` tables follow. With it human - random is 1,411 points
(17,668 under rliable's 0.0), so a Video Pinball HNS is far larger in
magnitude than rliable would report; the median and IQM barely move, the mean
can. :data:`VIDEO_PINBALL_NOTE` carries this choice into every table's notes.

Loaders return fresh DataFrames (callers may modify them); the files are read
once and cached.
"""

from __future__ import annotations

import difflib
import functools
from importlib import resources
from importlib.resources.abc import Traversable

import pandas as pd

__all__ = [
    "DOPAMINE_VARIANTS",
    "FILES",
    "HNS_CONVENTION",
    "VIDEO_PINBALL_NOTE",
    "VIDEO_PINBALL_RANDOM",
    "VIDEO_PINBALL_RANDOM_RLIABLE",
    "atari100k_runs",
    "atari100k_scores",
    "dopamine_curves",
    "normalizer",
    "published_scores",
    "random_human",
    "rliable_aggregates",
    "sources_markdown",
]

#: The shipped tables, by short name.
FILES: dict[str, str] = {
    "random_human": "atari_random_human.csv",
    "published": "published_scores.csv",
    "dopamine_curves": "dopamine_dqn_curves.csv",
    "atari100k_scores": "atari100k_scores.csv",
    "atari100k_runs": "atari100k_runs.csv",
    "rliable_aggregates": "rliable_atari100k_aggregates.csv",
}

#: Variants of Dopamine's DQN learning curves in ``dopamine_dqn_curves.csv``.
DOPAMINE_VARIANTS = ("legacy_dqn", "jax_nature_cnn_2024")

#: Video Pinball's random score as used here (DQN Zoo) and in rliable's table.
VIDEO_PINBALL_RANDOM = 16256.9
VIDEO_PINBALL_RANDOM_RLIABLE = 0.0

VIDEO_PINBALL_NOTE = (
    "Video Pinball is normalised with random = 16,256.9 (DQN Zoo / Mnih et al. 2015); "
    "rliable's table uses 0.0 (human - random = 17,668 instead of 1,411 points)."
)

HNS_CONVENTION = (
    "HNS = (score - random) / (human - random) with DQN Zoo's random and human (30-minute) "
    "scores (atari_data.py), as rliable uses. " + VIDEO_PINBALL_NOTE
)


def _data_file(name: str) -> Traversable:
    """A shipped file of ``dqn_core/results/data/``."""
    return resources.files("dqn_core.results") / "data" / name


@functools.cache
def _read(name: str) -> pd.DataFrame:
    if name not in FILES:
        raise ValueError(f"reference table: unknown name {name!r} (known: {', '.join(FILES)})")
    path = _data_file(FILES[name])
    with resources.as_file(path) as p:
        return pd.read_csv(p)


def random_human() -> pd.DataFrame:
    """Random and human scores of the 57 games, indexed by game key.

    Returns:
        DataFrame with index ``game`` and float columns ``random``, ``human``
        (the normalisation pair used everywhere) plus the alternative columns
        kept for reference (``random_rliable_muzero_table``, ``human_nature2015``...).
    """
    df = _read("random_human").copy()
    return df.set_index("game")


def game_hns(game: str, score: float) -> float | None:
    """Human-normalised score of ``score`` on an Atari game given by its env name.

    Args:
        game: a game name as configured (``SpaceInvaders``, ``space_invaders``...).
        score: raw game score.

    Returns:
        ``(score - random) / (human - random)``, or None where there is no such
        number: a classic-control env, a game without reference scores, or a
        non-finite score.
    """
    import math

    from dqn_core.envs.games import game_key, is_classic

    if not math.isfinite(score) or is_classic(game):
        return None
    try:
        random, human = normalizer(game_key(game))
    except (KeyError, ValueError):
        return None
    return (score - random) / (human - random)


def normalizer(game: str) -> tuple[float, float]:
    """The ``(random, human)`` pair of one game.

    Args:
        game: game key of the reference tables (``space_invaders``).

    Returns:
        ``(random, human)`` floats.

    Raises:
        KeyError: the game has no random/human score; the message names close matches.
    """
    table = random_human()
    if game not in table.index:
        close = difflib.get_close_matches(game, list(table.index), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"game {game!r} has no random/human reference score{hint} "
            f"({len(table)} games known, e.g. pong, space_invaders)"
        )
    row = table.loc[game]
    return float(row["random"]), float(row["human"])


def published_scores() -> pd.DataFrame:
    """Published per-game scores in long format (see SOURCES.md).

    Returns:
        Columns ``game, algorithm, source, frames, protocol, score, score_std,
        n_runs, source_file``; ``frames`` are emulator frames of training.
    """
    return _read("published").copy()


def dopamine_curves(variant: str = "legacy_dqn") -> pd.DataFrame:
    """Dopamine's DQN learning curves (average *training* returns, sticky actions).

    Args:
        variant: ``legacy_dqn`` (RMSProp, per-run columns ``run0..run4``) or
            ``jax_nature_cnn_2024`` (Adam, mean/std only).

    Returns:
        Columns ``game, variant, iteration, frames, mean_return, std_return,
        n_runs, run0..run4, source_file``, sorted by game and frames.
    """
    if variant not in DOPAMINE_VARIANTS:
        raise ValueError(f"variant: {variant!r} is not one of {', '.join(DOPAMINE_VARIANTS)}")
    df = _read("dopamine_curves")
    out = df[df["variant"] == variant].sort_values(["game", "frames"])
    return out.reset_index(drop=True)


def atari100k_scores() -> pd.DataFrame:
    """Atari-100k per-game table: Random, Human, DER, DrQ(eps), SPR, SimPLe rows.

    Returns:
        Columns ``game, algorithm, source, n_runs, score, score_std, hns, source_file``.
    """
    return _read("atari100k_scores").copy()


def atari100k_runs(algorithm: str | None = None) -> pd.DataFrame:
    """Per-run Atari-100k scores (100 runs x 26 games) of DrQ(eps) and SPR.

    Args:
        algorithm: keep only this algorithm (``DrQ(eps)`` or ``SPR``); None keeps both.

    Returns:
        Columns ``game, algorithm, run, score, source_file``.
    """
    df = _read("atari100k_runs")
    if algorithm is None:
        return df.copy()
    known = sorted(df["algorithm"].unique())
    if algorithm not in known:
        raise ValueError(f"algorithm: {algorithm!r} is not one of {', '.join(known)}")
    return df[df["algorithm"] == algorithm].reset_index(drop=True)


def rliable_aggregates() -> pd.DataFrame:
    """Aggregates rliable 1.2.0 computed from :func:`atari100k_runs` (50,000 resamples).

    Returns:
        Columns ``algorithm, metric, point, ci_low, ci_high, runs, games``.
    """
    return _read("rliable_aggregates").copy()


def sources_markdown() -> str:
    """The text of the shipped ``SOURCES.md``."""
    return _data_file("SOURCES.md").read_text(encoding="utf-8")
