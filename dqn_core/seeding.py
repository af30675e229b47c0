"""One root seed, split into named, independent random streams.

No library code touches global random state: every component that needs
randomness receives its own ``numpy.random.Generator`` (or ``torch.Generator``)
from :class:`Seeds`, and the state of every stream can be saved and restored so
that a resumed run draws exactly what an uninterrupted run would have drawn.
"""

from __future__ import annotations

import hashlib
import os
import random
from typing import Any

import numpy as np
import torch

#: Every stream name the package draws from. Adding a name never changes the
#: others' draws: each stream is spawned from the root with a key derived from
#: its whole name (:func:`stream_key`); tests/test_seeding.py checks that every
#: name used in the code is listed here and that no two share a key.
STREAMS = (
    "env",  # training environments (ALE/gymnasium seeds, per start step)
    "eval_env",  # evaluation environments (per evaluation index)
    "eval_policy",  # evaluation epsilon draws (per evaluation index)
    "eval_noise",  # noisy-net noise of evaluations under eval.noisy (per update count)
    "exploration",  # training epsilon-greedy draws
    "replay",  # replay sampling
    "init",  # network initialisation
    "noise",  # noisy-net noise during training
    "augment",  # DrQ augmentation of replay batches (agent.augmentation: drq)
    "noop_starts",  # no-op starts of the Python wrapper stack
    "action_space",  # gymnasium action_space.seed
    "vec_env",  # per-env seeds of a vector env
    "video",  # the video episode's environment
    "video_policy",  # the video episode's epsilon draws
    "probe",  # the throwaway env that tells shapes
    "python-global",  # Python's global random (third-party code only)
    "torch-global",  # torch's global generator (third-party code only)
)

#: Version of the name-to-key rule. 1: the first 4 bytes of the name (so
#: ``eval_env``/``eval_policy``/``eval_noise`` shared one stream, as did
#: ``video``/``video_policy``); 2: a hash of the whole name. Checkpoints record
#: it; training refuses to resume a checkpoint of another version.
STREAM_KEY_VERSION = 2


def stream_key(name: str) -> int:
    """The spawn key of stream ``name``: the first 8 bytes of BLAKE2b(name), little-endian.

    Stable across Python processes and versions (unlike ``hash``), and a
    function of every byte of the name.
    """
    if not name:
        raise ValueError("stream name: must not be empty")
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def stream_seed(root: int, name: str) -> np.random.SeedSequence:
    """The SeedSequence of stream ``name`` under root seed ``root``."""
    return np.random.SeedSequence(entropy=root, spawn_key=(stream_key(name),))


def int_seed(root: int, name: str, index: int = 0) -> int:
    """A 31-bit integer seed for APIs that take ints (ALE, gymnasium reset)."""
    ss = np.random.SeedSequence(entropy=root, spawn_key=(stream_key(name), index))
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


class Seeds:
    """Named generators derived from one root seed.

    ``Seeds(1).numpy("replay")`` always returns the same generator object for
    the same name, so state saved with :meth:`state_dict` covers every draw.
    """

    def __init__(self, root: int) -> None:
        if not isinstance(root, int) or isinstance(root, bool) or root < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {root!r}")
        self.root = root
        self._np: dict[str, np.random.Generator] = {}
        self._torch: dict[str, torch.Generator] = {}

    def numpy(self, name: str) -> np.random.Generator:
        if name not in self._np:
            self._np[name] = np.random.Generator(np.random.PCG64(stream_seed(self.root, name)))
        return self._np[name]

    def torch(self, name: str, device: str | torch.device = "cpu") -> torch.Generator:
        if name not in self._torch:
            g = torch.Generator(device=device)
            g.manual_seed(int_seed(self.root, name))
            self._torch[name] = g
        return self._torch[name]

    def int(self, name: str, index: int = 0) -> int:
        return int_seed(self.root, name, index)

    def state_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "key_version": STREAM_KEY_VERSION,
            "numpy": {k: generator_state(g) for k, g in self._np.items()},
            "torch": {k: g.get_state() for k, g in self._torch.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["root"] != self.root:
            raise ValueError(f"seed: checkpoint has root seed {state['root']}, run has {self.root}")
        version = state.get("key_version", 1)
        if version != STREAM_KEY_VERSION:
            raise ValueError(
                f"seed: the checkpoint's random streams were keyed by rule {version}, this "
                f"dqn-harness uses rule {STREAM_KEY_VERSION} (rule 1 keyed a stream by the first "
                "4 bytes of its name, so evaluation seeds and epsilon draws shared a stream); "
                "resuming would mix the two. Start a new run directory, or finish the run with "
                "the dqn-harness version that began it. Its policy/*.pt files still load for "
                "`dqn evaluate`."
            )
        for k, s in state["numpy"].items():
            set_generator_state(self.numpy(k), s)
        for k, s in state["torch"].items():
            self.torch(k).set_state(s)


def generator_state(g: np.random.Generator) -> dict[str, Any]:
    """A numpy Generator's state as plain ints and strings (safe for weights_only loads).

    PCG64's 128-bit state words are split into hex strings so that no
    arbitrary-size integers need pickling.
    """
    st = g.bit_generator.state
    return {
        "bit_generator": st["bit_generator"],
        "state": format(st["state"]["state"], "x"),
        "inc": format(st["state"]["inc"], "x"),
        "has_uint32": int(st["has_uint32"]),
        "uinteger": int(st["uinteger"]),
    }


def set_generator_state(g: np.random.Generator, s: dict[str, Any]) -> None:
    g.bit_generator.state = {
        "bit_generator": s["bit_generator"],
        "state": {"state": int(s["state"], 16), "inc": int(s["inc"], 16)},
        "has_uint32": int(s["has_uint32"]),
        "uinteger": int(s["uinteger"]),
    }


def set_determinism(enabled: bool) -> None:
    """Switch torch to deterministic kernels (bit-exact results on CPU).

    On CUDA this also needs ``CUBLAS_WORKSPACE_CONFIG``; it costs speed, so it
    is off unless ``train.deterministic`` is true.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(enabled, warn_only=False)
    torch.backends.cudnn.deterministic = enabled


def seed_global_libraries(root: int) -> None:
    """Seed Python's and torch's global generators for third-party code we call.

    Our own code never draws from them; this only pins libraries that do.
    """
    random.seed(int_seed(root, "python-global"))
    torch.manual_seed(int_seed(root, "torch-global"))
