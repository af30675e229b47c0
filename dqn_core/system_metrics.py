"""``system/*`` metrics sent to MLflow with each log point of a run.

MLflow's own monitor (``log_system_metrics``) writes from a thread of its own on a
step counter of its own, bypassing the tracker's outage handling. These are
sampled by the training loop instead, at the step (emulator frames) of each log
point, and go through the same sender as every other metric. The names follow
MLflow's (``system/cpu_utilization_percentage``...), so the UI files them
under "System metrics"; the ``process_*`` ones are this run's own process.
They are wall-clock measurements: never written to metrics.csv.
"""

from __future__ import annotations

import psutil
import torch


class SystemSampler:
    """CPU and memory of the machine and of this process, and GPU memory on CUDA.

    CPU percentages cover the time since the previous :meth:`sample` (or since
    the sampler was made).
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._process = psutil.Process()
        psutil.cpu_percent(interval=None)  # primes both counters
        self._process.cpu_percent(interval=None)

    def sample(self) -> dict[str, float]:
        mem = psutil.virtual_memory()
        out = {
            "system/cpu_utilization_percentage": float(psutil.cpu_percent(interval=None)),
            # Percent of one core: 200 is two cores busy.
            "system/process_cpu_percentage": float(self._process.cpu_percent(interval=None)),
            "system/system_memory_usage_megabytes": (mem.total - mem.available) / 1e6,
            "system/system_memory_usage_percentage": float(mem.percent),
            "system/process_memory_rss_megabytes": self._process.memory_info().rss / 1e6,
        }
        if self.device.type == "cuda" and torch.cuda.is_available():
            index = self.device.index if self.device.index is not None else 0
            out[f"system/gpu_{index}_memory_allocated_megabytes"] = (
                torch.cuda.memory_allocated(index) / 1e6
            )
            out[f"system/gpu_{index}_memory_reserved_megabytes"] = (
                torch.cuda.memory_reserved(index) / 1e6
            )
        return out
