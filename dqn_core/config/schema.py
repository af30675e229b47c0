"""Run configuration schema: frozen, typed, validated dataclasses.

A run is fully described by one :class:`RunConfig`. It is built from a preset
YAML (``dqn_core/presets/<name>.yaml``) plus ``section.field=value`` overrides,
validated once on creation (every error names the field, the value and what
is allowed), written verbatim to ``<run-dir>/config.yaml``, flattened into
MLflow params and summarised by a stable hash.

Units: every length names its unit. ``*_steps`` counts agent steps summed over
all parallel environments; ``*_frames`` counts emulator frames
(``frames = agent steps x frame_skip``). :func:`steps_to_frames` is the one
place that converts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from dqn_core.config.validate import validate_cross

PROTOCOLS = ("nature2015", "machado2018", "atari100k", "classic")
BACKENDS = ("python", "native")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


def _f(default: Any, doc: str, **rules: Any) -> Any:
    """A dataclass field with a one-line doc and validation rules.

    Rules: ``ge``/``gt``/``le``/``lt`` bounds, ``choices`` (allowed values).
    """
    return field(default=default, metadata={"doc": doc, **rules})


@dataclass(frozen=True)
class EnvConfig:
    """The environment: which game, under which protocol, how many copies."""

    game: str = _f(
        "Pong", "ALE game name (e.g. Pong, SpaceInvaders) or a classic env id (CartPole-v1)"
    )
    protocol: str = _f("nature2015", "emulator/evaluation protocol", choices=PROTOCOLS)
    protocol_revision: int | None = _f(
        None,
        "protocol revision (None: the current one; a run directory records the one it ran under)",
        ge=1,
    )
    backend: str = _f(
        "python", "python wrapper stack or ale-py's native C++ vector env", choices=BACKENDS
    )
    num_envs: int = _f(1, "parallel training environments", ge=1, le=1024)
    num_threads: int = _f(
        0, "native backend worker threads (0: one per env, capped at the cores)", ge=0
    )
    thread_affinity_offset: int = _f(
        -1, "native backend: pin worker threads to cores from this offset (-1: no pinning)", ge=-1
    )
    frame_skip: int = _f(4, "emulator frames per agent step (action repeat)", ge=1, le=16)
    frame_stack: int = _f(4, "frames stacked into one observation", ge=1, le=16)
    # Protocol deviations: None keeps the protocol's own value (see docs/protocols.md).
    repeat_action_probability: float | None = _f(
        None, "sticky-action probability override", ge=0.0, le=1.0
    )
    noop_max: int | None = _f(
        None, "max no-op actions at reset override (0 disables)", ge=0, le=1000
    )
    terminal_on_life_loss: bool | None = _f(None, "life loss ends a training episode override")
    max_episode_frames: int | None = _f(None, "episode cap in emulator frames override", ge=1)
    full_action_space: bool | None = _f(None, "use all 18 actions override")
    fire_reset: bool | None = _f(None, "press FIRE at reset in games that have it override")
    stack_reset_on_life_loss: bool | None = _f(None, "zero the stack at a lost life override")
    step_ends_at_life_loss: bool | None = _f(
        None, "a lost life ends the agent step at its frame override"
    )
    roms_dir: str | None = _f(
        None,
        "folder of ROM files named as ale-py's (assault.bin) to play instead of ale-py's own "
        "(None: ale-py's; python backend only)",
    )
    ale06_game_over: bool = _f(
        False,
        "ChopperCommand: end the game as ALE 0.6 (atari-py) did, at the last life only if the "
        "chopper faces right; otherwise the episode runs on, frozen, to the episode cap "
        "(python backend only)",
    )


@dataclass(frozen=True)
class AgentConfig:
    """The learner: network, target, loss, optimizer and exploration."""

    network: str = _f(
        "nature_cnn",
        "torso: Nature CNN (dopamine_cnn: SAME-padded) or DER CNN for pixels, MLP for vectors",
        choices=("nature_cnn", "dopamine_cnn", "der_cnn", "mlp"),
    )
    head_hidden: str = _f(
        "per_stream",
        "hidden layer of a dueling head: one per stream, or shared (Dopamine)",
        choices=("per_stream", "shared"),
    )
    mlp_hidden: tuple[int, ...] = _f((128, 128), "MLP hidden layer sizes (network=mlp)", ge=1)
    hidden_size: int = _f(512, "width of the fully connected layer after the CNN torso", ge=1)
    double: bool = _f(False, "double DQN target (argmax online, value target)")
    dueling: bool = _f(False, "dueling value/advantage head")
    noisy: bool = _f(False, "factorised-Gaussian noisy linear layers (replaces epsilon-greedy)")
    noisy_sigma0: float = _f(0.5, "initial noise scale sigma_0 of noisy layers", gt=0.0)
    noisy_epsilon: float = _f(
        0.0, "noisy layers: constant epsilon on top of the noise (Dopamine's DER: 0.01)", ge=0, le=1
    )
    distributional: bool = _f(False, "categorical (C51) value distribution")
    num_atoms: int = _f(51, "atoms of the categorical support", ge=2)
    v_min: float = _f(-10.0, "lowest atom of the categorical support")
    v_max: float = _f(10.0, "highest atom of the categorical support")
    gamma: float = _f(0.99, "discount per agent step", ge=0.0, le=1.0)
    loss: str = _f("huber", "TD loss (distributional uses cross-entropy)", choices=("huber", "mse"))
    optimizer: str = _f("rmsprop", "optimizer", choices=("rmsprop", "adam"))
    learning_rate: float = _f(2.5e-4, "optimizer learning rate", gt=0.0, le=1.0)
    adam_betas: tuple[float, ...] = _f(
        (0.9, 0.999), "Adam's moment decay rates (beta1, beta2)", ge=0.0, lt=1.0
    )
    optimizer_eps: float = _f(
        0.01,
        "optimizer epsilon (RMSprop: added inside the square root, as DeepMind; Adam: eps)",
        gt=0.0,
    )
    rmsprop_alpha: float = _f(0.95, "RMSprop squared-gradient decay", gt=0.0, lt=1.0)
    rmsprop_centered: bool = _f(True, "centered RMSprop (as DeepMind's DQN)")
    max_grad_norm: float | None = _f(
        None, "clip the global gradient norm (None: no clipping)", gt=0.0
    )
    target_update_steps: int = _f(10_000, "agent steps between hard target-network syncs", ge=1)
    epsilon_start: float = _f(1.0, "epsilon until the decay starts", ge=0.0, le=1.0)
    epsilon_end: float = _f(0.1, "epsilon after the decay", ge=0.0, le=1.0)
    epsilon_decay_steps: int = _f(1_000_000, "agent steps of linear epsilon decay", ge=1)
    epsilon_decay_start: int = _f(
        0, "agent step where the epsilon decay starts (Dopamine: min_replay_history)", ge=0
    )
    augmentation: str = _f(
        "none",
        "replay-batch image augmentation (drq: DrQ's random shift, each sample its own, and "
        "intensity; drq_batch_shift: one shift for the whole batch, as Dopamine's code of "
        "2021, the time of the published DrQ(eps) runs)",
        choices=("none", "drq", "drq_batch_shift"),
    )
    init: str = _f(
        "fan_in",
        "initial weights: fan_in, U(+-1/sqrt(fan_in)) for weights and biases (Lua-Torch's, "
        "PyTorch's); xavier, Xavier-uniform weights and zero biases for convolutions and "
        "plain linear layers (Flax's, as Dopamine's networks; noisy layers keep theirs)",
        choices=("fan_in", "xavier"),
    )


@dataclass(frozen=True)
class ReplayConfig:
    """The replay memory."""

    capacity: int = _f(1_000_000, "transitions kept (agent steps, all envs together)", ge=1)
    n_step: int = _f(1, "multi-step return length", ge=1, le=100)
    prioritized: bool = _f(False, "proportional prioritized replay")
    priority_alpha: float = _f(0.6, "priority exponent alpha", ge=0.0, le=1.0)
    priority_beta_start: float = _f(0.4, "importance-weight exponent at step 0", ge=0.0, le=1.0)
    priority_beta_end: float = _f(
        1.0, "importance-weight exponent at the end of training", ge=0.0, le=1.0
    )
    priority_eps: float = _f(1e-6, "added to |TD error| before the exponent", gt=0.0)
    priority_weight_norm: str = _f(
        "batch",
        "importance weights divided by their max over the batch or the whole memory",
        choices=("batch", "memory"),
    )


@dataclass(frozen=True)
class TrainConfig:
    """The training loop: budgets, schedules, checkpoints, logging."""

    total_steps: int = _f(50_000_000, "agent steps of interaction (all envs together)", ge=1)
    learning_starts: int = _f(50_000, "agent steps of warm-up (train.warmup_policy)", ge=0)
    train_frequency: int = _f(4, "agent steps per learner update (replay ratio)", ge=1)
    batch_size: int = _f(32, "transitions per learner update", ge=1, le=65536)
    warmup_policy: str = _f(
        "uniform",
        "how the agent acts before train.learning_starts: uniform random actions, or its "
        "own policy (agent: the noisy network or the epsilon schedule, as Dopamine's and "
        "Kaixhin/Rainbow's DER do)",
        choices=("uniform", "agent"),
    )
    checkpoint_every_steps: int = _f(250_000, "agent steps between checkpoints", ge=1)
    keep_checkpoints: int = _f(2, "checkpoints kept on disk (older ones deleted)", ge=1)
    log_every_steps: int = _f(10_000, "agent steps between metric rows", ge=1)
    device: str = _f("auto", "torch device: auto (cuda if present), cpu, cuda, cuda:N")
    torch_threads: int = _f(0, "torch intra-op threads (0: torch default)", ge=0)
    deterministic: bool = _f(False, "deterministic torch kernels (bit-exact on CPU; slower on GPU)")
    flush_denormal: bool = _f(
        True,
        "flush subnormal floats (below 1.2e-38) to zero on the CPU: DER's Adam step 3x faster",
    )
    compile: str = _f(
        "none",
        "torch.compile the update's forward and backward (reduce-overhead: CUDA graphs on GPU)",
        choices=COMPILE_MODES,
    )


@dataclass(frozen=True)
class EvalConfig:
    """Periodic and final evaluation."""

    every_steps: int = _f(1_000_000, "agent steps between evaluations (and one at the end)", ge=1)
    episodes: int = _f(10, "episodes per evaluation", ge=1)
    epsilon: float = _f(0.05, "epsilon of the evaluation policy", ge=0.0, le=1.0)
    max_steps: int = _f(
        125_000, "cap on agent steps of one evaluation (all episodes together)", ge=1
    )
    num_envs: int = _f(1, "parallel evaluation environments", ge=1, le=256)
    noisy: bool = _f(
        False,
        "noisy nets: evaluate with fresh noise (true) or with the mean weights (false, as "
        "Dopamine's Rainbow and Atari-100k agents)",
    )


@dataclass(frozen=True)
class TrackingConfig:
    """Where the run is recorded besides its run directory."""

    mlflow: bool = _f(True, "log to MLflow (MLFLOW_TRACKING_URI, else the embedded sqlite store)")
    suite: str = _f("adhoc", "suite name = MLflow experiment")
    progress: bool = _f(True, "show a progress bar")
    system_metrics: bool = _f(
        True, "send system/* metrics (CPU, memory, GPU memory) with each MLflow log point"
    )


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run: (preset, game, seed) and the settings."""

    preset: str = _f("custom", "preset this config started from")
    description: str = _f("", "one-line description (from the preset)")
    citation: str = _f("", "paper whose settings the preset follows")
    seed: int = _f(0, "root seed: every random stream is derived from it", ge=0, lt=2**63)
    env: EnvConfig = field(default_factory=EnvConfig, metadata={"doc": "environment"})
    agent: AgentConfig = field(default_factory=AgentConfig, metadata={"doc": "learner"})
    replay: ReplayConfig = field(default_factory=ReplayConfig, metadata={"doc": "replay memory"})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"doc": "training loop"})
    eval: EvalConfig = field(default_factory=EvalConfig, metadata={"doc": "evaluation"})
    tracking: TrackingConfig = field(default_factory=TrackingConfig, metadata={"doc": "tracking"})

    def __post_init__(self) -> None:
        validate_cross(self)

    # ----------------------------------------------------------------- views
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples become lists), the form written to YAML."""
        return _plain(dataclasses.asdict(self))

    def flatten(self) -> dict[str, Any]:
        """``{"agent.learning_rate": 0.00025, ...}`` for MLflow params."""
        out: dict[str, Any] = {}
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                for sub, v in value.items():
                    out[f"{key}.{sub}"] = v
            else:
                out[key] = value
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def config_hash(self) -> str:
        """Stable 12-hex-digit hash of everything that changes the results."""
        d = self.to_dict()
        for key, default in HASH_OMITTED_AT_DEFAULT.items():
            section, _, name = key.partition(".")
            if d[section].get(name) == default:
                d[section].pop(name)
        for key in RESUME_SAFE_FIELDS:
            section, dot, name = key.partition(".")
            if dot:
                d[section].pop(name, None)
            else:
                d.pop(key, None)
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def group_hash(self) -> str:
        """:meth:`config_hash` without the seed: equal for the seeds of one configuration."""
        return dataclasses.replace(self, seed=0).config_hash()

    @property
    def frames_per_step(self) -> int:
        return self.env.frame_skip if self.env.protocol != "classic" else 1

    def steps_to_frames(self, steps: int) -> int:
        return steps_to_frames(steps, self)

    @property
    def run_name(self) -> str:
        return f"{self.env.game}-{self.preset}-s{self.seed}"


# Fields that may differ between the config that created a run directory and the
# one that resumes it (budgets can be extended, logging and devices changed).
# Schedules tied to the budget keep the budget the run started with: PER's beta
# anneals over the first train.total_steps (the checkpoint records it), so an
# extended run keeps the schedule its first steps followed.
RESUME_SAFE_FIELDS = (
    "train.total_steps",
    "train.device",
    "train.torch_threads",
    "train.compile",
    "train.flush_denormal",
    "train.log_every_steps",
    "train.checkpoint_every_steps",
    "train.keep_checkpoints",
    "eval.episodes",
    "eval.every_steps",
    "eval.max_steps",
    "eval.num_envs",
    "tracking.mlflow",
    "tracking.suite",
    "tracking.progress",
    "tracking.system_metrics",
    "env.num_threads",
    "env.thread_affinity_offset",
    "description",
    "citation",
)

#: The protocol revision of a run directory whose config.yaml names none: it was made
#: before revisions were recorded, when every protocol was at its first revision.
LEGACY_REVISION = 1

# Result-changing fields added after the first release, left out of the hash while
# they hold their default, so run directories and checkpoints made before they
# existed keep their hash (and still resume).
HASH_OMITTED_AT_DEFAULT: dict[str, Any] = {
    "agent.adam_betas": [0.9, 0.999],
    "eval.noisy": False,
    "agent.noisy_epsilon": 0.0,
    "train.warmup_policy": "uniform",
    "env.stack_reset_on_life_loss": None,
    "env.step_ends_at_life_loss": None,
    "env.roms_dir": None,
    "env.ale06_game_over": False,
    "agent.epsilon_decay_start": 0,
    "agent.augmentation": "none",
    "agent.head_hidden": "per_stream",
    "agent.init": "fan_in",
    # Revision 1 is what every run made before revisions were recorded ran under.
    "env.protocol_revision": LEGACY_REVISION,
}


def steps_to_frames(steps: int, config: RunConfig) -> int:
    """Agent steps to emulator frames (classic-control envs: 1 frame a step)."""
    return int(steps) * config.frames_per_step


SECTIONS: dict[str, type] = {
    "env": EnvConfig,
    "agent": AgentConfig,
    "replay": ReplayConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "tracking": TrackingConfig,
}
TOP_LEVEL = ("preset", "description", "citation", "seed")


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
