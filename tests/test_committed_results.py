"""The committed Atari-100k tables come from the committed runs, and the docs quote them.

Each table commit copies a finished run's small files into
``results/<suite>/runs`` and regenerates ``tables/`` with ``dqn aggregate``;
the README and docs/atari100k.md then quote the aggregate by hand. These
checks keep the three in step as the table grows: the tables are what the run
folders give (point estimates exactly; the bootstrap intervals in the slow
check), and every aggregate the docs quote is the committed table's.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dqn_core.results import aggregate_suite, reference
from dqn_core.results.published import run_percentile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from percentile_test import permutation_test, published_runs  # noqa: E402

SUITES = ("atari100k", "atari100k-r1", "atari100k-drq")
METRICS = ("iqm", "median", "mean")
NUM = r"(-?[\d.]+)"
INTERVAL = rf"{NUM} \[{NUM}, {NUM}\]"


def _committed(suite: str) -> Path:
    return REPO / "results" / suite


def _regenerate(suite: str, tmp_path: Path, **kwargs: int) -> Path:
    root = tmp_path / suite
    shutil.copytree(_committed(suite) / "runs", root / "runs")
    meta = json.loads((_committed(suite) / "tables" / "aggregate_meta.json").read_text())
    aggregate_suite(root, seed=meta["seed"], **kwargs)
    return root / "tables"


def _aggregate(suite: str) -> pd.DataFrame:
    return pd.read_csv(_committed(suite) / "tables" / "aggregate.csv")


def _ours(suite: str) -> pd.DataFrame:
    agg = _aggregate(suite)
    return agg[agg["source"] == "ours"].set_index("metric")


def _published(suite: str, algorithm: str) -> pd.DataFrame:
    agg = _aggregate(suite)
    return agg[agg["algorithm"] == algorithm].set_index("metric")


def _f3(x: float) -> str:
    return f"{x:.3f}"


def _interval(row: pd.Series) -> tuple[str, str, str]:
    return _f3(row["point"]), _f3(row["ci_low"]), _f3(row["ci_high"])


@pytest.mark.parametrize("suite", SUITES)
def test_committed_tables_come_from_the_committed_runs(suite: str, tmp_path: Path) -> None:
    """Runs, per-game tables and aggregate point estimates, regenerated: the same bytes."""
    tables = _regenerate(suite, tmp_path, reps=1, poi_reps=1)
    committed = _committed(suite) / "tables"
    per_game = sorted(p.name for p in committed.glob("per_game_*.csv"))
    assert per_game, f"{suite}: no per-game table committed"
    assert sorted(p.name for p in tables.glob("per_game_*.csv")) == per_game
    for name in ("runs.csv", *per_game):
        assert (tables / name).read_text() == (committed / name).read_text(), name
    new = pd.read_csv(tables / "aggregate.csv")
    old = pd.read_csv(committed / "aggregate.csv")
    keys = ["group", "source", "algorithm", "games", "metric"]
    assert new[keys].equals(old[keys])
    assert new["point"].equals(old["point"])


@pytest.mark.slow
@pytest.mark.parametrize("suite", SUITES)
def test_committed_tables_regenerate_byte_for_byte(suite: str, tmp_path: Path) -> None:
    """With the committed bootstrap settings, every table file is regenerated unchanged."""
    meta = json.loads((_committed(suite) / "tables" / "aggregate_meta.json").read_text())
    tables = _regenerate(suite, tmp_path, reps=meta["reps"], poi_reps=meta["poi_reps"])
    committed = _committed(suite) / "tables"
    names = sorted(p.name for p in committed.iterdir() if p.suffix in (".csv", ".md", ".tex"))
    assert sorted(p.name for p in tables.iterdir() if p.suffix in (".csv", ".md", ".tex")) == names
    for name in names:
        assert (tables / name).read_text() == (committed / name).read_text(), name


def _counts(suite: str) -> tuple[int, int, int]:
    runs = pd.read_csv(_committed(suite) / "tables" / "runs.csv")
    runs = runs[runs["finished"]]
    seeds = runs.groupby("game")["seed"].nunique()
    assert seeds.nunique() == 1, f"{suite}: games with different seed counts: {seeds.to_dict()}"
    return runs["game"].nunique(), int(seeds.iloc[0]), len(runs)


def test_the_readme_quotes_the_committed_atari100k_aggregate() -> None:
    readme = (REPO / "README.md").read_text()
    games, seeds, runs = _counts("atari100k")
    ours, der = _ours("atari100k"), _published("atari100k", "DER")
    m = re.search(
        rf"committed so far: (\d+) games x (\d+) seeds, (\d+) runs; IQM of HNS {INTERVAL}"
        rf" against the DER paper's {NUM} on the same games \(inside our 95% interval\),"
        rf" median {INTERVAL} against {NUM}, mean {INTERVAL} against {NUM}",
        readme,
    )
    assert m, "README: the atari100k row's aggregate sentence was not found"
    g = m.groups()
    assert tuple(map(int, g[:3])) == (games, seeds, runs)
    quoted = {"iqm": g[3:7], "median": g[7:11], "mean": g[11:15]}
    for metric, (point, low, high, paper) in quoted.items():
        assert (point, low, high) == _interval(ours.loc[metric]), metric
        assert paper == _f3(der.loc[metric, "point"]), metric
    assert ours.loc["iqm", "ci_low"] <= der.loc["iqm", "point"] <= ours.loc["iqm", "ci_high"]
    planned = 26 * 5
    dry = re.search(r"\((\d+) jobs: (\d+) runs, (\d+) committed\)", readme)
    assert dry and (int(dry[2]), int(dry[3])) == (planned - runs, runs)


def test_the_readme_quotes_the_committed_revision_1_aggregate() -> None:
    readme = (REPO / "README.md").read_text()
    games, seeds, runs = _counts("atari100k-r1")
    ours, der = _ours("atari100k-r1"), _published("atari100k-r1", "DER")
    m = re.search(
        rf"committed: (\d+) games x (\d+) seeds, (\d+) runs\*\*.*?IQM of HNS {INTERVAL}"
        rf" against the DER paper's {NUM} on the same games",
        readme,
    )
    assert m, "README: the atari100k-r1 row's aggregate sentence was not found"
    assert tuple(map(int, m.groups()[:3])) == (games, seeds, runs)
    assert m.groups()[3:6] == _interval(ours.loc["iqm"])
    assert m[7] == _f3(der.loc["iqm", "point"])


def _where_it_stands() -> str:
    """docs/atari100k.md's section "Where it stands", which quotes the committed tables."""
    text = (REPO / "docs" / "atari100k.md").read_text()
    return text.split("## Where it stands", 1)[1].split("\n## ", 1)[0]


def test_docs_atari100k_quotes_the_committed_aggregate() -> None:
    where = _where_it_stands()
    games, seeds, runs = _counts("atari100k")
    assert f"**{games} games x {seeds} seeds**, {runs} runs" in where
    ours, der, drq = (
        _ours("atari100k"),
        _published("atari100k", "DER"),
        _published("atari100k", "DrQ(eps)"),
    )
    row = " | ".join("{} [{}, {}]".format(*_interval(ours.loc[m])) for m in METRICS)
    assert f"| ours, {games} games x {seeds} seeds | {row} |" in where
    row = " | ".join(_f3(der.loc[m, "point"]) for m in METRICS)
    assert f"| DER paper, same {games} games | {row} |" in where
    iqm = "{} [{}, {}]".format(*_interval(drq.loc["iqm"]))
    row = f"{iqm} | {_f3(drq.loc['median', 'point'])} | {_f3(drq.loc['mean', 'point'])}"
    assert f"| DrQ(eps), 100 runs a game | {row} |" in where


def test_docs_atari100k_claims_the_paper_inside_every_interval_only_when_it_is() -> None:
    where = " ".join(_where_it_stands().split())
    per_game = pd.read_csv(
        _committed("atari100k") / "tables" / "per_game_der_atari100k-r2_400k.csv"
    )
    claim = re.search(r"inside our 2-seed interval on every one of the (\d+) games", where)
    if per_game["published_in_ci"].all():
        assert claim and int(claim[1]) == len(per_game)
    else:
        assert claim is None, "docs/atari100k.md claims the paper inside every game's interval"


def test_the_readme_headline_quotes_the_committed_atari100k_aggregate() -> None:
    """The README's opening paragraph (before the first section) quotes the same aggregate."""
    intro = " ".join((REPO / "README.md").read_text().split("\n## ", 1)[0].split())
    games, seeds, _ = _counts("atari100k")
    ours, der = _ours("atari100k"), _published("atari100k", "DER")
    m = re.search(
        rf"on (?:all )?(\d+) Atari-100k games x (\d+) seeds, IQM of human-normalised scores"
        rf" {INTERVAL} against the DER paper's {NUM}",
        intro,
    )
    assert m, "README: the opening paragraph's Atari-100k sentence was not found"
    assert (int(m[1]), int(m[2])) == (games, seeds)
    assert m.groups()[2:5] == _interval(ours.loc["iqm"])
    assert m[6] == _f3(der.loc["iqm", "point"])
    per_game = pd.read_csv(
        _committed("atari100k") / "tables" / "per_game_der_atari100k-r2_400k.csv"
    )
    claims_every_game = "inside our interval on every game" in intro
    assert claims_every_game == bool(per_game["published_in_ci"].all())


def _scores_by_game(suite: str) -> dict[str, list[float]]:
    """Each game's committed final scores in seed order, by the game's name."""
    runs = pd.read_csv(_committed(suite) / "tables" / "runs.csv")
    return {
        str(game): group["final_score"].tolist()
        for game, group in runs.sort_values("seed").groupby("game")
    }


def _drq_published(games: list[str]) -> dict[str, np.ndarray]:
    """Dopamine's 100 DrQ(eps) scores of each game, by the game's name."""
    return published_runs(reference.atari100k_runs("DrQ(eps)"), games)


@functools.cache
def _drq_percentile_test() -> tuple[int, float, float]:
    """The committed DrQ(eps) runs' count, mean percentile and two-sided p, as the script gives."""
    ours = _scores_by_game("atari100k-drq")
    pubs = _drq_published(list(ours))
    _, stat, two_sided, _ = permutation_test(ours, pubs, permutations=20_000, seed=0)
    return sum(map(len, ours.values())), stat, two_sided


def test_the_readme_drq_row_quotes_the_committed_runs_and_their_percentile_test() -> None:
    """Each committed DrQ(eps) game's scores and percentiles, and the runs' permutation test."""
    row = next(
        line
        for line in (REPO / "README.md").read_text().splitlines()
        if "| `atari100k-drq` |" in line
    )
    ours = _scores_by_game("atari100k-drq")
    pubs = _drq_published(list(ours))
    for game, scores in ours.items():
        # "Game 1,234.5 (percentile 60" or "Game 1.0, 2,345.6 and 7.5 (percentiles 9, 80 and 69"
        m = re.search(
            rf"{game} ((?:[\d,.-]+(?:, | and ))*[\d,.-]+) \(percentiles? ((?:\d+(?:, | and ))*\d+)",
            row,
        )
        assert m, f"README: the atari100k-drq row does not quote {game}"
        quoted, percentiles = (re.split(r", | and ", part) for part in m.groups())
        assert [float(x.replace(",", "")) for x in quoted] == [round(s, 1) for s in scores]
        assert [int(x) for x in percentiles] == [
            round(run_percentile(s, pubs[game])) for s in scores
        ]
    runs, stat, two_sided = _drq_percentile_test()
    assert f"our {runs} runs' mean percentile, {stat:.1f}," in row
    assert f"(permutation test, p = {two_sided:.3f})" in row
    # The README's opening paragraph says the same, in other words.
    intro = " ".join((REPO / "README.md").read_text().split("## ")[0].split())
    assert f"{runs} runs so far" in intro, "README intro: the DrQ(eps) run count"
    assert f"mean percentile of {stat:.1f} " in intro, "README intro: the mean percentile"
    assert f"p = {two_sided:.3f} against" in intro, "README intro: the permutation test"


def test_docs_atari100k_drq_table_quotes_the_committed_runs_beside_our_der_runs() -> None:
    """Where it stands: one row a DrQ(eps) game, each run with its percentile, and the tally."""
    where = _where_it_stands()
    header = "| game | our DrQ(eps) runs | Dopamine's DrQ(eps), mean of 100 runs | our DER's runs |"
    assert header in where, "docs/atari100k.md: the DrQ(eps) table was not found"
    table = where.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    drq, der = _scores_by_game("atari100k-drq"), _scores_by_game("atari100k")
    pubs = _drq_published(list(drq))

    def quoted(scores: list[float], published: np.ndarray) -> str:
        return ", ".join(f"{s:,.1f} ({round(run_percentile(s, published))})" for s in scores)

    # round() first: DemonAttack's mean is 1321.55, which "{:.1f}" alone prints as 1,321.5
    expected = [
        f"| {game} | {quoted(scores, pubs[game])} | {round(pubs[game].mean(), 1):,.1f} "
        f"| {quoted(der[game], pubs[game])} |"
        for game, scores in drq.items()
    ]
    assert table == expected
    runs, stat, two_sided = _drq_percentile_test()
    tally = f"{runs} runs: mean percentile {stat:.1f}, two-sided p = {two_sided:.3f}"
    assert tally in " ".join(where.split()), "docs/atari100k.md: the DrQ(eps) tally"


def test_the_pong_epsilon_probe_quotes_its_evaluations() -> None:
    """results/probes/drq-pong-epsilon and Finding 8: each CSV's episodes, mean, range, spread."""
    probe = REPO / "results" / "probes" / "drq-pong-epsilon"
    text = " ".join((probe / "README.md").read_text().split())
    finding = " ".join((REPO / "docs" / "atari100k.md").read_text().split())
    for name in ("evaluate_100k_epsilon0.01.csv", "evaluate_75k.csv"):
        scores = pd.read_csv(probe / name)["score"]
        dash = " to " if scores.min() < 0 else "-"
        assert f"over {len(scores)} episodes" in text, f"{name}: the episode count"
        assert f"mean {scores.mean():.1f} ({scores.min():.0f}{dash}{scores.max():.0f}" in text
        assert f"standard deviation {scores.std():.1f}" in text, f"{name}: the spread"
        assert f"{scores.mean():.1f} over {len(scores)} episodes" in finding, f"Finding 8: {name}"


def test_the_chopper_command_probe_quotes_its_controlled_runs() -> None:
    """results/probes/chopper-ale06 and Finding 10: each controlled run's score, range, spread,
    and its percentile among DrQ(eps)'s published runs (README and Finding 10)."""
    probe = REPO / "results" / "probes" / "chopper-ale06"
    text = " ".join((probe / "README.md").read_text().split())
    finding = " ".join((REPO / "docs" / "atari100k.md").read_text().split())
    readme = " ".join((REPO / "README.md").read_text().split())
    runs = sorted((probe / "runs").glob("*/ChopperCommand/seed*"))
    assert runs, "no controlled run committed"
    table = reference.atari100k_runs("DrQ(eps)")
    published = published_runs(table, ["ChopperCommand"])["ChopperCommand"]
    der = []
    for run in runs:
        config = (run / "config.yaml").read_text()
        assert "ale06_game_over: true" in config, f"{run.name}: not a controlled run"
        scores = pd.read_csv(run / "evaluate.csv")["score"]
        quoted = (
            f"{scores.mean():,.1f} over {len(scores)} `dqn evaluate` episodes "
            f"({scores.min():,.0f}-{scores.max():,.0f}, standard deviation {scores.std():.1f}"
        )
        assert quoted + ")" in text, f"probe README: {run}"
        assert f"**{quoted.replace(' over', '** over', 1)}" in finding, f"Finding 10: {run}"
        percentile = f"{run_percentile(scores.mean(), published):.0f}"
        if run.parts[-3] == "der":
            der.append(percentile)
        else:
            drq = f"percentile {percentile} of Dopamine's DrQ(eps) runs"
            assert drq in readme, f"README: {run}"
            assert drq.replace(percentile, f"**{percentile}**") in finding, f"Finding 10: {run}"
    assert f"percentiles {' and '.join(der)} of those runs" in readme, "README: DER percentiles"
    assert f"percentiles **{'** and **'.join(der)}**" in finding, "Finding 10: DER percentiles"
