"""The learner: online and target Q-networks, the optimizer, and one update step.

Every improvement the DQN papers compare is a switch on this one learner
(``config.agent``): double DQN (van Hasselt et al. 2016), dueling heads (Wang
et al. 2016), prioritized replay's importance weights and priorities (Schaul
et al. 2016), n-step returns (the replay computes them; the learner uses
``batch.discount`` as the bootstrap multiplier), categorical C51 (Bellemare
et al. 2017) and noisy nets (Fortunato et al. 2018), all together as Rainbow
(Hessel et al. 2018).

The learner knows no environment, no replay internals and no logging: the
training loop decides when to call :meth:`Learner.update` (learning starts,
train frequency) and :meth:`Learner.sync_target`; ``update`` returns detached
scalar tensors (never ``.item()``: that would force a device sync on every
update; only on the CPU, where it costs nothing, does gradient clipping read its
scale) and, under prioritized replay, the new priorities.

Speed: the target-network forward runs under ``no_grad``, and is skipped when
the target was synced since the last step (its values are the online
network's); ``next_obs`` is converted (uint8 to float, and the DER torso's patch
gather) once for the target and online networks; on the CPU, gradient clipping
skips its scaling pass when the scale is 1; Adam is the fused kernel where the
device supports it (:mod:`.optim`); the CNN runs channels-last. None of these
changes a value.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dqn_core.agent.augment import DrQAugmentation
from dqn_core.agent.batch import batch_tensors
from dqn_core.agent.device import resolve_device
from dqn_core.agent.networks import Prepared, QNetwork, build_network
from dqn_core.agent.optim import IMPLEMENTATION_FLAGS, make_optimizer
from dqn_core.agent.policy import exploration_draws
from dqn_core.agent.schedules import epsilon_schedule
from dqn_core.agent.targets import (
    categorical_cross_entropy,
    categorical_kl,
    categorical_projection,
    double_q_value,
    greedy_action_value,
    huber_loss,
    importance_weighted_loss,
    mse_loss,
    td_target,
)
from dqn_core.config import RunConfig
from dqn_core.seeding import Seeds, int_seed

#: Version of :meth:`Learner.state_dict`'s layout.
STATE_FORMAT = 1


class Learner:
    """Online and target Q-networks, their optimizer, and the DQN-family update.

    Attributes:
        online: the online network (acts and learns).
        target: the target network (bootstrap values; changed only by :meth:`sync_target`).
        optimizer: the online network's optimizer.
        updates: number of :meth:`update` calls so far (checkpointed).
    """

    def __init__(
        self,
        config: RunConfig,
        obs_shape: tuple[int, ...],
        num_actions: int,
        device: str | torch.device,
        seeds: Seeds,
    ) -> None:
        """Args:
        config: the run config (``agent`` section; ``replay.prioritized`` says
            whether :meth:`update` returns priorities).
        obs_shape: one observation's shape, e.g. (4, 84, 84) or (4,).
        num_actions: number of discrete actions.
        device: torch device (or "auto": cuda if present).
        seeds: the run's streams: ``init`` initialises the weights (on the CPU,
            so a seed gives the same network on every device), ``noise`` draws
            noisy-net noise.
        """
        if num_actions < 1:
            raise ValueError(f"num_actions: {num_actions!r} must be >= 1")
        self.config = config
        self.agent = config.agent
        self.device = resolve_device(device)
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.num_actions = int(num_actions)
        self.prioritized = config.replay.prioritized

        online = build_network(self.agent, self.obs_shape, self.num_actions, seeds.torch("init"))
        self.online: QNetwork = online.to(self.device)
        self.target: QNetwork = copy.deepcopy(self.online).requires_grad_(False)
        self._noise: torch.Generator | None = None
        # True while the target holds the online weights (sync_target, no update since):
        # the TD target then reuses the online network's pass over next_obs (agent.
        # target_update_steps = 1, as DrQ(eps)), with the same values as the target's.
        self._target_is_online = False
        self._seed = seeds.root
        self._eval_noise: tuple[int, torch.Generator] | None = None  # (updates, generator)
        if self.agent.noisy:
            self._noise = seeds.torch("noise", self.device)
            self.online.reset_noise(self._noise)
            self.target.reset_noise(self._noise)
        self._augment = (
            DrQAugmentation(
                seeds.torch("augment", self.device),
                per_sample=self.agent.augmentation == "drq",
            )
            if self.agent.augmentation != "none"
            else None
        )
        self._params = [p for p in self.online.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(config.agent, self._params, self.device)
        self._epsilon = epsilon_schedule(self.agent)
        self._per_sample_loss = huber_loss if self.agent.loss == "huber" else mse_loss
        self.updates = 0
        # Seconds spent in each part of update() (benchmarks/ reads them). On a GPU they
        # time the launches, not the kernels, unless the caller synchronises.
        self.timers: dict[str, float] = dict.fromkeys(
            ("noise", "forward", "backward", "optimizer"), 0.0
        )
        mode = config.train.compile
        self._cudagraphs = mode == "reduce-overhead" and self.device.type == "cuda"
        self._loss = (
            self._loss_eager
            if mode == "none"
            else torch.compile(self._loss_eager, mode=mode, dynamic=False)
        )

    # ------------------------------------------------------------------ acting
    def epsilon(self, step: int) -> float:
        """Exploration epsilon at agent step ``step`` (noisy nets: ``agent.noisy_epsilon``)."""
        if self.agent.noisy:
            return self.agent.noisy_epsilon
        return self._epsilon(step)

    def act(self, obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        """Epsilon-greedy actions for a batch of observations, in one forward pass.

        With noisy nets in training mode, fresh noise is drawn for every forward
        pass (as Dopamine's Rainbow does), and the action is greedy on the noisy
        network. In eval mode (``online.eval()``, as evaluations set it) the
        network acts with its mean weights, or with evaluation noise under
        ``eval.noisy`` (:meth:`_evaluation_noise`): evaluating never draws from
        the training noise stream.

        Args:
            obs: (N, *obs_shape) observations of the N environments.
            epsilon: exploration probability in [0, 1].
            rng: the exploration generator (advanced by 2 x N draws every call).

        Returns:
            int64 (N,) actions.
        """
        obs = np.asarray(obs)
        if obs.shape[1:] != self.obs_shape or obs.ndim != len(self.obs_shape) + 1:
            raise ValueError(
                f"obs: expected a batch of shape (N, {', '.join(map(str, self.obs_shape))}), "
                f"got {obs.shape}"
            )
        explore, random_actions = exploration_draws(obs.shape[0], self.num_actions, epsilon, rng)
        if explore.all():
            return random_actions  # no forward pass needed
        return np.where(explore, random_actions, self.greedy_actions(obs))

    @torch.no_grad()
    def greedy_actions(self, obs: np.ndarray) -> np.ndarray:
        """int64 (N,) argmax-Q actions of the online network for (N, *obs_shape) observations."""
        if not obs.flags.writeable:
            obs = obs.copy()  # torch refuses to wrap read-only numpy memory
        x = torch.from_numpy(obs).to(self.device, non_blocking=True)
        if self._noise is not None:
            if self.online.training:
                self.online.reset_noise(self._noise)
            elif self.config.eval.noisy:
                self.online.reset_noise(self._evaluation_noise())
            else:
                self.online.zero_noise()
        return self.online(x).argmax(dim=1).cpu().numpy().astype(np.int64, copy=False)

    def _evaluation_noise(self) -> torch.Generator:
        """The noise generator of an evaluation (``eval.noisy``), never the training one.

        Seeded from the root seed and the update count, so evaluating the same
        weights draws the same noise, and evaluating leaves training untouched.
        """
        if self._eval_noise is None or self._eval_noise[0] != self.updates:
            g = torch.Generator(device=self.device)
            g.manual_seed(int_seed(self._seed, "eval_noise", self.updates))
            self._eval_noise = (self.updates, g)
        return self._eval_noise[1]

    # ---------------------------------------------------------------- learning
    def update(self, batch: Any) -> tuple[dict[str, Tensor], Tensor | None]:
        """One gradient step on a replay batch.

        Args:
            batch: a replay ``Batch`` (or any object with its attributes): obs,
                action int64 (B,), reward float32 (B,) n-step reward sum,
                discount float32 (B,) gamma^k or 0, next_obs, weight float32 (B,).

        Returns:
            ``(metrics, priorities)``: detached scalar tensors ``loss``,
            ``q_mean`` (mean Q of the taken actions), ``target_mean`` (mean TD
            target), ``grad_norm`` (global norm before clipping); and float (B,)
            new priorities (|TD error|, or the KL loss for C51) under
            prioritized replay, else None.
        """
        obs, next_obs, action, reward, discount, weight = batch_tensors(
            batch, self.device, self.obs_shape
        )

        clock = time.perf_counter
        t0 = clock()
        if self._noise is not None:
            # Independent noise for the online and target networks (Fortunato et al. 2018).
            self.online.reset_noise(self._noise)
            self.target.reset_noise(self._noise)
        t1 = clock()
        if self._cudagraphs:
            # A new step for CUDA-graph trees: the previous update's outputs are consumed.
            torch.compiler.cudagraph_mark_step_begin()
        obs_in: Tensor | Prepared = obs
        next_in: Tensor | Prepared = next_obs
        if self._augment is not None:  # independent draws for obs and next_obs (DrQ)
            obs_in, next_in = self._augment(self.online, obs), self._augment(self.online, next_obs)
        loss, q_taken, target_value, new_priorities = self._loss(
            obs_in, next_in, action, reward, discount, weight
        )
        if self._cudagraphs:
            # Graph outputs live in memory the next replay overwrites; the loop keeps
            # metrics and priorities across updates.
            loss, q_taken, target_value, new_priorities = (
                loss.clone(),
                q_taken.clone(),
                target_value.clone(),
                new_priorities.clone(),
            )
        t2 = clock()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = clock()
        grads = [p.grad for p in self._params if p.grad is not None]
        grad_norm = torch.nn.utils.get_total_norm(grads, foreach=True)
        max_norm = self.agent.max_grad_norm
        # torch scales by min(1, max_norm / (norm + 1e-6)). On the CPU, reading that
        # costs nothing, and where it is 1 the pass over the gradients changes nothing:
        # skip it (same values). On an accelerator, scale rather than wait for the device.
        if max_norm is not None and (
            self.device.type != "cpu" or float(max_norm / (grad_norm + 1e-6)) < 1.0
        ):
            torch.nn.utils.clip_grads_with_norm_(self._params, max_norm, grad_norm, foreach=True)
        self.optimizer.step()
        self._target_is_online = False
        timers = self.timers
        timers["noise"] += t1 - t0
        timers["forward"] += t2 - t1
        timers["backward"] += t3 - t2
        timers["optimizer"] += clock() - t3
        self.updates += 1
        metrics = {
            "loss": loss.detach(),
            "q_mean": q_taken.detach(),
            "target_mean": target_value.detach(),
            "grad_norm": grad_norm.detach(),
        }
        return metrics, (new_priorities if self.prioritized else None)

    def _loss_eager(
        self,
        obs: Tensor | Prepared,
        next_obs: Tensor | Prepared,
        action: Tensor,
        reward: Tensor,
        discount: Tensor,
        weight: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The update's forward pass: ``(loss, mean Q taken, mean target, new priorities)``.

        This is the part ``train.compile`` hands to ``torch.compile`` (its backward
        is compiled with it); the optimizer step stays outside (a fused kernel already).
        """
        priorities: Tensor
        # next_obs is converted once for the target and online networks. The autograd
        # pass runs last, so backward finds its saved activations still in cache.
        if self.online.distributional:
            support = self.online.support
            with torch.no_grad():
                next_in = self._prepare(next_obs)
                next_log_p = self.target.log_probs(next_in)  # (B, A, atoms)
                next_p = next_log_p.exp()
                chooser = self.online(next_in) if self.agent.double else next_p @ support
                best = chooser.argmax(dim=1)
                best_p = next_p.gather(1, best.view(-1, 1, 1).expand(-1, 1, next_p.shape[2]))
                target_p = categorical_projection(best_p.squeeze(1), reward, discount, support)
            log_p_all = self.online.log_probs(obs)
            log_p = log_p_all.gather(
                1, action.view(-1, 1, 1).expand(-1, 1, log_p_all.shape[2])
            ).squeeze(1)
            per_sample = categorical_cross_entropy(target_p, log_p)
            with torch.no_grad():
                q_taken = log_p.exp() @ support
                target_value = target_p @ support
                priorities = categorical_kl(target_p, log_p) if self.prioritized else per_sample
        else:
            with torch.no_grad():
                next_in = self._prepare(next_obs)
                if self._target_is_online:  # synced, no step since: the same values, once
                    next_q = online_next = self.online(next_in)
                else:
                    next_q = self.target(next_in)
                    online_next = self.online(next_in) if self.agent.double else next_q
                if self.agent.double:
                    next_value = double_q_value(online_next, next_q)
                else:
                    next_value = greedy_action_value(next_q)
                target_value = td_target(reward, discount, next_value)
            q_taken = self.online(obs).gather(1, action.view(-1, 1)).squeeze(1)
            td_error = target_value - q_taken
            per_sample = self._per_sample_loss(td_error)
            priorities = td_error
        loss, new_priorities = importance_weighted_loss(per_sample, weight, priorities)
        return loss, q_taken.detach().mean(), target_value.mean(), new_priorities.detach()

    def _prepare(self, obs: Tensor | Prepared) -> Prepared:
        return obs if isinstance(obs, Prepared) else self.online.prepare(obs)

    @torch.no_grad()
    def sync_target(self) -> None:
        """Hard update: copy the online network's weights into the target network."""
        torch._foreach_copy_(list(self.target.parameters()), list(self.online.parameters()))
        # Without noisy layers (whose noise the two networks draw apart) the target now
        # computes what the online network does, until the next optimizer step.
        self._target_is_online = self._noise is None

    # -------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizer, update count and the noise generator's state.

        Holds only tensors, Python scalars, strings, lists and dicts, so it
        loads with ``torch.load(weights_only=True)``.
        """
        return {
            "format": STATE_FORMAT,
            "obs_shape": list(self.obs_shape),
            "num_actions": self.num_actions,
            "updates": self.updates,
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "noise_rng": None if self._noise is None else self._noise.get_state(),
            "augment_rng": None if self._augment is None else self._augment.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (same network shape required)."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"learner state: format {state.get('format')!r} is not {STATE_FORMAT}")
        if (
            list(state["obs_shape"]) != list(self.obs_shape)
            or state["num_actions"] != self.num_actions
        ):
            raise ValueError(
                f"learner state: saved for obs_shape {tuple(state['obs_shape'])} and "
                f"{state['num_actions']} actions; this learner has obs_shape {self.obs_shape} "
                f"and {self.num_actions} actions"
            )
        if (state["noise_rng"] is None) != (self._noise is None):
            raise ValueError(
                "learner state: agent.noisy differs between the checkpoint and this run"
            )
        if (state.get("augment_rng") is None) != (self._augment is None):
            raise ValueError(
                "learner state: agent.augmentation differs between the checkpoint and this run"
            )
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self._target_is_online = False
        keep = [
            {k: g[k] for k in IMPLEMENTATION_FLAGS if k in g} for g in self.optimizer.param_groups
        ]
        self.optimizer.load_state_dict(state["optimizer"])
        for group, flags in zip(self.optimizer.param_groups, keep, strict=True):
            group.update(flags)
        if self._noise is not None:
            self._noise.set_state(state["noise_rng"])
        if self._augment is not None:
            self._augment.generator.set_state(state["augment_rng"])
        self.updates = int(state["updates"])
