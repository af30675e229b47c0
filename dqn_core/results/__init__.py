"""Results of a suite: run folders read into pandas tables, beside the published numbers.

The modules, in the order the data flows (``dqn aggregate`` runs them all):

- :mod:`.reference`: loaders of the published numbers shipped in ``data/``
  (random/human scores, published per-game scores, Dopamine curves, Atari-100k
  per-run data), and the human-normalisation convention;
- :mod:`.stats`: rliable's aggregate metrics and stratified-bootstrap intervals;
- :mod:`.published`: the catalogue of which published numbers each preset is
  compared with, and the lookups into the reference tables;
- :mod:`.load`: every run directory of a suite into :class:`SuiteData`;
- :mod:`.per_game`, :mod:`.aggregates`: the per-game, aggregate and
  probability-of-improvement tables;
- :mod:`.render`: Markdown and LaTeX rendering of a table;
- :mod:`.tables`: :func:`aggregate_suite`, which builds and writes them all.

The names other code uses are re-exported here.
"""

from dqn_core.results import reference, stats
from dqn_core.results.aggregates import hns_matrix
from dqn_core.results.load import FINAL_EVAL_FILE, RUN_LAYOUT, SuiteData, load_suite
from dqn_core.results.published import (
    FRAMES_TOLERANCE,
    PUBLISHED_MATCHES,
    Published,
    PublishedMatch,
    find_match,
    frames_label,
    frames_match,
    published_lookup,
    reference_run_matrix,
    reference_runs_by_game,
    run_percentile,
)
from dqn_core.results.render import table_to_latex, table_to_markdown
from dqn_core.results.tables import aggregate_suite

__all__ = [
    "FINAL_EVAL_FILE",
    "FRAMES_TOLERANCE",
    "PUBLISHED_MATCHES",
    "RUN_LAYOUT",
    "Published",
    "PublishedMatch",
    "SuiteData",
    "aggregate_suite",
    "find_match",
    "frames_label",
    "frames_match",
    "hns_matrix",
    "load_suite",
    "published_lookup",
    "reference",
    "reference_run_matrix",
    "reference_runs_by_game",
    "run_percentile",
    "stats",
    "table_to_latex",
    "table_to_markdown",
]
