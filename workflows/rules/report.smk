# Stage 5: the resolved suite config next to its results, and the suite README
# that links tables and figures (`snakemake --report` builds the HTML report
# from the report() outputs of the aggregate and plot rules).


rule suite_config:
    output:
        f"{results_dir(SUITE)}/suite.yaml",
    log:
        f"{results_dir(SUITE)}/logs/suite_config.log",
    benchmark:
        f"{results_dir(SUITE)}/benchmarks/suite_config.tsv"
    params:
        text=suite_yaml(SUITE),
    threads: 1
    shell:
        "printf '%s' {params.text:q} > {output:q} 2> {log:q}"


rule report:
    input:
        suite=rules.suite_config.output[0],
        tables=rules.aggregate.output.tables,
        figures=rules.plot.output.figures,
    output:
        readme=f"{results_dir(SUITE)}/README.md",
    log:
        f"{results_dir(SUITE)}/logs/report.log",
    benchmark:
        f"{results_dir(SUITE)}/benchmarks/report.tsv"
    params:
        results=lambda wildcards, output: os.path.dirname(output.readme),
    threads: 1
    resources:
        mem_mb=SUITE["resources"]["report"]["mem_mb"],
        runtime=SUITE["resources"]["report"]["runtime"],
    shell:
        "dqn report {params.results:q} --suite-config {input.suite:q} > {log:q} 2>&1"
