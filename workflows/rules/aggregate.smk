# Stage 3: every run's scores into per-game and aggregate tables (csv, md, tex),
# side by side with the published numbers of the suite's protocol.


rule aggregate:
    input:
        summaries=run_files(SUITE, "summary.json"),
        scores=run_files(SUITE, "evaluate.csv"),
    output:
        tables=report(
            directory(f"{results_dir(SUITE)}/tables"),
            patterns=["{name}.csv"],
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        f"{results_dir(SUITE)}/logs/aggregate.log",
    benchmark:
        f"{results_dir(SUITE)}/benchmarks/aggregate.tsv"
    params:
        results=lambda wildcards, output: os.path.dirname(output.tables),
    threads: 1
    resources:
        mem_mb=SUITE["resources"]["report"]["mem_mb"],
        runtime=SUITE["resources"]["report"]["runtime"],
    shell:
        "dqn aggregate {params.results:q} > {log:q} 2>&1"
