"""results/probes/drq-crazyclimber-still and Finding 11 quote what the probe and the run hold."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from dqn_core.results import reference
from dqn_core.results.published import run_percentile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from percentile_test import published_runs  # noqa: E402

PROBE = REPO / "results" / "probes" / "drq-crazyclimber-still"
RUN = REPO / "results" / "atari100k-drq" / "runs" / "drq-eps" / "CrazyClimber" / "seed0"
STUCK = (4200.0, 4300.0)  # the scores of the episodes that stand still from the second life


def _flat(path: Path) -> str:
    return " ".join(path.read_text().split())


def _finding() -> str:
    text = _flat(REPO / "docs" / "atari100k.md")
    start = text.index("## Finding 11:")
    return text[start : text.index("## ", start + 3)]


def _published() -> np.ndarray:
    table = reference.atari100k_runs("DrQ(eps)")
    return published_runs(table, ["CrazyClimber"])["CrazyClimber"]


def _episodes(path: Path) -> list[list[tuple[int, float, str]]]:
    """Each probe episode of a lives_probe output: (steps, points, actions) a life."""
    episodes: list[list[tuple[int, float, str]]] = []
    for line in path.read_text().splitlines():
        if "epsilon" in line and line.endswith(":"):
            episodes.append([])
        elif m := re.match(r"\s+life \d+: (\d+) agent steps, ([\d.]+) points, \w+; (.*)", line):
            episodes[-1].append((int(m[1]), float(m[2]), m[3]))
    return episodes


def test_the_run_and_its_75k_checkpoint_are_quoted() -> None:
    finding, probe = _finding(), _flat(PROBE / "README.md")
    published = _published()
    scores = pd.read_csv(RUN / "evaluate.csv")["score"]
    quoted = (
        f"**{scores.mean():,.1f} over {len(scores)} `dqn evaluate` episodes** "
        f"({scores.min():,.0f}-{scores.max():,.0f}, standard deviation {scores.std():,.1f}"
    )
    assert quoted in finding
    assert f"percentile **{run_percentile(scores.mean(), published):.0f}**" in finding
    stuck = int(scores.isin(STUCK).sum())
    assert f"{stuck} of the 100 episodes ended at 4,200 or 4,300" in finding
    assert f"the other {100 - stuck} averaged {scores[~scores.isin(STUCK)].mean():,.1f}" in finding
    metrics = pd.read_csv(RUN / "metrics.csv").dropna(subset=["train/episode_return"])
    last = metrics["train/episode_return"].tail(10)
    assert f"scored {last.min():,.0f}-{last.max():,.0f} over the last ten" in finding
    assert f"(mean {last.mean():,.1f}, from {metrics['step'].iloc[-10] // 1000}k steps" in finding
    early = pd.read_csv(PROBE / "evaluate_75k.csv")["score"]
    assert not early.isin(STUCK).any()
    assert (
        f"mean {early.mean():,.1f} ({early.min():,.0f}-{early.max():,.0f}, standard deviation "
        f"{early.std():,.1f}), percentile {run_percentile(early.mean(), published):.0f}"
    ) in probe
    assert f"**{early.mean():,.1f} over {len(early)} episodes** at epsilon 0.001" in finding


def test_the_lives_probe_shows_the_still_lives_and_the_kept_stack_changes_nothing() -> None:
    probe = _flat(PROBE / "README.md")
    episodes = _episodes(PROBE / "lives_probe.txt")
    assert len(episodes) == 6  # 100k at 0.001 and 0.01, then 75k at 0.001; two seeds each
    greedy = episodes[:2]
    first = " and ".join(f"{e[0][1]:,.0f}" for e in greedy)
    rest = " and ".join(f"{sum(life[1] for life in e[1:]):,.0f}" for e in greedy)
    assert f"scores {first} in its first life" in probe
    assert f"and scores {rest} there" in probe
    for episode in greedy:
        for steps, _, actions in episode[1:]:
            right = int(re.search(r"\bRIGHT (\d+)", actions)[1])  # type: ignore[index]
            assert right > 0.85 * steps, (steps, actions)
    loose = " and ".join(f"{sum(life[1] for life in e):,.0f}" for e in episodes[2:4])
    assert f"the same two episodes scored {loose}" in _finding()
    kept = _episodes(PROBE / "lives_probe_stack_kept.txt")
    assert [[life[:2] for life in e] for e in kept] == [[life[:2] for life in e] for e in greedy]
