# Stage 4: learning curves, aggregate curves and performance profiles.


rule plot:
    input:
        tables=rules.aggregate.output.tables,
        summaries=run_files(SUITE, "summary.json"),
    output:
        figures=report(
            directory(f"{results_dir(SUITE)}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        f"{results_dir(SUITE)}/logs/plot.log",
    benchmark:
        f"{results_dir(SUITE)}/benchmarks/plot.tsv"
    params:
        results=lambda wildcards, output: os.path.dirname(output.figures),
    threads: 1
    resources:
        mem_mb=SUITE["resources"]["report"]["mem_mb"],
        runtime=SUITE["resources"]["report"]["runtime"],
    shell:
        "MPLBACKEND=Agg dqn plot {params.results:q} > {log:q} 2>&1"
