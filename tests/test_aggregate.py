"""`dqn aggregate`: tables from run folders, beside the published numbers, by hand."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dqn_core import results as aggregate
from dqn_core.config import ConfigError, load_config, preset_names
from dqn_core.envs.protocols import PROTOCOLS, protocol_label
from dqn_core.results import reference, stats

#: How results name the atari100k protocol at its current revision (atari100k-r2).
A100K = protocol_label("atari100k", PROTOCOLS["atari100k"].revision)

_spec = importlib.util.spec_from_file_location(
    "run_folders", Path(__file__).parent / "data" / "run_folders.py"
)
assert _spec is not None and _spec.loader is not None
run_folders = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_folders)
write_run = run_folders.write_run

STEPS_200M = 50_000_000  # agent steps = 200M emulator frames at frame skip 4
PONG = [10.0, 12.0, 14.0]  # final scores of seeds 0-2: mean 12, std 2
BREAKOUT = [300.0, 400.0, 500.0]  # mean 400, std 100


def _write_game(root: Path, game: str, finals: list[float], **kw: object) -> None:
    for seed, score in enumerate(finals):
        steps = int(kw.get("total_steps", STEPS_200M))  # type: ignore[call-overload]
        # Two episodes around the final score; an earlier, worse evaluation half-way.
        evals = {steps // 2: [score / 2], steps: [score - 1.0, score + 1.0]}
        args = {"preset": "nature-dqn", "protocol": "nature2015", "total_steps": steps, **kw}
        write_run(root, game=game, seed=seed, evals=evals, **args)


@pytest.fixture
def nature_suite(tmp_path: Path) -> Path:
    root = tmp_path / "nature"
    _write_game(root, "Pong", PONG)
    _write_game(root, "Breakout", BREAKOUT)
    # An unfinished run must stay out of the tables.
    write_run(root, preset="nature-dqn", game="Pong", seed=7, protocol="nature2015",
              total_steps=STEPS_200M, evals={1000: [-21.0]}, finished=False)  # fmt: skip
    return root


def test_per_game_table_by_hand(nature_suite: Path) -> None:
    tables = aggregate.aggregate_suite(nature_suite, reps=200)
    df = tables["per_game_nature-dqn_nature2015_200M"].set_index("game")
    t = 4.302652729911275  # t_{0.975, 2}
    pong, breakout = df.loc["Pong"], df.loc["Breakout"]
    assert pong["runs"] == 3  # seed 7 is unfinished
    assert (pong["score_mean"], pong["score_std"]) == pytest.approx((12.0, 2.0))
    assert (pong["ci95_low"], pong["ci95_high"]) == pytest.approx(
        (12 - t * 2 / math.sqrt(3), 12 + t * 2 / math.sqrt(3))
    )
    assert pong["hns"] == pytest.approx((12.0 + 20.7) / (14.6 + 20.7))
    assert breakout["hns"] == pytest.approx((400.0 - 1.7) / (30.5 - 1.7))
    # Published DQN (Nature), 200M frames, no-op starts: Pong 18.9, Breakout 401.2.
    assert pong["published_algorithm"] == "DQN (Nature)"
    assert (pong["published"], breakout["published"]) == (18.9, 401.2)
    assert pong["published_frames"] == 200_000_000
    assert pong["diff"] == pytest.approx(12.0 - 18.9)
    assert not pong["published_in_ci"]  # 18.9 > 16.97
    assert breakout["published_in_ci"]  # 401.2 in 400 +- 248
    assert breakout["comparison"] == "compared"
    assert breakout["DQN (PFRL reproduction)"] == 352.5
    notes = " ".join(tables["per_game_nature-dqn_nature2015_200M"].attrs["notes"])
    assert "1 of 2 published scores lie inside" in notes
    assert "1 unfinished run(s) left out" in notes


def test_aggregate_table_by_hand(nature_suite: Path) -> None:
    tables = aggregate.aggregate_suite(nature_suite, reps=300, seed=5)
    agg = tables["aggregate"]
    ours = agg[agg["source"] == "ours"].set_index("metric")
    hns = np.column_stack(
        [
            (np.array(BREAKOUT) - 1.7) / (30.5 - 1.7),
            (np.array(PONG) + 20.7) / (14.6 + 20.7),
        ]
    )
    for metric, fn in stats.METRICS.items():
        assert ours.loc[metric, "point"] == pytest.approx(float(fn(hns)))
        assert (
            ours.loc[metric, "ci_low"] <= ours.loc[metric, "point"] <= ours.loc[metric, "ci_high"]
        )
    assert ours.loc["iqm", "runs_per_game"] == 3 and ours.loc["iqm", "games"] == 2
    # Published per-game means give a median, a mean and an IQM over games (no gap).
    pub = agg[agg["algorithm"] == "DQN (Nature)"].set_index("metric")
    published_hns = [(401.2 - 1.7) / 28.8, (18.9 + 20.7) / 35.3]
    assert set(pub.index) == {"median", "iqm", "mean"}
    assert pub.loc["median", "point"] == pytest.approx(np.median(published_hns))
    # Two games: the 25%-trimmed mean trims nothing (floor(0.25 x 2) = 0).
    assert pub.loc["iqm", "point"] == pytest.approx(np.mean(published_hns))
    assert math.isnan(pub.loc["median", "ci_low"])
    # Same seed, same intervals.
    again = aggregate.aggregate_suite(nature_suite, reps=300, seed=5)["aggregate"]
    pd.testing.assert_frame_equal(agg, again)


def test_tables_are_written_as_csv_markdown_and_latex(nature_suite: Path) -> None:
    out = nature_suite / "tables"
    out.mkdir()
    (out / "per_game_gone_nature2015_10M.csv").write_text("game\n")  # a group since removed
    (out / "my_notes.txt").write_text("kept")
    tables = aggregate.aggregate_suite(nature_suite, reps=100)
    assert not (out / "per_game_gone_nature2015_10M.csv").exists()
    assert (out / "my_notes.txt").read_text() == "kept"
    assert (out / "aggregate_meta.json").is_file()
    for name, df in tables.items():
        for ext in ("csv", "md", "tex"):
            assert (out / f"{name}.{ext}").stat().st_size > 0, (name, ext)
        back = pd.read_csv(out / f"{name}.csv")
        assert list(back.columns) == [str(c) for c in df.columns]
        assert len(back) == len(df)
    per_game = pd.read_csv(out / "per_game_nature-dqn_nature2015_200M.csv")
    assert per_game["score_mean"].tolist() == pytest.approx([400.0, 12.0])  # Breakout, Pong
    md = (out / "per_game_nature-dqn_nature2015_200M.md").read_text()
    assert "| Breakout | 3 | 400.0 ± 100.0 |" in md
    assert "DQN (Nature) (200M frames)" in md
    tex = (out / "aggregate.tex").read_text()
    assert r"\begin{tabular}" in tex and r"\toprule" in tex and "25\\%-trimmed" in tex


def test_evaluate_csv_is_the_final_score_when_present(nature_suite: Path) -> None:
    run_dir = nature_suite / "runs" / "nature-dqn" / "Pong" / "seed0"
    (run_dir / "evaluate.csv").write_text(
        "step,frames,episode,score,length_frames,truncated\n"
        f"{STEPS_200M},{4 * STEPS_200M},0,20.0,900,0\n{STEPS_200M},{4 * STEPS_200M},1,22.0,900,0\n"
    )
    runs = aggregate.load_suite(nature_suite).runs.set_index("run_id")
    assert runs.loc["nature-dqn/Pong/seed0", "final_score"] == 21.0
    assert runs.loc["nature-dqn/Pong/seed0", "final_source"] == "evaluate.csv"
    assert runs.loc["nature-dqn/Pong/seed1", "final_score"] == 12.0  # last eval.csv point
    assert runs.loc["nature-dqn/Pong/seed1", "final_source"] == "eval.csv"
    assert runs.loc["nature-dqn/Pong/seed1", "final_frames"] == 4 * STEPS_200M
    assert not runs.loc["nature-dqn/Pong/seed7", "finished"]


def test_other_frame_budget_is_shown_but_not_compared(tmp_path: Path) -> None:
    root = tmp_path / "smoke"
    _write_game(root, "Pong", PONG, total_steps=3000)  # 12k frames, published at 200M
    df = aggregate.aggregate_suite(root, reps=50)["per_game_nature-dqn_nature2015_12k"]
    row = df.iloc[0]
    assert row["published"] == 18.9
    assert math.isnan(row["diff"]) and pd.isna(row["published_in_ci"])
    assert row["comparison"] == "not compared: budget 12k vs published 200M frames"
    assert any("frame budgets differ (ours 12k, published 200M" in n for n in df.attrs["notes"])
    md = (root / "tables" / "per_game_nature-dqn_nature2015_12k.md").read_text()
    assert "DQN (Nature) (published at 200M frames; ours 12k)" in md
    # No published aggregate is put beside ours at another budget.
    agg = pd.read_csv(root / "tables" / "aggregate.csv")
    assert set(agg["source"]) == {"ours"}
    agg_md = (root / "tables" / "aggregate.md").read_text()
    assert "DQN (Nature) is published at 200M frames; its aggregate is not put beside" in agg_md


def test_human_start_numbers_are_labelled_not_compared(tmp_path: Path) -> None:
    root = tmp_path / "per"
    _write_game(root, "Pong", PONG, preset="prioritized-ddqn")
    df = aggregate.aggregate_suite(root, reps=50)["per_game_prioritized-ddqn_nature2015_200M"]
    row = df.iloc[0]
    assert row["published_algorithm"] == "Prioritized DDQN (proportional, tuned)"
    expected = reference.published_scores()
    expected = expected[
        (expected["algorithm"] == row["published_algorithm"]) & (expected["game"] == "pong")
    ]
    assert row["published"] == float(expected["score"].iloc[0])
    assert "Human start" in expected["protocol"].iloc[0]
    assert math.isnan(row["diff"])
    assert row["comparison"].startswith("not compared: published with human starts")


def test_dopamine_curve_is_read_at_our_budget_and_labelled(tmp_path: Path) -> None:
    root = tmp_path / "atari5"
    steps = 2_500_000  # 10M frames
    _write_game(root, "Pong", PONG, protocol="machado2018", total_steps=steps, eval_epsilon=0.001)
    tables = aggregate.aggregate_suite(root, reps=200)
    df = tables["per_game_nature-dqn_machado2018_10M"]
    curve = reference.dopamine_curves("legacy_dqn")
    point = curve[(curve["game"] == "pong") & (curve["frames"] == 10_000_000)].iloc[0]
    row = df.iloc[0]
    assert row["published"] == pytest.approx(point["mean_return"])
    assert row["published_frames"] == 10_000_000
    assert row["comparison"].startswith("compared (labelled: Dopamine reports average training")
    md = (root / "tables" / "per_game_nature-dqn_machado2018_10M.md").read_text()
    assert "DQN (Dopamine) (10M frames, training returns)" in md
    assert "Ours, training return" in md
    agg = tables["aggregate"]
    dop = agg[agg["algorithm"] == "DQN (Dopamine)"].set_index("metric")
    assert dop.loc["iqm", "runs_per_game"] == 5
    assert dop.loc["iqm", "source"] == "published (per-run data, training returns)"
    runs = point[[f"run{i}" for i in range(5)]].to_numpy(dtype=float)
    assert dop.loc["mean", "point"] == pytest.approx((runs.mean() + 20.7) / 35.3)


def test_unequal_seed_counts_and_games_without_reference(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    _write_game(root, "Pong", PONG)
    _write_game(root, "Breakout", BREAKOUT[:2])
    for seed in (0, 1):
        write_run(root, preset="cartpole", game="CartPole-v1", seed=seed, protocol="classic",
                  total_steps=5000, evals={5000: [200.0 + seed]})  # fmt: skip
    tables = aggregate.aggregate_suite(root, reps=100)
    agg = tables["aggregate"]
    ours = agg[(agg["source"] == "ours") & (agg["metric"] == "iqm")]
    assert ours["group"].tolist() == ["nature-dqn_nature2015_200M"]
    assert ours["runs_per_game"].tolist() == [2]
    notes = " ".join(agg.attrs["notes"])
    assert "aggregate uses 2 run(s) per game" in notes and "pong (1)" in notes
    assert "no human/random reference score, left out: CartPole-v1" in notes
    cart = tables["per_game_cartpole_classic_5k"]
    assert cart["score_mean"].tolist() == [200.5] and math.isnan(cart["hns"].iloc[0])


def test_one_run_a_game_gives_points_without_a_zero_width_interval(tmp_path: Path) -> None:
    # One seed of Breakout: the aggregate keeps one run a game, and a bootstrap over runs
    # within each game could only resample that run, so no interval is shown (not [x, x]).
    root = tmp_path / "single"
    _write_game(root, "Pong", PONG)
    _write_game(root, "Breakout", BREAKOUT[:1])
    tables = aggregate.aggregate_suite(root, reps=100)
    agg = tables["aggregate"]
    ours = agg[agg["source"] == "ours"].set_index("metric")
    assert (ours["runs_per_game"] == 1).all()
    assert ours[["ci_low", "ci_high"]].isna().all().all()
    table = reference.random_human()
    hns = [stats.human_normalized_score(np.array([s]), table.loc[g, "random"], table.loc[g, "human"])
           for g, s in (("breakout", BREAKOUT[0]), ("pong", PONG[0]))]  # fmt: skip
    assert ours.loc["mean", "point"] == pytest.approx(float(np.mean(hns)))
    assert "one run a game, so no interval" in " ".join(agg.attrs["notes"])
    md = (root / "tables" / "aggregate.md").read_text().splitlines()
    row = next(line for line in md if line.startswith("| nature-dqn | ours |"))
    assert "[" not in row and f"{ours.loc['iqm', 'point']:.3f}" in row


def test_probability_of_improvement_same_protocol_only(tmp_path: Path) -> None:
    root = tmp_path / "two"
    _write_game(root, "Pong", PONG)
    _write_game(root, "Pong", [11.0, 11.0, 11.0], preset="double-dqn")
    _write_game(root, "Pong", PONG, preset="c51", protocol="machado2018")
    tables = aggregate.aggregate_suite(root, reps=50, poi_reps=200)
    poi = tables["probability_of_improvement"]
    assert len(poi) == 1
    row = poi.iloc[0]
    assert (row["x"], row["y"]) == ("double-dqn", "nature-dqn")
    # double-dqn's 11s beat nature-dqn's 10 (3 pairs) and lose to 12 and 14: 3 / 9.
    assert row["p_x_better"] == pytest.approx(3 / 9)
    assert row["ci_low"] <= row["p_x_better"] <= row["ci_high"]
    refused = [n for n in poi.attrs["notes"] if n.startswith("refused")]
    assert len(refused) == 2 and all("different protocol or frame budget" in n for n in refused)


def test_published_matches_resolve_in_the_reference_tables() -> None:
    design_presets = {"nature-dqn", "double-dqn", "dueling-ddqn", "prioritized-ddqn", "c51",
                      "rainbow", "der", "drq-eps"}  # fmt: skip
    assert {m.preset for m in aggregate.PUBLISHED_MATCHES} == design_presets
    keys = [(m.preset, m.protocol) for m in aggregate.PUBLISHED_MATCHES]
    assert len(keys) == len(set(keys))
    for m in aggregate.PUBLISHED_MATCHES:
        budget = m.frames or 200_000_000
        for alg in (m.algorithm, *m.extras):
            found = aggregate.published_lookup(m, alg, budget)
            assert len(found) >= 26, (m.preset, alg)
            assert all(aggregate.frames_match(budget, p.frames or 0) for p in found.values())
        shipped = m.preset in preset_names()
        if shipped and m.protocol != "machado2018":  # machado2018 is a suite override
            cfg = load_config(m.preset)
            assert cfg.env.protocol == m.protocol, m.preset
            assert aggregate.frames_match(cfg.steps_to_frames(cfg.train.total_steps), budget)
    assert aggregate.find_match("der", "nature2015") is None


def test_frames_label() -> None:
    assert aggregate.frames_label(400_000) == "400k"
    assert aggregate.frames_label(200_000_000) == "200M"
    assert aggregate.frames_label(12_345) == "12345"
    assert aggregate.frames_match(200_000_000, 199_000_000)
    assert not aggregate.frames_match(200_000_000, 190_000_000)


def test_runs_table_names_each_runs_commit_and_cpu(nature_suite: Path) -> None:
    """summary.json's git_commit and cpu reach the runs table; absent ones read as not recorded."""
    run_dir = nature_suite / "runs" / "nature-dqn" / "Pong" / "seed0"
    summary = json.loads((run_dir / "summary.json").read_text())
    commit, cpu = "0b27398bbba0d393607448c8990312d862144f5a", "AMD EPYC (family 25 model 17)"
    (run_dir / "summary.json").write_text(json.dumps({**summary, "git_commit": commit, "cpu": cpu}))
    tables = aggregate.aggregate_suite(nature_suite, reps=10, poi_reps=10)
    runs = tables["runs"].set_index("run_id")
    assert runs.loc["nature-dqn/Pong/seed0", ["git_commit", "cpu"]].tolist() == [commit, cpu]
    assert runs.loc["nature-dqn/Pong/seed1", ["git_commit", "cpu"]].tolist() == ["", ""]
    assert runs.loc["nature-dqn/Pong/seed7", "cpu"] == ""  # unfinished: no summary.json
    md = (nature_suite / "tables" / "runs.md").read_text()
    assert f"| yes | 0b27398 | {cpu} |" in md
    assert "| yes | – | not recorded |" in md
    (run_dir / "summary.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"summary\.json: expected a JSON object"):
        aggregate.load_suite(nature_suite)
    (run_dir / "summary.json").write_text("{oops")
    with pytest.raises(ValueError, match=r"summary\.json: not readable as JSON"):
        aggregate.load_suite(nature_suite)


def test_bad_input_fails_with_the_file_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="expected run folders"):
        aggregate.aggregate_suite(tmp_path / "nothing")
    root = tmp_path / "bad"
    run = write_run(root, preset="nature-dqn", game="Pong", seed=0, protocol="nature2015",
                    total_steps=1000, evals={1000: [1.0]})  # fmt: skip
    (run / "eval.csv").write_text("step,frames,episode,score\n1000,4000,0,oops\n")
    with pytest.raises(ValueError, match=r"eval\.csv: column 'score' must be numeric"):
        aggregate.load_suite(root)
    (run / "config.yaml").write_text("env:\n  protocol: nature2016\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: env\.protocol: 'nature2016'"):
        aggregate.load_suite(root)


def test_a_group_that_mixes_settings_is_refused_by_name(tmp_path: Path) -> None:
    """Runs of one preset made with other settings (an override, or the preset before
    it changed) must not pool into the same rows; resume-safe fields may differ."""
    root = tmp_path / "mixed"
    _write_game(root, "Pong", PONG)
    other = root / "runs" / "nature-dqn" / "Pong" / "seed1" / "config.yaml"
    data = yaml.safe_load(other.read_text())
    data["train"]["torch_threads"] = 2  # resume-safe: pools
    other.write_text(yaml.safe_dump(data))
    assert len(aggregate.load_suite(root).runs) == 3
    data["agent"]["learning_rate"] = 1e-4
    other.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        aggregate.load_suite(root)
    message = str(err.value)
    assert "group nature-dqn_nature2015_200M" in message
    assert (
        "agent.learning_rate: 0.00025 in nature-dqn/Pong/seed0, 0.0001 in nature-dqn/Pong/seed1"
        in (message)
    )


def test_run_percentile() -> None:
    runs = np.array([1.0, 2.0, 2.0, 3.0, np.nan])
    assert aggregate.run_percentile(0.5, runs) == 0.0
    assert aggregate.run_percentile(2.0, runs) == pytest.approx(50.0)  # 1 below, 2 ties
    assert aggregate.run_percentile(3.5, runs) == 100.0
    assert math.isnan(aggregate.run_percentile(1.0, np.array([])))


def test_markdown_and_latex_rendering_escapes() -> None:
    df = pd.DataFrame({"a|b": ["x|y"], "c_d": ["50% & $1"]})
    md = aggregate.table_to_markdown(df, "T", ["note 1"])
    assert "| a\\|b | c_d |" in md and "| x\\|y |" in md and "- note 1" in md
    tex = aggregate.table_to_latex(df, "Title", ["n_1"])
    assert r"50\% \& \$1" in tex and r"c\_d" in tex and r"\caption{Title. n\_1}" in tex
    empty = aggregate.table_to_markdown(pd.DataFrame({"x": []}), "E")
    assert "_No rows._" in empty


# ------------------------------------------------ Atari-100k from DrQ(eps) runs
def _check_drq_tables(tables: dict[str, pd.DataFrame], used: pd.DataFrame) -> None:
    df = tables[f"per_game_der_{A100K}_400k"].set_index("game_key")
    assert len(df) == 26
    ours = used.groupby("game")["score"].mean()
    np.testing.assert_allclose(df.loc[ours.index, "score_mean"], ours, rtol=1e-12)
    published = reference.atari100k_scores().pivot(
        index="game", columns="algorithm", values="score"
    )
    for key in df.index:  # the published numbers sit in their game's row
        assert df.loc[key, "published"] == published.loc[key, "DER"]
        assert df.loc[key, "DrQ(eps)"] == published.loc[key, "DrQ(eps)"]
        assert df.loc[key, "SPR"] == published.loc[key, "SPR"]
    assert (df["published_algorithm"] == "DER").all()
    assert (df["published_frames"] == 400_000).all()
    # Percentiles among the 100 published runs, by hand for one game.
    for alg in ("DrQ(eps)", "SPR"):
        runs = reference.atari100k_runs(alg)
        alien = runs.loc[runs["game"] == "alien", "score"].to_numpy()
        mean = df.loc["alien", "score_mean"]
        expected = 100 * (np.sum(alien < mean) + 0.5 * np.sum(alien == mean)) / len(alien)
        assert df.loc["alien", f"{alg} percentile"] == pytest.approx(expected)
        assert df[f"{alg} percentile"].between(0, 100).all()
        # The DER paper's own score among the same runs (Alien: 739.9).
        der = 739.9
        expected = 100 * (np.sum(alien < der) + 0.5 * np.sum(alien == der)) / len(alien)
        assert df.loc["alien", f"published {alg} percentile"] == pytest.approx(expected)
        assert df[f"published {alg} percentile"].between(0, 100).all()
    assert df.loc["pong", "game"] == "Pong" and df.loc["pong", "published"] == -19.3


def test_atari100k_table_from_drq_run_folders(tmp_path: Path) -> None:
    """10 of the 100 DrQ(eps) runs per game, laid out as `der` run folders."""
    root = tmp_path / "atari100k"
    used = run_folders.write_drq_suite(root, runs_per_game=10)
    tables = aggregate.aggregate_suite(root, reps=1000)
    _check_drq_tables(tables, used)
    md = (root / "tables" / f"per_game_der_{A100K}_400k.md").read_text()
    assert "| Alien | 10 |" in md and "| 739.9 |" in md
    assert "Percentile in DrQ(eps) runs" in md and "Percentile in SPR runs" in md
    assert "DER's percentile in DrQ(eps) runs" in md and "DER's percentile in SPR runs" in md
    der = tables["aggregate"]
    der = der[der["algorithm"] == "DER"].set_index("metric")
    assert set(der.index) == {"median", "iqm", "mean"} and der.loc["iqm", "games"] == 26
    agg = tables["aggregate"]
    # Published DrQ(eps) on its 100 runs, beside ours: rliable's numbers within 0.005
    # (1,000 resamples put interval ends within ~0.003 of rliable's 50,000).
    expected = reference.rliable_aggregates()
    expected = expected[expected["algorithm"] == "DrQ(eps)"].set_index("metric")
    drq = agg[agg["algorithm"] == "DrQ(eps)"].set_index("metric")
    for metric in stats.METRICS:
        assert drq.loc[metric, "point"] == pytest.approx(expected.loc[metric, "point"], abs=1e-4)
        assert drq.loc[metric, "ci_low"] == pytest.approx(expected.loc[metric, "ci_low"], abs=5e-3)
        assert drq.loc[metric, "ci_high"] == pytest.approx(
            expected.loc[metric, "ci_high"], abs=5e-3
        )
    ours = agg[agg["source"] == "ours"].set_index("metric")
    hns = stats.human_normalized_score(
        used.pivot(index="run", columns="game", values="score").to_numpy(),
        reference.random_human().loc[sorted(used["game"].unique()), "random"],
        reference.random_human().loc[sorted(used["game"].unique()), "human"],
    )
    assert ours.loc["iqm", "point"] == pytest.approx(float(stats.aggregate_iqm(hns)))
    poi = tables["probability_of_improvement"]
    assert set(poi["y"]) == {"DrQ(eps)", "SPR"}


@pytest.mark.slow
def test_atari100k_aggregate_from_all_drq_runs_matches_rliable(tmp_path: Path) -> None:
    """All 100 runs x 26 games as run folders: our IQM etc. are rliable's.

    Tolerances: points 1e-4 (the CSV keeps 4 decimals); interval ends 0.003 with
    4,000 resamples (see test_stats for the measured Monte-Carlo spread).
    """
    root = tmp_path / "atari100k"
    used = run_folders.write_drq_suite(root, runs_per_game=100)
    tables = aggregate.aggregate_suite(root, reps=4000, poi_reps=200)
    _check_drq_tables(tables, used)
    agg = tables["aggregate"]
    ours = agg[agg["source"] == "ours"].set_index("metric")
    expected = reference.rliable_aggregates()
    expected = expected[expected["algorithm"] == "DrQ(eps)"].set_index("metric")
    for metric in stats.METRICS:
        assert ours.loc[metric, "runs_per_game"] == 100
        assert ours.loc[metric, "point"] == pytest.approx(expected.loc[metric, "point"], abs=1e-4)
        assert ours.loc[metric, "ci_low"] == pytest.approx(expected.loc[metric, "ci_low"], abs=3e-3)
        assert ours.loc[metric, "ci_high"] == pytest.approx(
            expected.loc[metric, "ci_high"], abs=3e-3
        )
    poi = tables["probability_of_improvement"].set_index("y")
    assert poi.loc["DrQ(eps)", "p_x_better"] == pytest.approx(0.5)  # the same runs
