"""Module paths of the flat layout (up to 0.1.0), kept importable for one release.

``import dqn_core.learner`` (and the other old paths below) still works and
warns with a :class:`DeprecationWarning` naming the new module. The old module
is a thin view: an attribute is looked up in its new modules, in order, so the
names it had keep resolving where they now live. Differences that a view cannot
hide: ``Trainer`` takes ``sink=`` (e.g. :func:`dqn_core.experiment.mlflow_sink`)
instead of ``tracking_uri=``; the train loop's private helpers (``_Window``,
``_Signals``, ...) have public names in :mod:`dqn_core.run`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

#: old module -> the modules that now hold its names, searched in order.
MOVED: dict[str, tuple[str, ...]] = {
    "dqn_core.games": ("dqn_core.envs.games",),
    "dqn_core.prioritized": ("dqn_core.replay.prioritized",),
    "dqn_core.sumtree": ("dqn_core.replay.sumtree",),
    "dqn_core.targets": ("dqn_core.agent.targets",),
    "dqn_core.networks": (
        "dqn_core.agent.networks",
        "dqn_core.agent.torsos",
        "dqn_core.agent.layers",
    ),
    "dqn_core.schedules": ("dqn_core.agent.schedules",),
    "dqn_core.policy": ("dqn_core.agent.policy",),
    "dqn_core.learner": (
        "dqn_core.agent.learner",
        "dqn_core.agent.optim",
        "dqn_core.agent.device",
        "dqn_core.config",
    ),
    "dqn_core.train": ("dqn_core.experiment", "dqn_core.run"),
    "dqn_core.evaluate": ("dqn_core.run.evaluate", "dqn_core.run.video", "dqn_core.experiment"),
    "dqn_core.checkpoint": ("dqn_core.run.checkpoint",),
    "dqn_core.runlog": ("dqn_core.run.runlog",),
    "dqn_core.aggregate": ("dqn_core.results",),
    "dqn_core.stats": ("dqn_core.results.stats",),
    "dqn_core.reference": ("dqn_core.results.reference",),
}


class _MovedModule(types.ModuleType):
    """An old module path whose attributes resolve in the new modules."""

    _targets: Sequence[str]

    def __getattr__(self, name: str) -> Any:
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(
            f"module {self.__name__!r} has no attribute {name!r} "
            f"(it moved to {', '.join(self._targets)})"
        )


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _MovedModule(spec.name)
        module._targets = MOVED[spec.name]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        warnings.warn(
            f"{module.__name__} moved to {MOVED[module.__name__][0]}; the old path goes "
            "away in the next release",
            DeprecationWarning,
            stacklevel=2,
        )


def install() -> None:
    """Make the old module paths importable (idempotent)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        # First: an editable install of an older tree must not serve its stale files.
        sys.meta_path.insert(0, _MovedFinder())
