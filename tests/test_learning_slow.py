"""Learning checks on CartPole-v1 (``pytest -m slow``; the quick one: ``-m "slow and ci"``).

The ``cartpole`` preset, DQN with dueling + double + PER, and a Rainbow-style
setting adapted to CartPole each reach a mean evaluation return >= 475 within
50,000 environment steps on most seeds. How often each does is measured on many
seeds (docs/learning-checks.md, ``scripts/learning_success.py``); each test
needs ``k`` of ``n`` seeds chosen from those rates and states the chance that it
fails although nothing is broken (``tests/learning_rates.py``).

The loop here is deliberately minimal and self-contained (gymnasium's
CartPole-v1, a small n-step/prioritized replay written below) so the check
exercises the learner alone; the package's training loop is checked by its
own tests. It follows the preset's schedule fields: learning starts, train
frequency, target sync period, batch size, epsilon schedule, n-step, PER
alpha/beta. Evaluation runs ``EVAL_EPISODES`` greedy episodes (the preset's
eval epsilon) every ``EVAL_EVERY`` steps on separately seeded environments;
a run passes when one evaluation mean reaches the threshold by 50,000 steps.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import learning_threads_overrides

from dqn_core.agent.learner import Learner
from dqn_core.agent.schedules import beta_schedule
from dqn_core.config import RunConfig, load_config
from dqn_core.replay import Batch, n_step_returns
from dqn_core.replay.prioritized import importance_weights
from dqn_core.seeding import Seeds

BUDGET_STEPS = 50_000  # environment (= agent) steps
THRESHOLD = 475.0  # mean evaluation return (CartPole-v1's "solved" level)
EVAL_EVERY = 2_500  # agent steps
EVAL_EPISODES = 10

#: The settings the issue names, as overrides of the cartpole preset.
SETTINGS: dict[str, dict[str, Any]] = {
    "cartpole": {},
    "dueling-double-per": {
        "agent": {"dueling": True, "double": True},
        "replay": {"prioritized": True},
    },
    "rainbow-style": {
        "agent": {
            "dueling": True,
            "double": True,
            "noisy": True,
            "noisy_sigma0": 0.1,  # DER's value; 0.5 also passed 5/5, but later (22.5k-40k steps)
            "distributional": True,
            "num_atoms": 51,
            "v_min": 0.0,
            "v_max": 100.0,  # CartPole returns: at most 1 / (1 - 0.99) = 100
        },
        "replay": {"prioritized": True, "n_step": 3, "priority_alpha": 0.5},
    },
}


class TinyReplay:
    """Ring buffer of n-step transitions, built when they are added; optional proportional PER.

    Its maths is the package's: n-step sums from ``replay.n_step_returns``, importance
    weights from ``prioritized.importance_weights``; only the storage is simpler (one
    env, whole transitions instead of deduplicated frames).

    One environment only. Terminal transitions get discount 0; at truncation
    the pending transitions bootstrap from the last real observation.
    """

    def __init__(self, config: RunConfig, rng: np.random.Generator) -> None:
        r = config.replay
        self.capacity = r.capacity
        self.n = r.n_step
        self.gamma = config.agent.gamma
        self.powers = self.gamma ** np.arange(self.n + 1, dtype=np.float64)
        self.prioritized = r.prioritized
        self.alpha, self.eps = r.priority_alpha, r.priority_eps
        self.weight_norm = r.priority_weight_norm
        self.rng = rng
        self.obs = np.zeros((self.capacity, 4), np.float32)
        self.next_obs = np.zeros((self.capacity, 4), np.float32)
        self.action = np.zeros(self.capacity, np.int64)
        self.reward = np.zeros(self.capacity, np.float32)
        self.discount = np.zeros(self.capacity, np.float32)
        self.priority = np.zeros(self.capacity, np.float64)  # already raised to alpha
        self.max_priority = 1.0
        self.size = 0
        self.cursor = 0
        self.pending: deque[tuple[np.ndarray, int, float]] = deque()

    def _store(
        self, obs: np.ndarray, action: int, ret: float, discount: float, nxt: np.ndarray
    ) -> None:
        i = self.cursor
        self.obs[i], self.action[i], self.reward[i] = obs, action, ret
        self.discount[i], self.next_obs[i] = discount, nxt
        self.priority[i] = self.max_priority
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def _emit(self, next_obs: np.ndarray, terminal: bool) -> None:
        # The n-step maths of the real replay memory (replay.n_step_returns).
        k = len(self.pending)
        rewards = np.zeros((1, self.n), np.float64)
        rewards[0, :k] = [r for _, _, r in self.pending]
        ret, discount = n_step_returns(rewards, np.array([k]), np.array([terminal]), self.powers)
        obs, action, _ = self.pending.popleft()
        self._store(obs, action, float(ret[0]), float(discount[0]), next_obs)

    def add(
        self,
        obs: np.ndarray,
        action: int,
        reward: float,
        terminal: bool,
        end: bool,
        next_obs: np.ndarray,
    ) -> None:
        self.pending.append((obs, action, reward))
        if end:
            while self.pending:
                self._emit(next_obs, terminal)
        elif len(self.pending) == self.n:
            self._emit(next_obs, False)

    def sample(self, batch_size: int, beta: float) -> Batch:
        if self.prioritized:
            cumulative = np.cumsum(self.priority[: self.size])
            total = cumulative[-1]
            targets = self.rng.random(batch_size) * total
            idx = np.minimum(np.searchsorted(cumulative, targets, side="right"), self.size - 1)
            stored = self.priority[: self.size]
            sampled = self.priority[idx]
            low = sampled.min() if self.weight_norm == "batch" else stored.min()
            weight = torch.from_numpy(importance_weights(sampled, low, beta))
            weight = weight.float()
        else:
            idx = self.rng.integers(0, self.size, size=batch_size)
            weight = torch.ones(batch_size)
        return Batch(
            obs=torch.from_numpy(self.obs[idx]),
            action=torch.from_numpy(self.action[idx]),
            reward=torch.from_numpy(self.reward[idx]),
            discount=torch.from_numpy(self.discount[idx]),
            next_obs=torch.from_numpy(self.next_obs[idx]),
            weight=weight,
            indices=idx,
        )

    def update_priorities(self, idx: np.ndarray, priorities: np.ndarray) -> None:
        p = (np.asarray(priorities, np.float64) + self.eps) ** self.alpha
        self.priority[idx] = p
        self.max_priority = max(self.max_priority, float(p.max()))


def evaluate(learner: Learner, config: RunConfig, seeds: Seeds, index: int) -> float:
    """Mean return of ``EVAL_EPISODES`` episodes, acting on all of them in one batch."""
    envs = [gym.make("CartPole-v1") for _ in range(EVAL_EPISODES)]
    obs = np.stack(
        [
            e.reset(seed=seeds.int("eval_env", index * EVAL_EPISODES + i))[0]
            for i, e in enumerate(envs)
        ]
    )
    rng = np.random.default_rng(seeds.int("eval_policy", index))
    returns = np.zeros(EVAL_EPISODES)
    running = np.ones(EVAL_EPISODES, bool)
    while running.any():
        live = np.flatnonzero(running)
        actions = learner.act(obs[live], config.eval.epsilon, rng)
        for i, a in zip(live, actions, strict=True):
            o, r, term, trunc, _ = envs[i].step(int(a))
            obs[i] = o
            returns[i] += r
            running[i] = not (term or trunc)
    for e in envs:
        e.close()
    return float(returns.mean())


@dataclass
class Outcome:
    reached_step: int | None  # first evaluation step with mean >= THRESHOLD
    evaluations: list[tuple[int, float]]
    seconds: float


def train_cartpole(
    config: RunConfig, budget: int = BUDGET_STEPS, stop_early: bool = True
) -> Outcome:
    """Train on CartPole-v1 following ``config``'s schedules; evaluate every ``EVAL_EVERY`` steps."""
    threads = torch.get_num_threads()
    torch.set_num_threads(config.train.torch_threads or threads)
    try:
        return _train(config, budget, stop_early)
    finally:
        torch.set_num_threads(threads)


def _train(config: RunConfig, budget: int, stop_early: bool) -> Outcome:
    t0 = time.perf_counter()
    seeds = Seeds(config.seed)
    a, t = config.agent, config.train
    learner = Learner(config, (4,), 2, "cpu", seeds)
    replay = TinyReplay(config, seeds.numpy("replay"))
    explore = seeds.numpy("exploration")
    beta = beta_schedule(config.replay, budget)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seeds.int("env"))
    evaluations: list[tuple[int, float]] = []
    reached = None
    for step in range(budget):
        if step < t.learning_starts:
            action = int(explore.integers(0, 2))
        else:
            action = int(learner.act(obs[None], learner.epsilon(step), explore)[0])
        next_obs, reward, terminated, truncated, _ = env.step(action)
        replay.add(obs, action, float(reward), terminated, terminated or truncated, next_obs)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
        done = step + 1
        if (
            done >= t.learning_starts
            and done % t.train_frequency == 0
            and replay.size >= t.batch_size
        ):
            batch = replay.sample(t.batch_size, beta(done))
            _, priorities = learner.update(batch)
            if priorities is not None:
                replay.update_priorities(batch.indices, priorities.numpy())
        if done >= t.learning_starts and done % a.target_update_steps == 0:
            learner.sync_target()
        if done % EVAL_EVERY == 0:
            mean = evaluate(learner, config, seeds, len(evaluations))
            evaluations.append((done, mean))
            if mean >= THRESHOLD and reached is None:
                reached = done
                if stop_early:
                    break
    env.close()
    return Outcome(reached, evaluations, time.perf_counter() - t0)


def setting_config(name: str, seed: int) -> RunConfig:
    return load_config(
        "cartpole",
        overrides={**SETTINGS[name], "seed": seed},
        sets=learning_threads_overrides(),
    )


#: Each setting must solve on K of SEEDS (tried in turn, stopped once the answer is known).
K, SEEDS = 3, (1, 2, 3, 4, 5, 6)


def solved_seeds(name: str, k: int, seeds: tuple[int, ...]) -> tuple[bool, dict[int, Any]]:
    """Run ``seeds`` of setting ``name`` in turn until k solve or k can no longer be reached."""
    outcomes: dict[int, Outcome] = {}
    for i, seed in enumerate(seeds, 1):
        outcomes[seed] = train_cartpole(setting_config(name, seed))
        solved = sum(o.reached_step is not None for o in outcomes.values())
        if solved >= k or solved + (len(seeds) - i) < k:
            break
    summary = {s: (o.reached_step, o.evaluations[-3:]) for s, o in outcomes.items()}
    return solved >= k, summary


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SETTINGS))
def test_reaches_475_on_k_of_n_seeds(name: str) -> None:
    """Each setting solves on 3 of seeds 1-6 (usually the first 3 runs decide).

    Measured (docs/learning-checks.md), per setting:
    check `cartpole`, needs 3 of 6 seeds: false-failure chance 0% at the measured
    rate 20/20, 0.44% at its one-sided 95% lower bound 0.861;
    check `dueling-double-per`, needs 3 of 6 seeds: false-failure chance 0% at the
    measured rate 20/20, 0.44% at its one-sided 95% lower bound 0.861;
    check `rainbow-style`, needs 3 of 6 seeds: false-failure chance 0% at the
    measured rate 10/10, 4.2% at its one-sided 95% lower bound 0.741.
    """
    ok, summary = solved_seeds(name, K, SEEDS)
    assert ok, summary


#: Seeds tried in turn by the CI check of the minimal loop; the first that solves passes.
CI_SEEDS = (1, 2, 3)


@pytest.mark.slow
@pytest.mark.ci
def test_ci_cartpole_preset_solves_on_one_of_three_seeds() -> None:
    """The cartpole preset through the minimal loop: the first of seeds 1-3 that solves passes.

    Measured (docs/learning-checks.md): check `cartpole`, needs 1 of 3 seeds:
    false-failure chance 0% at the measured rate 20/20, 0.27% at its one-sided 95%
    lower bound 0.861.
    """
    ok, summary = solved_seeds("cartpole", 1, CI_SEEDS)
    assert ok, summary
