"""Building a :class:`~dqn_core.config.schema.RunConfig`: presets, YAML files, ``--set`` overrides.

Every error names the field, the value and what is allowed (close matches for
unknown names).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dqn_core.config.errors import ConfigError
from dqn_core.config.schema import (
    LEGACY_REVISION,
    RESUME_SAFE_FIELDS,
    SECTIONS,
    TOP_LEVEL,
    RunConfig,
)


# ------------------------------------------------------------------ validation
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(name, value, arg)
            except ConfigError as exc:
                errors.append(str(exc))
        allowed = " or ".join(_type_name(a) if a is not type(None) else "null" for a in args)
        raise ConfigError(f"{name}: expected {allowed}, got {value!r}")
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name}: expected a list of {_type_name(item_tp)}, got {value!r}")
        return tuple(_coerce(f"{name}[{i}]", v, item_tp) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
                return int(value)
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name}: expected a finite number, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, bool):
            raise ConfigError(
                f"{name}: expected a string, got {value!r} (YAML reads yes/no/on/off/true/false "
                "as booleans: quote the value)"
            )
        if not isinstance(value, str):
            raise ConfigError(f"{name}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{name}: unsupported type {tp!r}")  # pragma: no cover


def _check_rules(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(map(str, choices))}{extra}")
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if "ge" in meta and v < meta["ge"]:
            raise ConfigError(
                f"{name}: {v!r} is below the minimum {meta['ge']} (allowed: >= {meta['ge']})"
            )
        if "gt" in meta and v <= meta["gt"]:
            raise ConfigError(f"{name}: {v!r} must be greater than {meta['gt']}")
        if "le" in meta and v > meta["le"]:
            raise ConfigError(
                f"{name}: {v!r} is above the maximum {meta['le']} (allowed: <= {meta['le']})"
            )
        if "lt" in meta and v >= meta["lt"]:
            raise ConfigError(f"{name}: {v!r} must be less than {meta['lt']}")


def _build_section(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix}: expected a mapping of fields, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                _unknown(f"{prefix}.{key}" if prefix else str(key), str(key), list(known))
            )
        fname = f"{prefix}.{key}" if prefix else str(key)
        meta = known[key].metadata
        coerced = _coerce(fname, value, hints[key])
        _check_rules(fname, coerced, meta)
        kwargs[key] = coerced
    return cls(**kwargs)


def _unknown(full: str, key: str, known: list[str]) -> str:
    hint = difflib.get_close_matches(key, known, n=3)
    extra = f"; did you mean {', '.join(hint)}?" if hint else ""
    return f"{full}: unknown field{extra} (known: {', '.join(sorted(known))})"


# --------------------------------------------------------------------- loading
def from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Build and validate a RunConfig from a nested mapping (e.g. a YAML file)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config: expected a mapping at the top level, got {type(data).__name__}")
    kwargs: dict[str, Any] = {}
    top_fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    hints = typing.get_type_hints(RunConfig)
    for key, value in data.items():
        if key in SECTIONS:
            kwargs[key] = _build_section(SECTIONS[key], value if value is not None else {}, key)
        elif key in TOP_LEVEL:
            coerced = _coerce(key, value, hints[key])
            _check_rules(key, coerced, top_fields[key].metadata)
            kwargs[key] = coerced
        else:
            raise ConfigError(_unknown(str(key), str(key), [*TOP_LEVEL, *SECTIONS]))
    return RunConfig(**kwargs)


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["agent.learning_rate=1e-4", "env.game=Breakout"]`` to a nested dict.

    Values are parsed as YAML scalars (``1e-4``, ``true``, ``[64, 64]``, ``null``).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--set {item!r}: expected field=value, e.g. agent.learning_rate=1e-4"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"{key}: cannot parse value {raw!r}: {exc}") from None
        if isinstance(value, str) and _looks_float(value):
            value = float(value)  # YAML 1.1 reads "1e-4" as a string
        section, dot, name = key.partition(".")
        if dot:
            if section not in SECTIONS:
                raise ConfigError(_unknown(key, section, [*SECTIONS, *TOP_LEVEL]))
            out.setdefault(section, {})[name] = value
        else:
            if key not in TOP_LEVEL:
                raise ConfigError(
                    _unknown(key, key, [*TOP_LEVEL, *(f"{s}.<field>" for s in SECTIONS)])
                )
            out[key] = value
    return out


def _looks_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return s.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity")


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``over`` wins."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping safely, with an error that names the file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: malformed YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_run_config(path: str | Path, sets: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """A run directory's ``config.yaml``, read as the run ran (then ``sets``, ``--set`` items).

    ``dqn train`` records the protocol revision it ran under; a config.yaml that
    names none was written before revisions were recorded and is read as
    :data:`~dqn_core.config.schema.LEGACY_REVISION` (not as today's revision,
    which may have changed the protocol since); one without
    ``train.flush_denormal`` ran before subnormals were flushed and is read with
    it off.

    Raises:
        ConfigError: the file is unreadable or malformed (naming it), or its
            config is invalid.
    """
    data = load_yaml(path)
    env = data.get("env")
    if env is None:
        env = data["env"] = {}
    if isinstance(env, dict) and env.get("protocol_revision") is None:
        env["protocol_revision"] = LEGACY_REVISION
    train = data.get("train")
    if isinstance(train, dict) and "flush_denormal" not in train:
        # Made before subnormals were flushed: evaluate it as it trained.
        train["flush_denormal"] = False
    if sets:
        data = merge(data, parse_overrides(sets))
    return from_dict(data)


def preset_names() -> list[str]:
    """Names of the presets shipped in ``dqn_core/presets``."""
    root = resources.files("dqn_core") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def preset_dict(name: str) -> dict[str, Any]:
    """The raw mapping of a shipped preset (unknown names get close matches)."""
    names = preset_names()
    if name not in names:
        hint = difflib.get_close_matches(name, names, n=3)
        extra = f"; did you mean {', '.join(hint)}?" if hint else ""
        raise ConfigError(f"preset: unknown preset {name!r}{extra} (known: {', '.join(names)})")
    path = resources.files("dqn_core") / "presets" / f"{name}.yaml"
    with resources.as_file(path) as p:
        data = load_yaml(p)
    data.setdefault("preset", name)
    return data


def load_config(
    preset: str | None = None,
    *,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    sets: list[str] | tuple[str, ...] = (),
) -> RunConfig:
    """Resolve a run config: preset (or a config file), then overrides, then ``--set`` items."""
    data: dict[str, Any] = {}
    if preset is not None:
        data = preset_dict(preset)
    if config_file is not None:
        data = merge(data, load_yaml(config_file))
    if overrides:
        data = merge(data, overrides)
    if sets:
        data = merge(data, parse_overrides(sets))
    return from_dict(data)


def setting_differences(a: RunConfig, b: RunConfig) -> dict[str, tuple[Any, Any]]:
    """``{field: (a's value, b's value)}`` for the result-changing fields (outside
    RESUME_SAFE_FIELDS) where two configs differ, sorted by field."""
    fa, fb = a.flatten(), b.flatten()
    return {
        k: (fa.get(k), fb.get(k))
        for k in sorted(set(fa) | set(fb))
        if k not in RESUME_SAFE_FIELDS and fa.get(k) != fb.get(k)
    }


def resume_mismatches(saved: RunConfig, new: RunConfig) -> list[str]:
    """Fields (outside RESUME_SAFE_FIELDS) where a resuming config differs."""
    return [
        f"{k}: run directory has {old!r}, command gives {now!r}"
        for k, (old, now) in setting_differences(saved, new).items()
    ]


def field_docs() -> dict[str, str]:
    """``{"agent.learning_rate": "optimizer learning rate", ...}`` for docs and the CLI."""
    out = {}
    for f in dataclasses.fields(RunConfig):
        if f.name in SECTIONS:
            for sf in dataclasses.fields(SECTIONS[f.name]):
                out[f"{f.name}.{sf.name}"] = sf.metadata.get("doc", "")
        else:
            out[f.name] = f.metadata.get("doc", "")
    return out


def describe_presets() -> list[tuple[str, str]]:
    """``[(name, one-line description), ...]`` of the shipped presets, for ``dqn presets``."""
    return [(name, str(preset_dict(name).get("description", ""))) for name in preset_names()]
