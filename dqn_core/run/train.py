"""The training loop: act, store, learn, sync, evaluate, checkpoint, log.

One call of :func:`train` runs one (preset, game, seed) run in a run
directory, or resumes it from its newest valid checkpoint. Everything the run
produces lands in the run directory first (the source of truth) and is sent to
MLflow in batches when tracking is on.

Step accounting: ``step`` counts agent steps summed over the ``N`` parallel
environments, so one vector step adds ``N``. Every schedule (learning starts,
updates, target syncs, logging, evaluation, checkpoints) fires when ``step``
crosses a multiple of its period, which keeps the replay ratio (one update per
``train.train_frequency`` agent steps) independent of ``N``.

Resume: a checkpoint holds the learner (nets, optimizer), the replay memory,
every random stream and the counters. Episodes in flight when the checkpoint
was written are restarted on resume (environments are re-seeded from the step),
so a resumed run is a valid continuation, not a bit-exact replay of the
uninterrupted one; the learner, replay and random streams are exact.

Signals: SIGTERM/SIGINT set a flag that the loop polls once per iteration and
that an evaluation polls once per vector step, so a pre-empted run stops within
one loop iteration or one evaluation step plus one checkpoint write, not after
an evaluation of minutes. A signal inside the evaluation of step S abandons it
(nothing of it is written anywhere) and writes the checkpoint of step S with
the evaluation marked as owed, together with the training part of the log row
of S, which is complete. A resume from that checkpoint runs the owed evaluation
first (the same evaluation index, hence the same games on the same weights),
writes its eval.csv rows and the row of S once, checkpoints S again without the
mark and only then trains on; this holds for the final evaluation too.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from dqn_core.config import RunConfig
from dqn_core.envs.protocols import with_revision
from dqn_core.run.record import ScoreNormalizer
from dqn_core.run.sink import RunSink
from dqn_core.run.state import prepare_run_dir
from dqn_core.run.trainer import Trainer

log = logging.getLogger(__name__)


def train(
    config: RunConfig,
    run_dir: Path,
    *,
    sink: RunSink | None = None,
    normalizer: ScoreNormalizer | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train (or resume) one run; returns the summary written to ``summary.json``.

    A run directory whose ``summary.json`` already covers ``train.total_steps``
    is finished: its summary is returned and nothing is retrained. With a larger
    budget the run continues from its last checkpoint. ``sink``, ``normalizer``
    and ``quiet`` are :class:`~dqn_core.run.trainer.Trainer`'s; the harness's
    :func:`dqn_core.experiment.train` passes the MLflow tracker.
    """
    run_dir = Path(run_dir)
    config = with_revision(config)
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        prepare_run_dir(config, run_dir)
        summary: dict[str, Any] = json.loads(summary_path.read_text())
        if int(summary.get("steps", -1)) >= config.train.total_steps:
            log.info("%s already finished at step %d", run_dir, summary["steps"])
            return summary
        summary_path.unlink()  # an extended run is unfinished until it reaches the new budget
    return Trainer(config, run_dir, sink=sink, normalizer=normalizer, quiet=quiet).run()
