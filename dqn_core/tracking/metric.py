"""MLflow metric values: construction, name validation, timestamps, batch limit."""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.entities import Metric

#: MLflow's per-request limit (mlflow.utils.validation).
MAX_METRICS_PER_BATCH = 1000
_METRIC_NAME_RE = re.compile(r"^[/\w.\- :]+$")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _metric(key: str, value: float, timestamp: int, step: int) -> Metric:
    from mlflow.entities import Metric

    return Metric(key=key, value=value, timestamp=timestamp, step=step)


def _valid_metric_name(name: str) -> bool:
    if not name or len(name) > 250 or not _METRIC_NAME_RE.match(name):
        return False
    norm = os.path.normpath(name)
    return norm == name and not name.startswith(("/", ".."))
