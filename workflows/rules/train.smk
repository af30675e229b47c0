# Stage 1: one training job per (preset, game, seed).
#
# The only declared output is summary.json, which `dqn train` writes last and
# atomically: Snakemake deletes declared outputs of failed or interrupted jobs,
# so the run directory itself (checkpoints, metrics.csv, eval.csv) survives a
# crash, and the re-run of the same command (`--rerun-incomplete`, `--retries`)
# resumes from its last checkpoint instead of starting over.


rule train:
    input:
        # ancient(): re-initialising the store must not retrain finished runs. Suites
        # whose runs are committed (atari100k) commit this marker too, so a fresh
        # clone does not plan mlflow_init, whose output would count as an updated
        # input and retrain them; their new runs then create the store themselves
        # (tracking.init_store is safe when many processes race on a fresh store).
        mlflow=ancient(rules.mlflow_init.output[0]) if SUITE["mlflow"]["enabled"] else [],
    output:
        summary=f"{results_dir(SUITE)}/runs/{{preset}}/{{game}}/seed{{seed}}/summary.json",
    log:
        # Snakemake deletes it when it starts the job, so it tells the latest
        # attempt only (a resumed one says "resuming from ckpt-..."); on a
        # cluster, a failed attempt's SLURM log is kept (docs/workflow.md).
        f"{results_dir(SUITE)}/logs/train/{{preset}}/{{game}}/seed{{seed}}.log",
    benchmark:
        f"{results_dir(SUITE)}/benchmarks/train/{{preset}}/{{game}}/seed{{seed}}.tsv"
    params:
        run_dir=lambda wildcards, output: os.path.dirname(output.summary),
        args=train_args(SUITE),
    threads: SUITE["resources"]["train"]["threads"]
    resources:
        gpu=SUITE["resources"]["train"]["gpu"],
        mem_mb=SUITE["resources"]["train"]["mem_mb"],
        runtime=SUITE["resources"]["train"]["runtime"],
    # torch's threads follow the job's (which Snakemake lowers to --cores); they
    # are not in params, so running with other --cores does not rerun finished jobs.
    shell:
        "dqn train --preset {wildcards.preset:q} --game {wildcards.game:q}"
        " --seed {wildcards.seed} --run-dir {params.run_dir:q}"
        " --set train.torch_threads={threads} {params.args} >> {log:q} 2>&1"
