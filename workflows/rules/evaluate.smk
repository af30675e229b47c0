# Stage 2: the final evaluation of each finished run under the suite's protocol
# (the periodic evaluations during training are in the run's eval.csv).


rule evaluate:
    input:
        # ancient(): a checkout writes summary.json after evaluate.csv (alphabetical),
        # which must not re-evaluate committed runs; a run that trains again is
        # still re-evaluated (its train job runs first).
        summary=ancient(rules.train.output.summary),
    output:
        scores=f"{results_dir(SUITE)}/runs/{{preset}}/{{game}}/seed{{seed}}/evaluate.csv",
        **(
            {"video": f"{results_dir(SUITE)}/runs/{{preset}}/{{game}}/seed{{seed}}/evaluate.mp4"}
            if SUITE["evaluation"]["video"]
            else {}
        ),
    log:
        f"{results_dir(SUITE)}/logs/evaluate/{{preset}}/{{game}}/seed{{seed}}.log",
    benchmark:
        f"{results_dir(SUITE)}/benchmarks/evaluate/{{preset}}/{{game}}/seed{{seed}}.tsv"
    params:
        run_dir=lambda wildcards, input: os.path.dirname(input.summary),
        episodes=SUITE["evaluation"]["final_episodes"],
        video=lambda wildcards, output: (
            f"--video {shlex.quote(output.video)}" if "video" in output.keys() else ""
        ),
    # Before any new training job: a run is finished (scores, tables) as soon as it
    # can be, so that a campaign cut off (a session's end, a cluster's time limit)
    # leaves whole runs rather than many trained but unevaluated ones.
    priority: 10
    threads: SUITE["resources"]["evaluate"]["threads"]
    resources:
        gpu=SUITE["resources"]["evaluate"]["gpu"],
        mem_mb=SUITE["resources"]["evaluate"]["mem_mb"],
        runtime=SUITE["resources"]["evaluate"]["runtime"],
    shell:
        "dqn evaluate --run-dir {params.run_dir:q} --episodes {params.episodes}"
        " --out {output.scores:q} {params.video} > {log:q} 2>&1"
