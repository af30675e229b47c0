# Stage 0: create the MLflow store and the suite's experiment once, before the
# fan-out (several processes creating a fresh sqlite store at once corrupt it).
# The experiment id is recorded in the run tree; train jobs wait for it.


rule mlflow_init:
    output:
        f"{results_dir(SUITE)}/runs/mlflow-experiment.txt",
    log:
        f"{results_dir(SUITE)}/logs/mlflow_init.log",
    benchmark:
        f"{results_dir(SUITE)}/benchmarks/mlflow_init.tsv"
    params:
        suite=SUITE["suite"],
        # results/<suite>/runs/mlflow-experiment.txt -> results
        results_root=lambda wildcards, output: str(Path(output[0]).parents[2]),
        # Part of the job's parameters so that pointing the suite at another
        # store re-runs the initialisation there.
        tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "dqn mlflow-init --suite {params.suite:q} --results-root {params.results_root:q}"
        " > {output:q} 2> {log:q}"
