"""Process settings for training and evaluating on the CPU: threads, subnormals, malloc.

:func:`configure_cpu` is what a training run (:class:`~dqn_core.run.trainer.Trainer`)
and ``dqn evaluate`` apply before they build a network. The settings are
per process (per thread for the subnormals), so they are applied there and not
at import time.

**Subnormal floats** (``train.flush_denormal``, on by default). Values below
float32's smallest normal number (1.2e-38) take a slow microcode path on x86
CPUs. DER's first Adam moments fill with them: the rows of parameters that stop
receiving gradient (dead units) decay by 0.9 an update through the subnormal
range (17% of the moments after 1,000 RoadRunner updates; 8-35% in the
``atari100k`` runs' checkpoints at 75k and 100k steps, all games but Assault;
the second moments had none). Measured inside
the training loop (RoadRunner, learning from step 1,600, updates 500-1,000, one
thread, Intel Xeon family 6 model 167): Adam's step took 6.5 ms of a 25.7 ms
update, against 2.0 ms with subnormals flushed. Flushing (FTZ and DAZ: results
and inputs below 1.2e-38 read as zero) changes only values that small, too small
to move a float32 parameter: over 8,400 DER updates every parameter, metric and
evaluation came out bit for bit the same with and without it. Runs with the flag
off reproduce the runs made before it existed (``config.yaml`` files without the
field read as off).

**Freed memory kept** (always on Linux with glibc, unless ``DQN_MALLOC=default``).
A DER update allocates and frees the same multi-megabyte tensors every step (the
float patches of two 32-frame batches are 3.2 MB each, the gradients 4.6 MB).
glibc serves large blocks with fresh ``mmap`` pages and trims the heap's free top
back to the kernel, so every update touched new pages: about 1,600 page faults an
update in the loop (``getrusage``). With a fixed mmap threshold of 32 MiB
(glibc's upper limit) and a trim threshold of 512 MiB, freed blocks stay in the
heap and are reused: 2 faults an update, the same values. It is process-wide;
only the training and evaluation entry points set it, never an import.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

import numpy as np
import torch

from dqn_core.config import TrainConfig

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit glibc
TRIM_THRESHOLD = 512 * 1024 * 1024

_malloc_tuned = False


def configure_cpu(train: TrainConfig) -> bool:
    """Apply ``train``'s torch threads and subnormal flushing, and keep freed memory.

    Call it before the first torch computation of the process: torch's worker
    threads inherit the subnormal mode of the thread that creates them, so the
    ones created later flush too.

    Returns:
        Whether the calling thread flushed subnormals before: hand it to
        :func:`flush_denormal` when the work is done, so that code running
        after it in this thread (numpy, hypothesis) computes as it expects.
    """
    before = subnormals_flushed()
    if train.torch_threads:
        torch.set_num_threads(train.torch_threads)
    flush_denormal(train.flush_denormal)
    retain_freed_memory()
    return before


def subnormals_flushed() -> bool:
    """Whether this thread flushes subnormal floats now (1e-30 x 1e-10 in float32 reads 0)."""
    return bool(np.float32(1e-30) * np.float32(1e-10) == 0)


def flush_denormal(enabled: bool) -> None:
    """Flush subnormal float results and inputs to zero (FTZ and DAZ) in this thread.

    Where the CPU cannot flush, subnormals are computed: slower, same results.
    """
    if not torch.set_flush_denormal(enabled) and enabled:
        log.debug("this CPU cannot flush subnormal floats; they stay (slower, same results)")


def retain_freed_memory() -> bool:
    """Tune glibc malloc to reuse freed blocks rather than return them (idempotent).

    Returns:
        True when the policy is in force (now or from an earlier call); False
        where it does not apply: not Linux, a C library without ``mallopt``
        (musl), glibc refusing the values, or ``DQN_MALLOC=default``.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return True
    if os.environ.get("DQN_MALLOC", "").strip().lower() == "default":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 when glibc refuses a value.
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    if not ok:
        log.debug("mallopt refused the thresholds; glibc's defaults stay")
        return False
    _malloc_tuned = True
    return True
