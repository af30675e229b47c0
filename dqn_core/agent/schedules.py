"""Linear schedules over agent steps (epsilon, PER beta).

A schedule is a pure function of the agent-step counter, so a resumed run needs
no schedule state: it asks for the value at the step it resumed from. Every
duration here counts agent steps summed over all parallel environments (see
docs/architecture.md, "Units").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dqn_core.config import AgentConfig, ReplayConfig


@dataclass(frozen=True)
class LinearSchedule:
    """``start`` until ``start_step``, moving linearly to ``end`` over ``duration_steps``, then flat.

    Attributes:
        start: value from agent step 0 to ``start_step``.
        end: value from agent step ``start_step + duration_steps`` on.
        duration_steps: agent steps of the linear part (>= 1).
        start_step: agent steps before the linear part (Dopamine's
            ``linearly_decaying_epsilon`` waits ``min_replay_history`` steps).
    """

    start: float
    end: float
    duration_steps: int
    start_step: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.duration_steps, int) or self.duration_steps < 1:
            raise ValueError(
                f"duration_steps: {self.duration_steps!r} must be an integer >= 1 (agent steps)"
            )
        if not isinstance(self.start_step, int) or self.start_step < 0:
            raise ValueError(
                f"start_step: {self.start_step!r} must be an integer >= 0 (agent steps)"
            )
        for name in ("start", "end"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name}: {value!r} must be a finite number")

    def __call__(self, step: int) -> float:
        """The value at agent step ``step`` (negative steps are an error)."""
        if step < 0:
            raise ValueError(f"step: {step} must be >= 0 (agent steps)")
        fraction = min(max(step - self.start_step, 0) / self.duration_steps, 1.0)
        return self.start + fraction * (self.end - self.start)


def epsilon_schedule(agent: AgentConfig) -> LinearSchedule:
    """The exploration schedule of ``agent`` (Mnih et al. 2015: 1.0 to 0.1 over 1M steps).

    Args:
        agent: the learner's config (``epsilon_start``, ``epsilon_end``,
            ``epsilon_decay_steps``, ``epsilon_decay_start``).

    Returns:
        A schedule in agent steps.
    """
    return LinearSchedule(
        agent.epsilon_start,
        agent.epsilon_end,
        agent.epsilon_decay_steps,
        agent.epsilon_decay_start,
    )


def beta_schedule(replay: ReplayConfig, total_steps: int) -> LinearSchedule:
    """Importance-sampling exponent of PER, annealed over the whole run (Schaul et al. 2016).

    Args:
        replay: the replay config (``priority_beta_start``, ``priority_beta_end``).
        total_steps: the run's budget in agent steps (beta reaches its end value there).

    Returns:
        A schedule in agent steps.
    """
    return LinearSchedule(replay.priority_beta_start, replay.priority_beta_end, max(total_steps, 1))
