"""RunConfig: loading, validation messages, overrides, flattening, hashing."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqn_core import config as C
from dqn_core.config import ConfigError, RunConfig


def test_defaults_are_valid_and_round_trip_through_yaml():
    cfg = RunConfig()
    again = C.from_dict(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg
    assert again.config_hash() == cfg.config_hash()


def test_every_field_has_a_one_line_doc():
    docs = C.field_docs()
    assert len(docs) > 50
    for name, doc in docs.items():
        assert doc and "\n" not in doc, name


def test_flatten_names_every_field_once():
    flat = RunConfig().flatten()
    assert flat["agent.learning_rate"] == 2.5e-4
    assert flat["env.game"] == "Pong"
    assert flat["seed"] == 0
    assert set(flat) == set(C.field_docs())


@pytest.mark.parametrize(
    ("sets", "field", "fragment"),
    [
        (["agent.learning_rate=-1"], "agent.learning_rate", "greater than 0"),
        (["agent.learning_rate=abc"], "agent.learning_rate", "expected a number"),
        (["agent.gamma=1.5"], "agent.gamma", "maximum 1.0"),
        (["env.protocol=nature"], "env.protocol", "did you mean 'nature2015'"),
        (["agent.optimiser=adam"], "agent.optimiser", "did you mean optimizer"),
        (
            ["train.batch_size=64", "replay.capacity=32"],
            "train.batch_size",
            "larger than replay.capacity",
        ),
        (["train.batch_size=3.5"], "train.batch_size", "expected an integer"),
        (["agent.double=yes please"], "agent.double", "true or false"),
        (["agent.v_min=5", "agent.v_max=1"], "agent.v_min", "less than agent.v_max"),
        (["bogus.field=1"], "bogus.field", "unknown field"),
        (["seed=-3"], "seed", "minimum 0"),
        (["train.device=tpu"], "train.device", "cuda:N"),
        (["agent.epsilon_start=0.01", "agent.epsilon_end=0.5"], "agent.epsilon_end", "above"),
        (["env.num_envs=0"], "env.num_envs", ">= 1"),
        (["agent.mlp_hidden=[64, -1]"], "agent.mlp_hidden", "minimum"),
        (["noequals"], "noequals", "field=value"),
    ],
)
def test_bad_values_name_the_field(sets, field, fragment):
    with pytest.raises(ConfigError) as err:
        C.load_config(None, sets=sets)
    msg = str(err.value)
    assert field in msg
    assert fragment in msg


def test_overrides_parse_yaml_scalars():
    cfg = C.load_config(
        None,
        sets=[
            "agent.learning_rate=1e-4",
            "agent.double=true",
            "agent.mlp_hidden=[64, 32]",
            "agent.max_grad_norm=null",
        ],
    )
    assert cfg.agent.learning_rate == 1e-4
    assert cfg.agent.double is True
    assert cfg.agent.mlp_hidden == (64, 32)
    assert cfg.agent.max_grad_norm is None


def test_int_is_accepted_for_float_and_float_integer_for_int():
    cfg = C.from_dict({"agent": {"learning_rate": 1}, "train": {"batch_size": 32.0}})
    assert cfg.agent.learning_rate == 1.0 and isinstance(cfg.agent.learning_rate, float)
    assert cfg.train.batch_size == 32 and isinstance(cfg.train.batch_size, int)


def test_unknown_preset_suggests_names():
    with pytest.raises(ConfigError, match="unknown preset 'natur-dqn'"):
        C.preset_dict("natur-dqn")


def test_malformed_yaml_names_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("agent: {learning_rate: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: malformed YAML"):
        C.load_yaml(p)
    p.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        C.load_yaml(p)


def test_yaml_is_loaded_safely(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        C.load_yaml(p)


def test_hash_ignores_resume_safe_fields_only():
    base = RunConfig()
    longer = C.from_dict(C.merge(base.to_dict(), {"train": {"total_steps": 10}}))
    other = C.from_dict(C.merge(base.to_dict(), {"agent": {"learning_rate": 1e-3}}))
    assert longer.config_hash() == base.config_hash()
    assert other.config_hash() != base.config_hash()
    assert C.resume_mismatches(base, longer) == []
    diffs = C.resume_mismatches(base, other)
    assert len(diffs) == 1 and diffs[0].startswith("agent.learning_rate")


def test_fields_added_later_keep_old_hashes_at_their_default():
    base = RunConfig()
    without = base.to_dict()
    del without["agent"]["adam_betas"]  # a config.yaml written before the field existed
    assert C.from_dict(without).config_hash() == base.config_hash()
    betas = C.from_dict(C.merge(base.to_dict(), {"agent": {"adam_betas": [0.9, 0.99]}}))
    assert betas.config_hash() != base.config_hash()
    compiled = C.from_dict(C.merge(base.to_dict(), {"train": {"compile": "default"}}))
    assert compiled.config_hash() == base.config_hash()  # an implementation switch


COMMITTED_RUNS = sorted(
    (Path(__file__).resolve().parents[1] / "results").glob("atari100k*/runs/*/*/seed*")
)


@pytest.mark.parametrize("run", COMMITTED_RUNS, ids=lambda p: "/".join(p.parts[-4:]))
def test_committed_runs_keep_the_hash_they_recorded(run):
    """Fields added since (with the old behaviour as default) leave the hash alone."""
    summary = json.loads((run / "summary.json").read_text())
    assert C.load_run_config(run / "config.yaml").config_hash() == summary["config_hash"]


def test_dopamine_exploration_settings_change_the_hash_and_need_noisy_layers():
    base = C.load_config("der")
    for change in ({"agent": {"noisy_epsilon": 0.01}}, {"train": {"warmup_policy": "agent"}}):
        assert C.from_dict(C.merge(base.to_dict(), change)).config_hash() != base.config_hash()
    with pytest.raises(ConfigError, match=r"agent\.noisy_epsilon: 0\.01 needs agent\.noisy=true"):
        C.load_config("nature-dqn", sets=["agent.noisy_epsilon=0.01"])
    with pytest.raises(ConfigError, match=r"train\.warmup_policy"):
        C.load_config("der", sets=["train.warmup_policy=greedy"])


@pytest.mark.parametrize(
    ("betas", "message"),
    [([0.9], "two numbers"), ([0.9, 0.99, 0.999], "two numbers"), ([0.9, 1.0], "less than")],
)
def test_adam_betas_are_checked(betas, message):
    with pytest.raises(ConfigError, match=rf"agent\.adam_betas.*{message}"):
        C.from_dict({"agent": {"adam_betas": betas}})


def test_yaml_booleans_in_a_string_field_get_a_hint():
    with pytest.raises(ConfigError, match=r"train\.compile: expected a string.*quote"):
        C.load_config("nature-dqn", sets=["train.compile=off"])
    with pytest.raises(ConfigError, match="not one of none, default"):
        C.load_config("nature-dqn", sets=["train.compile='off'"])


def test_steps_to_frames():
    cfg = RunConfig()
    assert cfg.steps_to_frames(1000) == 4000
    classic = C.from_dict(
        {"env": {"game": "CartPole-v1", "protocol": "classic"}, "agent": {"network": "mlp"}}
    )
    assert classic.steps_to_frames(1000) == 1000


# ----------------------------------------------------------------- fuzzing
def _field_paths() -> list[tuple[str, str, typing.Any]]:
    out = []
    for section, cls in C.SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            out.append((section, f.name, hints[f.name]))
    return out


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(_field_paths()), value=_junk)
def test_fuzzed_values_either_load_or_name_the_field(field, value):
    """Any value in any field: a valid config, or a ConfigError naming that field."""
    section, name, _tp = field
    try:
        cfg = C.from_dict({section: {name: value}})
    except ConfigError as exc:
        msg = str(exc)
        # The message starts with the field itself, or with a field it conflicts with
        # and then names this one.
        path = f"{section}.{name}"
        head = msg.split(":", 1)[0]
        known = {f"{s}.{n}" for s, n, _ in _field_paths()}
        assert head == path or (head in known and path in msg), msg
        return
    got = getattr(getattr(cfg, section), name)
    assert got == value or (isinstance(value, list) and list(got) == value) or got == float(value)


@settings(max_examples=100, deadline=None)
@given(
    doc=st.recursive(
        _junk, lambda inner: st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=8
    )
)
def test_fuzzed_documents_never_raise_anything_but_config_error(doc):
    with contextlib.suppress(ConfigError):
        C.from_dict(doc)


def test_the_initialisation_scheme_changes_the_hash_only_when_it_is_not_the_default():
    base = C.load_config("der")  # fan-in, the default
    assert C.load_config("der", sets=["agent.init=fan_in"]).config_hash() == base.config_hash()
    assert C.load_config("der", sets=["agent.init=xavier"]).config_hash() != base.config_hash()
    with pytest.raises(ConfigError, match=r"agent\.init"):
        C.load_config("der", sets=["agent.init=lecun"])


def test_the_batch_shift_is_its_own_run_identity():
    base = C.load_config("drq-eps", sets=["agent.augmentation=drq"])  # a shift per sample
    batch = C.load_config("drq-eps")
    assert batch.agent.augmentation == "drq_batch_shift"  # the preset's (Dopamine's 2021 code)
    assert batch.config_hash() != base.config_hash()
    with pytest.raises(ConfigError, match=r"drq_batch_shift"):  # listed among the choices
        C.load_config("drq-eps", sets=["agent.augmentation=drq_batch"])
