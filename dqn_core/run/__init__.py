"""The run loop: training, evaluation, checkpoints and the run directory's logs.

:func:`train` runs (or resumes) one run in a run directory; it writes
everything there and hands metrics and files to a :class:`RunSink` (nothing by
default; :mod:`dqn_core.experiment` plugs in MLflow). Nothing here imports
MLflow, pandas or matplotlib.
"""

from dqn_core.run.checkpoint import CheckpointError, CheckpointManager
from dqn_core.run.evaluate import EpisodeResult, EvaluationStopped, evaluate_policy
from dqn_core.run.record import NonFiniteError, ScoreNormalizer
from dqn_core.run.signals import TrainingInterrupted
from dqn_core.run.sink import NullSink, RunSink
from dqn_core.run.state import BETA_STEPS_KEY, CHECKPOINT_FORMAT, EVAL_OWED_KEY, prepare_run_dir
from dqn_core.run.train import train
from dqn_core.run.trainer import Trainer

__all__ = [
    "BETA_STEPS_KEY",
    "CHECKPOINT_FORMAT",
    "EVAL_OWED_KEY",
    "CheckpointError",
    "CheckpointManager",
    "EpisodeResult",
    "EvaluationStopped",
    "NonFiniteError",
    "NullSink",
    "RunSink",
    "ScoreNormalizer",
    "Trainer",
    "TrainingInterrupted",
    "evaluate_policy",
    "prepare_run_dir",
    "train",
]
