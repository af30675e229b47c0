"""dqn-harness: the DQN family (DQN to Rainbow) on Atari, reproducibly.

See ``docs/architecture.md`` for the module map and the contracts between
modules, and the README for the command line.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dqn-harness")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
