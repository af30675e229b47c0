"""Run configuration: the schema (:mod:`.schema`) and how a config is built (:mod:`.load`).

A run is fully described by one :class:`RunConfig`: a preset YAML
(``dqn_core/presets/<name>.yaml``) plus ``section.field=value`` overrides,
validated once on creation, written verbatim to ``<run-dir>/config.yaml``,
flattened into MLflow params and summarised by a stable hash. Each part of the
stack reads its own section (``config.agent``, ``config.replay``, ...).
"""

from dqn_core.config.errors import ConfigError
from dqn_core.config.load import (
    describe_presets,
    field_docs,
    from_dict,
    load_config,
    load_run_config,
    load_yaml,
    merge,
    parse_overrides,
    preset_dict,
    preset_names,
    resume_mismatches,
    setting_differences,
)
from dqn_core.config.schema import (
    BACKENDS,
    COMPILE_MODES,
    HASH_OMITTED_AT_DEFAULT,
    LEGACY_REVISION,
    PROTOCOLS,
    RESUME_SAFE_FIELDS,
    SECTIONS,
    TOP_LEVEL,
    AgentConfig,
    EnvConfig,
    EvalConfig,
    ReplayConfig,
    RunConfig,
    TrackingConfig,
    TrainConfig,
    steps_to_frames,
)

__all__ = [
    "BACKENDS",
    "COMPILE_MODES",
    "HASH_OMITTED_AT_DEFAULT",
    "LEGACY_REVISION",
    "PROTOCOLS",
    "RESUME_SAFE_FIELDS",
    "SECTIONS",
    "TOP_LEVEL",
    "AgentConfig",
    "ConfigError",
    "EnvConfig",
    "EvalConfig",
    "ReplayConfig",
    "RunConfig",
    "TrackingConfig",
    "TrainConfig",
    "describe_presets",
    "field_docs",
    "from_dict",
    "load_config",
    "load_run_config",
    "load_yaml",
    "merge",
    "parse_overrides",
    "preset_dict",
    "preset_names",
    "resume_mismatches",
    "setting_differences",
    "steps_to_frames",
]
