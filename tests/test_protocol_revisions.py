"""Protocol revisions: a run is resumed, evaluated and tabulated by the revision it ran under.

A protocol whose settings change gets a new revision (``PROTOCOL_HISTORY``).
Runs record theirs in config.yaml; a config.yaml that names none was written
before revisions existed and reads as revision 1. The atari100k protocol's
revision 2 added Dopamine's no-op starts (docs/atari100k.md, Finding 4).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from dqn_core import results as aggregate
from dqn_core.config import ConfigError, load_config, load_run_config
from dqn_core.envs.protocols import (
    PROTOCOL_HISTORY,
    PROTOCOLS,
    REVISION_CHANGES,
    base_settings,
    protocol_label,
    protocol_settings,
    with_revision,
)
from dqn_core.run import prepare_run_dir

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "protocols.md"

_spec = importlib.util.spec_from_file_location(
    "run_folders", Path(__file__).parent / "data" / "run_folders.py"
)
assert _spec is not None and _spec.loader is not None
run_folders = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_folders)


def _der(**sets: object) -> list[str]:
    return ["env.game=Krull", *(f"{k}={v}" for k, v in sets.items())]


def test_history_holds_every_revision_and_the_current_one_is_the_last() -> None:
    for name, history in PROTOCOL_HISTORY.items():
        assert sorted(history) == list(range(1, len(history) + 1)), name
        assert history[max(history)] == PROTOCOLS[name], name
        for revision, settings in history.items():
            assert settings.revision == revision and settings.protocol == name
    # Each later revision is described, and differs from the one before it.
    for (name, revision), text in REVISION_CHANGES.items():
        before, after = PROTOCOL_HISTORY[name][revision - 1], PROTOCOL_HISTORY[name][revision]
        changed = {
            f.name
            for f in dataclasses.fields(before)
            if f.name != "revision" and getattr(before, f.name) != getattr(after, f.name)
        }
        assert changed and all(field in text for field in changed), (name, revision, changed)
    described = {k for k in REVISION_CHANGES}
    assert described == {(n, r) for n, h in PROTOCOL_HISTORY.items() for r in h if r > 1}


def test_atari100k_revisions_differ_by_the_noop_starts() -> None:
    r1, r2 = PROTOCOL_HISTORY["atari100k"][1], PROTOCOL_HISTORY["atari100k"][2]
    assert (r1.noop_max, r2.noop_max) == (0, 30)
    assert dataclasses.replace(r1, noop_max=30, revision=2) == r2
    assert protocol_label("atari100k", 1) == "atari100k-r1"
    assert protocol_label("nature2015", 1) == "nature2015"  # one revision: no suffix


def test_a_new_run_gets_the_current_revision_and_an_old_one_keeps_its_own() -> None:
    fresh = load_config("der", sets=_der())
    assert fresh.env.protocol_revision is None
    assert with_revision(fresh).env.protocol_revision == PROTOCOLS["atari100k"].revision
    assert protocol_settings(fresh).noop_max == 30
    old = load_config("der", sets=_der(**{"env.protocol_revision": 1}))
    assert with_revision(old) == old
    assert protocol_settings(old).noop_max == 0
    assert protocol_settings(old, evaluation=True).noop_max == 0
    # Overrides still apply on top of an old revision.
    noops = load_config("der", sets=_der(**{"env.protocol_revision": 1, "env.noop_max": 30}))
    assert protocol_settings(noops) == dataclasses.replace(protocol_settings(fresh), revision=1)


def test_an_unknown_revision_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no revision 3 \(revisions: 1, 2;"):
        protocol_settings(load_config("der", sets=_der(**{"env.protocol_revision": 3})))
    with pytest.raises(ConfigError, match=r"env\.protocol_revision"):
        load_config("der", sets=_der(**{"env.protocol_revision": 0}))
    with pytest.raises(ConfigError, match=r"no revision 2 \(revisions: 1;"):
        base_settings("nature2015", 2)


def _legacy_run_dir(tmp_path: Path) -> Path:
    """A run folder as commits before revisions wrote it: config.yaml without the field."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    data = load_config("der", sets=_der()).to_dict()
    del data["env"]["protocol_revision"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return run_dir


def test_a_config_without_a_revision_reads_as_revision_1_with_its_old_hash(
    tmp_path: Path,
) -> None:
    run_dir = _legacy_run_dir(tmp_path)
    cfg = load_run_config(run_dir / "config.yaml")
    assert cfg.env.protocol_revision == 1
    assert protocol_settings(cfg).noop_max == 0
    # Its checkpoints' config hash is unchanged: revision 1 is left out of the hash.
    committed = REPO / "results" / "atari100k-r1" / "runs" / "der" / "Krull" / "seed0"
    if committed.is_dir():
        summary = yaml.safe_load((committed / "summary.json").read_text())
        assert load_run_config(committed / "config.yaml").config_hash() == summary["config_hash"]
    assert cfg.config_hash() != with_revision(load_config("der", sets=_der())).config_hash()


def test_resuming_an_old_revision_needs_the_command_to_name_it(tmp_path: Path) -> None:
    run_dir = _legacy_run_dir(tmp_path)
    with pytest.raises(
        ConfigError, match=r"env\.protocol_revision: run directory has 1, command gives 2"
    ):
        prepare_run_dir(load_config("der", sets=_der()), run_dir)
    written = prepare_run_dir(
        load_config("der", sets=_der(**{"env.protocol_revision": 1})), run_dir
    )
    assert written.env.protocol_revision == 1
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["env"]["protocol_revision"] == 1


def test_a_new_run_directory_records_its_revision(tmp_path: Path) -> None:
    written = prepare_run_dir(load_config("der", sets=_der()), tmp_path / "new")
    saved = yaml.safe_load((tmp_path / "new" / "config.yaml").read_text())
    assert saved["env"]["protocol_revision"] == written.env.protocol_revision == 2


def test_runs_of_two_revisions_are_tabulated_apart(tmp_path: Path) -> None:
    root = tmp_path / "atari100k"
    for revision, scores in ((1, [500.0, 700.0]), (2, [2000.0, 3000.0])):
        for seed, score in enumerate(scores):
            run_folders.write_run(
                root, preset="der", game="Krull", seed=seed + 10 * revision,
                protocol="atari100k", total_steps=100_000, evals={100_000: [score]},
                eval_epsilon=0.001, protocol_revision=revision,
            )  # fmt: skip
    tables = aggregate.aggregate_suite(root, reps=50, poi_reps=50)
    per_game = {name for name in tables if name.startswith("per_game_")}
    assert per_game == {"per_game_der_atari100k-r1_400k", "per_game_der_atari100k-r2_400k"}
    assert tables["per_game_der_atari100k-r1_400k"]["score_mean"].iloc[0] == pytest.approx(600.0)
    assert tables["per_game_der_atari100k-r2_400k"]["score_mean"].iloc[0] == pytest.approx(2500.0)
    runs = tables["runs"]
    assert sorted(runs["protocol_revision"]) == [1, 1, 2, 2]
    ours = tables["aggregate"][tables["aggregate"]["source"] == "ours"]
    assert set(ours["protocol"]) == {"atari100k-r1", "atari100k-r2"}
    poi = tables["probability_of_improvement"]
    refused = [n for n in poi.attrs["notes"] if n.startswith("refused: der (atari100k-r")]
    assert refused, poi.attrs["notes"]  # the two revisions are not compared as equals


def test_docs_list_every_revision_and_its_change() -> None:
    text = DOCS.read_text()
    section = text.split("## Revisions", 1)[1].split("\n## ", 1)[0]
    for name, history in PROTOCOL_HISTORY.items():
        for revision in history:
            if revision > 1:
                assert re.search(rf"`{name}`.*\|\s*{revision}\s*\|", section), (name, revision)
