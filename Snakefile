# dqn-harness workflow: one suite = presets x games x seeds, trained, evaluated,
# aggregated and plotted. The suite is picked with `--config suite=NAME` (default
# smoke) from workflows/config/NAME.yaml, or given whole with `--configfile FILE`;
# any value can be overridden with `--config key=value`. See docs/workflow.md.
#
#   snakemake --profile workflows/profiles/default --cores 2            # smoke suite
#   snakemake --profile workflows/profiles/slurm --config suite=atari5  # on a cluster

from snakemake.utils import min_version

min_version("8.0")


include: "workflows/rules/common.smk"


# Resolve the suite (shipped file + command-line overrides), validate it against
# the schema, and fail before any job starts if it is wrong.
SUITE = load_suite(config, workflow.basedir)
config.clear()
config.update(SUITE)

# Jobs see the MLflow store through the environment; an exported
# MLFLOW_TRACKING_URI wins over the suite's and the default sqlite store.
os.environ.setdefault("MLFLOW_TRACKING_URI", tracking_uri(SUITE))


envvars:
    "MLFLOW_TRACKING_URI",


# Every job runs in the suite's image with --use-singularity (or --sdm apptainer),
# or in the pinned conda environment with --use-conda (its post-deploy script
# installs this source tree, found through DQN_HARNESS_SOURCE); without either,
# jobs use the `dqn` on PATH, or the one beside the Python running Snakemake.
container: SUITE["container"]


conda: "envs/environment.yaml"


os.environ.setdefault("DQN_HARNESS_SOURCE", str(workflow.basedir))
ensure_dqn_on_path()


report: "workflows/report/workflow.rst"


wildcard_constraints:
    preset=PRESET_PATTERN,
    game=GAME_PATTERN,
    seed=r"\d+",


localrules:
    all,
    mlflow_init,
    suite_config,
    aggregate,
    plot,
    report,


include: "workflows/rules/mlflow.smk"
include: "workflows/rules/train.smk"
include: "workflows/rules/evaluate.smk"
include: "workflows/rules/aggregate.smk"
include: "workflows/rules/plot.smk"
include: "workflows/rules/report.smk"


rule all:
    input:
        final_targets(SUITE),
    default_target: True
