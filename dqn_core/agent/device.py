"""The torch device a run asks for (``train.device``), resolved once."""

from __future__ import annotations

import torch

from dqn_core.config import ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` means CUDA when available, else CPU; a CUDA device that is absent is refused.

    Raises:
        ConfigError: CUDA was asked for and is not available here.
    """
    if isinstance(name, str) and name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {str(name)!r} requested but CUDA is not available here")
    return dev
