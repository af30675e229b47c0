"""dqn-harness: the DQN family (DQN to Rainbow) on Atari, reproducibly.

See ``docs/architecture.md`` for the module map and the contracts between
modules, and the README for the command line.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dqn-harness")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

from dqn_core import _compat

_compat.install()  # the module paths of the flat layout, for one release

__all__ = ["__version__"]
