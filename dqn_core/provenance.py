"""Which code ran: the git commit of the installed source tree.

Foundation module (imports nothing from dqn_core): the run loop writes the
commit into ``summary.json``, the tracker into MLflow tags.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> tuple[str, str]:
    """(commit, dirty) of the code that runs: ``("unknown", "unknown")`` outside git.

    ``DQN_GIT_COMMIT`` overrides the lookup (container images have no ``.git``:
    bake the commit in at build time).
    """
    env = os.environ.get("DQN_GIT_COMMIT", "").strip()
    if env:
        return env, "unknown"
    here = Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], here)
    if not commit or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return "unknown", "unknown"
    status = _git(["status", "--porcelain", "--untracked-files=no"], here)
    return commit, "unknown" if status is None else str(bool(status)).lower()
