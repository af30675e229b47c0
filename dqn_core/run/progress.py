"""The progress bar of a run on a terminal."""

from __future__ import annotations

import math
import sys

from dqn_core.config import RunConfig


class Progress:
    """tqdm bar over agent steps showing frames, steps/s, ETA, return and epsilon."""

    def __init__(self, config: RunConfig, start: int, *, enabled: bool) -> None:
        self.bar = None
        self.config = config
        self.last = start
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=config.train.total_steps,
                initial=start,
                unit="step",
                dynamic_ncols=True,
                desc=config.run_name,
                mininterval=0.5,
            )

    def update(self, step: int, last_return: float, epsilon: float) -> None:
        if self.bar is None or step - self.last < 200:
            return
        self.bar.update(step - self.last)
        self.last = step
        self.bar.set_postfix(
            frames=self.config.steps_to_frames(step),
            ret="-" if math.isnan(last_return) else f"{last_return:.1f}",
            eps=f"{epsilon:.3f}",
            refresh=False,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
