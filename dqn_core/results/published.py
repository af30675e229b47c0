"""The published-results catalogue: which published numbers each preset is compared with.

:data:`PUBLISHED_MATCHES` maps our (preset, protocol) to published numbers in
the reference tables (:mod:`dqn_core.results.reference`). The lookups read those
numbers per game (:func:`published_lookup`) and as per-run human-normalised
score matrices (:func:`reference_run_matrix`). Two frame budgets count as the
same within :data:`FRAMES_TOLERANCE`; nothing is compared across budgets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dqn_core.results import reference, stats

__all__ = [
    "FRAMES_TOLERANCE",
    "PUBLISHED_MATCHES",
    "Published",
    "PublishedMatch",
    "find_match",
    "frames_label",
    "frames_match",
    "published_lookup",
    "reference_run_matrix",
    "reference_runs_by_game",
    "run_percentile",
]

#: Relative difference between our frame budget and a published one that still
#: counts as the same budget: Dopamine's legacy curves end at 199M frames
#: (iteration 198), one iteration short of the 200M they stand for.
FRAMES_TOLERANCE = 0.01


# ------------------------------------------------------------------- mapping
@dataclass(frozen=True)
class PublishedMatch:
    """Which published numbers a (preset, protocol) of ours is compared with.

    Attributes:
        preset: our preset name.
        protocol: our ``env.protocol``.
        algorithm: the published algorithm label in the reference table.
        table: ``published`` (``published_scores.csv``), ``atari100k``
            (``atari100k_scores.csv``) or ``dopamine_curve`` (the legacy DQN
            curve of ``dopamine_dqn_curves.csv``, read at our frame budget).
        frames: emulator frames of training behind the published numbers
            (None for ``dopamine_curve``: every 1M frames are available).
        start: for paper rows of ``published_scores.csv`` (given per start
            condition), the one the protocol text must name (``No-op start`` or
            ``Human start``); reproduction rows have a single protocol each.
        comparable: whether the published protocol is ours. False shows the
            number for reference without a difference or an in-interval verdict.
        caveat: a label printed with the comparison ("" when like for like).
        extras: further published algorithms (same table and protocol) shown as
            reference columns.
        per_run: algorithms with per-run data (``atari100k_runs.csv``, or the 5
            runs of the Dopamine curve) that also get aggregate intervals,
            probabilities of improvement and performance profiles.
        citation: where the published numbers come from.
        measure: what the published number measures (``evaluation scores`` or
            ``training returns``), shown beside it whenever it is not evaluation.
    """

    preset: str
    protocol: str
    algorithm: str
    table: str
    frames: int | None
    start: str = "No-op start"
    comparable: bool = True
    caveat: str = ""
    extras: tuple[str, ...] = ()
    per_run: tuple[str, ...] = ()
    citation: str = ""
    measure: str = "evaluation scores"

    def source_label(self, kind: str) -> str:
        """``published (per-run data)``, with the measure when it is not evaluation."""
        extra = f", {self.measure}" if self.measure != "evaluation scores" else ""
        return f"published ({kind}{extra})"


_NOOP = "No-op start"
_200M = 200_000_000

#: The one table mapping our (preset, protocol) to published numbers. A match
#: also needs the frame budget to agree (within FRAMES_TOLERANCE); otherwise the
#: published value is shown with both budgets in its label and not compared.
PUBLISHED_MATCHES: tuple[PublishedMatch, ...] = (
    PublishedMatch(
        "nature-dqn", "nature2015", "DQN (Nature)", "published", _200M,
        extras=("DQN (PFRL reproduction)",),
        citation="Mnih et al. 2015, Extended Data Table 2 (no-op starts)",
    ),
    PublishedMatch(
        "double-dqn", "nature2015", "Double DQN", "published", _200M,
        citation="van Hasselt et al. 2016 (no-op starts, 49 games)",
    ),
    PublishedMatch(
        "dueling-ddqn", "nature2015", "Dueling DDQN", "published", _200M,
        citation="Wang et al. 2016 (no-op starts)",
    ),
    PublishedMatch(
        "prioritized-ddqn", "nature2015", "Prioritized DDQN (proportional, tuned)", "published",
        _200M, start="Human start", comparable=False,
        caveat="published with human starts, ours with no-op starts: shown, not compared",
        citation="Schaul et al. 2016 (human starts; the paper has no no-op table)",
    ),
    PublishedMatch(
        "c51", "nature2015", "C51", "published", _200M,
        citation="Bellemare et al. 2017 (no-op starts)",
    ),
    PublishedMatch(
        "rainbow", "nature2015", "Rainbow", "published", _200M,
        extras=("Rainbow (PFRL reproduction)",),
        citation="Hessel et al. 2018 (no-op starts, 54 games)",
    ),
    PublishedMatch(
        "der", "atari100k", "DER", "atari100k", 400_000,
        extras=("DrQ(eps)", "SPR"), per_run=("DrQ(eps)", "SPR"),
        citation="van Hasselt et al. 2019 (DER); DrQ(eps) and SPR from rliable's per-run data",
    ),
    PublishedMatch(
        "drq-eps", "atari100k", "DrQ(eps)", "atari100k", 400_000,
        extras=("DER", "SPR"), per_run=("DrQ(eps)", "SPR"),
        citation="Agarwal et al. 2021 (DrQ(eps), Dopamine's runs); rliable's per-run data",
    ),
    PublishedMatch(
        "nature-dqn", "machado2018", "DQN (Dopamine)", "dopamine_curve", None,
        per_run=("DQN (Dopamine)",),
        caveat="Dopamine reports average training-episode returns (epsilon 0.01), "
        "ours are evaluation scores",
        citation="Dopamine legacy DQN baseline, 5 runs (sticky actions)",
        measure="training returns",
    ),
)  # fmt: skip


def find_match(preset: str, protocol: str) -> PublishedMatch | None:
    """The :data:`PUBLISHED_MATCHES` entry of a (preset, protocol), or None."""
    for m in PUBLISHED_MATCHES:
        if m.preset == preset and m.protocol == protocol:
            return m
    return None


def frames_label(frames: int | float) -> str:
    """Compact frame count: 400000 -> ``400k``, 200000000 -> ``200M``, 12345 -> ``12345``."""
    n = int(frames)
    if n and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def frames_match(ours: int, published: int) -> bool:
    """Whether two frame budgets count as the same (within :data:`FRAMES_TOLERANCE`)."""
    return abs(ours - published) <= FRAMES_TOLERANCE * max(ours, published)


# --------------------------------------------------------- published lookup
@dataclass(frozen=True)
class Published:
    """One published score of one game: value, std (NaN if none), training frames, source."""

    score: float
    std: float
    frames: int | None
    source: str


def published_lookup(match: PublishedMatch, algorithm: str, budget: int) -> dict[str, Published]:
    """Published scores of one algorithm under a match's protocol, by game key.

    Args:
        match: the mapping entry (which table, start condition).
        algorithm: ``match.algorithm`` or one of ``match.extras``.
        budget: our frame budget (picks the point of a Dopamine curve).

    Returns:
        ``{game_key: Published}``.
    """
    out: dict[str, Published] = {}
    if match.table == "published":
        df = reference.published_scores()
        # Paper rows (rldb) exist per start condition; reproductions have one protocol each.
        paper = df["protocol"].str.startswith("paper;")
        start_ok = df["protocol"].str.contains(match.start, regex=False)
        df = df[(df["algorithm"] == algorithm) & (~paper | start_ok)]
        for r in df.itertuples(index=False):
            out[str(r.game)] = Published(
                float(r.score), float(r.score_std), int(r.frames), str(r.source)
            )
    elif match.table == "atari100k":
        df = reference.atari100k_scores()
        df = df[df["algorithm"] == algorithm]
        for r in df.itertuples(index=False):
            out[str(r.game)] = Published(
                float(r.score), float(r.score_std), match.frames, str(r.source)
            )
    elif match.table == "dopamine_curve":
        curves = reference.dopamine_curves("legacy_dqn")
        for game, g in curves.groupby("game"):
            i = int(np.argmin(np.abs(g["frames"].to_numpy() - budget)))
            r = g.iloc[i]
            out[str(game)] = Published(
                float(r["mean_return"]),
                float(r["std_return"]),
                int(r["frames"]),
                "Dopamine legacy DQN baseline (training returns)",
            )
    else:  # pragma: no cover - guarded by the PUBLISHED_MATCHES test
        raise ValueError(f"table: unknown reference table {match.table!r}")
    return out


# ------------------------------------------------------------ per-run data
def reference_run_matrix(
    match: PublishedMatch, algorithm: str, games: Sequence[str], budget: int
) -> tuple[np.ndarray, int] | None:
    """Published per-run HNS of one algorithm on ``games``.

    Args:
        match: the mapping entry; ``algorithm`` must be in ``match.per_run``.
        algorithm: ``DrQ(eps)``/``SPR`` (Atari-100k runs) or the Dopamine DQN label
            (the 5 legacy runs at the curve point nearest ``budget``).
        games: game keys, in column order.
        budget: our frame budget.

    Returns:
        ``(matrix (runs, games), published frames)``, or None when a game has no data.
    """
    table = reference.random_human()
    if match.table == "dopamine_curve":
        curves = reference.dopamine_curves("legacy_dqn")
        cols = []
        frames = 0
        for g in games:
            rows = curves[curves["game"] == g]
            if rows.empty:
                return None
            row = rows.iloc[int(np.argmin(np.abs(rows["frames"].to_numpy() - budget)))]
            frames = int(row["frames"])
            cols.append(row[[f"run{i}" for i in range(5)]].to_numpy(dtype=float))
        raw = np.stack(cols, axis=1)
    else:
        runs = reference.atari100k_runs(algorithm)
        wide = runs.pivot(index="run", columns="game", values="score")
        if not set(games) <= set(wide.columns):
            return None
        raw = wide[list(games)].to_numpy(dtype=float)
        frames = int(match.frames or 0)
    hns = stats.human_normalized_score(
        raw, table.loc[list(games), "random"].to_numpy(), table.loc[list(games), "human"].to_numpy()
    )
    return hns, frames


def run_percentile(score: float, runs: np.ndarray) -> float:
    """Where ``score`` falls among published runs: % of runs below it (ties count 1/2).

    0 means below every published run, 100 above every one; NaN without runs.
    """
    runs = np.asarray(runs, dtype=float)
    runs = runs[np.isfinite(runs)]
    if not runs.size or not math.isfinite(score):
        return math.nan
    below = float(np.sum(runs < score)) + 0.5 * float(np.sum(runs == score))
    return 100.0 * below / runs.size


def reference_runs_by_game(match: PublishedMatch, algorithm: str) -> dict[str, np.ndarray]:
    """Raw per-run published scores of one Atari-100k algorithm, by game key ({} otherwise)."""
    if match.table != "atari100k" or algorithm not in match.per_run:
        return {}
    runs = reference.atari100k_runs(algorithm)
    return {str(g): part["score"].to_numpy(dtype=float) for g, part in runs.groupby("game")}
