"""The shipped reference data: present as package data, self-consistent, mapped to games."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from dqn_core.envs.games import display_name, game_key, resolve_game
from dqn_core.results import reference, stats


def test_every_file_ships_as_package_data() -> None:
    root = resources.files("dqn_core.results") / "data"
    for name in (*reference.FILES.values(), "SOURCES.md"):
        assert (root / name).is_file(), name
    text = reference.sources_markdown()
    assert "video_pinball" in text and "rliable" in text


def test_random_human_has_57_games_with_human_above_random() -> None:
    table = reference.random_human()
    assert len(table) == 57
    assert table.index.is_unique
    assert (table["human"] > table["random"]).all()
    assert table.loc["pong", "random"] == -20.7 and table.loc["pong", "human"] == 14.6
    assert reference.normalizer("space_invaders") == (148.0, 1668.7)


def test_video_pinball_uses_the_dqn_zoo_random_score_and_says_so() -> None:
    table = reference.random_human()
    assert table.loc["video_pinball", "random"] == reference.VIDEO_PINBALL_RANDOM == 16256.9
    rliable_value = table.loc["video_pinball", "random_rliable_muzero_table"]
    assert rliable_value == reference.VIDEO_PINBALL_RANDOM_RLIABLE == 0.0
    # Every other game agrees with rliable's table, so the choice only matters here.
    disagree = table.index[table["agrees_with_rliable"] != "yes"].tolist()
    assert disagree == ["video_pinball"]
    assert "16,256.9" in reference.VIDEO_PINBALL_NOTE
    assert reference.VIDEO_PINBALL_NOTE in reference.HNS_CONVENTION


def test_normalizer_rejects_unknown_games_with_suggestions() -> None:
    with pytest.raises(KeyError, match="did you mean space_invaders"):
        reference.normalizer("space_invader")
    with pytest.raises(KeyError, match="no random/human"):
        reference.normalizer("air_raid")  # a Dopamine game without a human score


def test_every_table_key_maps_to_an_ale_game_and_back() -> None:
    """One mapping between ALE names and table keys: games.game_key, round trip."""
    keys = set(reference.random_human().index)
    keys |= set(reference.published_scores()["game"])
    keys |= set(reference.dopamine_curves()["game"])
    keys |= set(reference.atari100k_scores()["game"])
    assert len(keys) == 62  # 57 + Dopamine's air_raid, carnival, elevator_action, ...
    for key in sorted(keys):
        name = display_name(key)
        assert game_key(name) == key, (key, name)
        assert resolve_game(name).key == key
    assert game_key("SpaceInvaders") == "space_invaders"
    assert game_key("UpNDown") == "up_n_down"


def test_published_scores_columns_and_units() -> None:
    df = reference.published_scores()
    assert {"game", "algorithm", "frames", "protocol", "score", "score_std"} <= set(df.columns)
    assert (df["frames"] > 0).all()
    nature = df[df["algorithm"] == "DQN (Nature)"].set_index("game")
    assert len(nature) == 49
    assert set(nature["frames"]) == {200_000_000}  # 50M agent steps x 4 (SOURCES.md)
    assert nature.loc["breakout", "score"] == 401.2
    assert nature.loc["pong", "score_std"] == 1.3


def test_dopamine_curves_variants_and_frames() -> None:
    legacy = reference.dopamine_curves("legacy_dqn")
    jax = reference.dopamine_curves("jax_nature_cnn_2024")
    assert len(legacy) == 60 * 199 and len(jax) == 60 * 200
    assert (legacy["frames"] == (legacy["iteration"] + 1) * 1_000_000).all()
    runs = legacy[[f"run{i}" for i in range(5)]].to_numpy()
    np.testing.assert_allclose(runs.mean(axis=1), legacy["mean_return"], atol=1e-3)
    with pytest.raises(ValueError, match="variant: 'tf' is not one of legacy_dqn"):
        reference.dopamine_curves("tf")


def test_atari100k_tables_agree_with_the_per_run_data() -> None:
    runs = reference.atari100k_runs()
    assert len(runs) == 2 * 26 * 100
    assert set(runs["algorithm"]) == {"DrQ(eps)", "SPR"}
    table = reference.atari100k_scores()
    rh = reference.random_human()
    for alg in ("DrQ(eps)", "SPR"):
        means = reference.atari100k_runs(alg).groupby("game")["score"].mean()
        rows = table[table["algorithm"] == alg].set_index("game")
        np.testing.assert_allclose(rows.loc[means.index, "score"], means, rtol=1e-5)
        hns = stats.human_normalized_score(
            rows["score"], rh.loc[rows.index, "random"], rh.loc[rows.index, "human"]
        )
        np.testing.assert_allclose(rows["hns"], hns, atol=1e-5)
    with pytest.raises(ValueError, match="algorithm: 'DER' is not one of"):
        reference.atari100k_runs("DER")


def test_rliable_aggregates_table() -> None:
    df = reference.rliable_aggregates()
    assert len(df) == 8
    assert set(df["metric"]) == {"median", "iqm", "mean", "optimality_gap"}
    assert (df["ci_low"] <= df["point"]).all() and (df["point"] <= df["ci_high"]).all()


def test_loaders_return_copies() -> None:
    first = reference.random_human()
    first.loc["pong", "human"] = 0.0
    assert reference.random_human().loc["pong", "human"] == 14.6


def test_game_hns_resolves_env_names_and_declines_what_has_no_reference() -> None:
    from dqn_core.results.reference import game_hns

    assert game_hns("Pong", 14.6) == pytest.approx(1.0)
    assert game_hns("SpaceInvaders", 148.0) == pytest.approx(0.0)
    assert game_hns("CartPole-v1", 500.0) is None
    assert game_hns("Pong", float("nan")) is None
