"""What an MLflow run records about itself: params from the config, tags of the run
(suite, game, seed, versions, git commit, device, config hashes, note).

Params and tags hold only the config, versions, the git commit, the device and
the run directory: never a tracking URI (see :mod:`dqn_core.tracking.redact`).
"""

from __future__ import annotations

import logging
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from dqn_core.config import RunConfig
from dqn_core.provenance import cpu_description, git_commit

log = logging.getLogger(__name__)

#: MLflow's per-request limits (mlflow.utils.validation).
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
#: Packages whose versions are recorded as ``version.<name>`` tags.
VERSIONED_PACKAGES = ("torch", "numpy", "gymnasium", "ale-py", "mlflow", "dqn-harness")


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _run_tags(config: RunConfig, run_dir: Path, device: str | None) -> dict[str, str]:
    commit, dirty = git_commit()
    tags = {
        "suite": config.tracking.suite,
        "game": config.env.game,
        "preset": config.preset,
        "seed": str(config.seed),
        "protocol": config.env.protocol,
        "git_commit": commit,
        "git_dirty": dirty,
        "cpu": cpu_description(),
        "device": device or config.train.device,
        "config_hash": config.config_hash(),
        # Equal for every seed of one configuration: group or filter by it in the UI.
        "config_group": config.group_hash(),
        "run_dir": str(run_dir.resolve()),
        # The run's description in the MLflow UI, with the budget this run really has.
        "mlflow.note.content": _run_note(config),
        "version.python": platform.python_version(),
    }
    tags.update({f"version.{p}": _package_version(p) for p in VERSIONED_PACKAGES})
    from dqn_core.envs import rom_md5  # envs pulls in the emulator: only when logging

    rom = rom_md5(config)
    if rom is not None:
        tags["rom_md5"] = rom
    if commit != "unknown":
        tags["mlflow.source.git.commit"] = commit  # shown by the MLflow UI
    return {k: v[:MAX_TAG_VALUE_LENGTH] for k, v in tags.items()}


def _run_note(config: RunConfig) -> str:
    """The preset's description and citation, and the budget of this run."""
    steps = config.train.total_steps
    lines = [
        f"Preset `{config.preset}`: {config.description}" if config.description else "",
        f"Citation: {config.citation}" if config.citation else "",
        f"This run: {config.env.game}, seed {config.seed}, protocol {config.env.protocol}, "
        f"{steps:,} agent steps = {config.steps_to_frames(steps):,} frames.",
    ]
    return "\n\n".join(line for line in lines if line)


def _unused_fields(config: RunConfig) -> set[str]:
    """Config fields that this run's switches make irrelevant (not logged as params)."""
    a, r = config.agent, config.replay
    unused = {"description", "citation"}  # prose: the run's note holds them
    if not a.distributional:
        unused |= {"agent.num_atoms", "agent.v_min", "agent.v_max"}
    else:
        unused.add("agent.loss")  # C51 trains on the cross-entropy
    if not a.noisy:
        unused.add("agent.noisy_sigma0")
    else:  # noisy nets explore by their noise: epsilon is 0 throughout
        unused |= {"agent.epsilon_start", "agent.epsilon_end", "agent.epsilon_decay_steps"}
    if a.optimizer == "rmsprop":
        unused.add("agent.adam_betas")
    else:
        unused |= {"agent.rmsprop_alpha", "agent.rmsprop_centered"}
    if a.network == "mlp":
        unused.add("agent.hidden_size")
    else:
        unused.add("agent.mlp_hidden")
    if config.env.protocol == "classic":  # emulator settings of Atari protocols only
        unused |= {
            f"env.{n}"
            for n in (
                "repeat_action_probability",
                "noop_max",
                "terminal_on_life_loss",
                "full_action_space",
                "fire_reset",
                "frame_skip",
                "roms_dir",
            )
        }
    if config.env.backend != "native":
        unused |= {"env.num_threads", "env.thread_affinity_offset"}
    if not r.prioritized:
        unused |= {
            "replay.priority_alpha",
            "replay.priority_beta_start",
            "replay.priority_beta_end",
            "replay.priority_eps",
            "replay.priority_weight_norm",
        }
    return unused


def _resolved_protocol(config: RunConfig) -> dict[str, Any]:
    """The emulator settings the run's protocol resolves to (for env.* fields left None)."""
    from dqn_core.envs import protocol_settings  # envs pulls in the emulator: only when logging

    settings = protocol_settings(config)
    names: tuple[str, ...] = ("max_episode_frames",)
    if config.env.protocol != "classic":
        names += ("repeat_action_probability", "noop_max", "terminal_on_life_loss")
        names += ("full_action_space", "fire_reset")
    return {f"env.{n}": getattr(settings, n) for n in names}


def _params(config: RunConfig) -> dict[str, str]:
    """MLflow params: the resolved config the run used, without the fields it does not use.

    Protocol fields left ``None`` (keep the protocol's value) are logged with the
    value the protocol gives them; config.yaml (an artifact) keeps the file as written.
    """
    out = {}
    resolved = _resolved_protocol(config)
    unused = _unused_fields(config)
    for key, value in config.flatten().items():
        if key in unused:
            continue
        if value is None and key in resolved:
            value = resolved[key]
        text = str(value)
        if len(text) > MAX_PARAM_VALUE_LENGTH:
            log.warning(
                "MLflow param %s is %d characters long; truncated to %d (config.yaml has it all)",
                key,
                len(text),
                MAX_PARAM_VALUE_LENGTH,
            )
            text = text[:MAX_PARAM_VALUE_LENGTH]
        out[key] = text
    return out
