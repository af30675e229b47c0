"""MLflow tracking that never blocks or kills training.

The run directory is the source of truth (``metrics.csv``, ``eval.csv``,
checkpoints); MLflow is a window onto it. This package keeps that window
complete without ever making training wait for it.

Modules, each one job:

``store``
    The tracking URI, the store and experiment created once under a file
    lock (:func:`init_store`, ``dqn mlflow-init``), MLflow clients.
``redact``
    Credentials masked in URIs and in every log message that names one.
``records``
    The params and tags of an MLflow run: config, versions, git commit.
``metric``
    MLflow metric values: names, timestamps, batch limit.
``mlflow_run``
    The MLflow run of a run directory, created once and continued on resume
    (``mlflow_run.json``).
``sender``
    The background thread that sends batches with retries, and
    ``mlflow_pending.jsonl`` for what it could not send.
``tracker``
    :class:`Tracker`, what the training loop calls.
``csv_metrics``
    What ``metrics.csv`` holds and the MLflow run lacks.
``sync``
    ``dqn mlflow-sync RUN_DIR``.
``evaluation``
    ``dqn evaluate`` results added to the run.
``model``
    A network exported as an MLflow model (``pt2``).

Importing the package sets no environment variable and imports no MLflow:
the first MLflow client (:func:`~dqn_core.tracking.store._client`) sets
``GIT_PYTHON_REFRESH=quiet`` and ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=true``
where the user has not set them.
"""

from dqn_core.tracking.csv_metrics import CSV_INDEX_COLUMNS, missing_from_csv
from dqn_core.tracking.evaluation import log_evaluation
from dqn_core.tracking.metric import MAX_METRICS_PER_BATCH
from dqn_core.tracking.mlflow_run import MAX_PARAMS_PER_BATCH, RUN_FILE
from dqn_core.tracking.records import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    VERSIONED_PACKAGES,
    git_commit,
)
from dqn_core.tracking.redact import redact
from dqn_core.tracking.sender import PENDING_FILE
from dqn_core.tracking.store import (
    TrackingError,
    default_tracking_uri,
    init_store,
    mlflow_init,
    sqlite_path,
)
from dqn_core.tracking.sync import sync_from_csv
from dqn_core.tracking.tracker import STATUSES, Tracker

__all__ = [
    "CSV_INDEX_COLUMNS",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_PER_BATCH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "PENDING_FILE",
    "RUN_FILE",
    "STATUSES",
    "VERSIONED_PACKAGES",
    "Tracker",
    "TrackingError",
    "default_tracking_uri",
    "git_commit",
    "init_store",
    "log_evaluation",
    "missing_from_csv",
    "mlflow_init",
    "redact",
    "sqlite_path",
    "sync_from_csv",
]
