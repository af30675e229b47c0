"""The cluster path for real: the smoke suite on a one-node SLURM cluster.

Opt-in (marker `cluster`, `make cluster-test`; root, Debian's slurm-wlm,
munge, slurmdbd and mariadb-server; about 10 minutes). It starts

- a real SLURM 22.05 cluster on this machine with
  `scripts/cluster/slurm-cluster.sh` (munged, mariadbd, slurmdbd, slurmctld,
  slurmd; everything in a temporary directory), and
- a real `mlflow server` on 127.0.0.1 with a sqlite store in WAL mode,

then runs the smoke suite (8 runs: seeds 0-3) through the shipped profile,
`workflows/profiles/slurm`, with only the command-line overrides a user would
give: the account, the CPU partition, and a faster first status check. No
apptainer exists here, so `tests/apptainer_shim/apptainer` stands in for it
(the profile's `apptainer --nv` path is kept; the shim runs each job on the
host and records what Snakemake asked for). While the suite runs, one train
job is requeued (`scontrol requeue`, SLURM's pre-emption) and another
cancelled (`scancel`, retried by the profile's `retries`), each after its
first checkpoint. Then it checks:

- every train and evaluate job was a SLURM job (`sacct`), in the `cpu`
  partition; at least 8 ran at once;
- the cut runs resumed from their checkpoints (their job logs say so);
- each job's log is where docs/workflow.md says, and the SLURM log of the
  cancelled attempt is kept;
- every metric of every run reached the tracking server;
- the results hold the same files as a local run of the same suite.

Every daemon it started is stopped at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from faults import assert_mlflow_mirrors_csv, free_port, read_csv
from test_workflow import PROFILES, REPO, SHIM_DIR, job_env, snakemake_cmd

CLUSTER_SCRIPT = REPO / "scripts" / "cluster" / "slurm-cluster.sh"
DAEMONS = ("munged", "mariadb", "slurmdbd", "slurmctld", "slurmd")
NEEDED = ("munged", "slurmctld", "slurmd", "slurmdbd", "mariadbd", "sbatch", "sacct", "scontrol")
SUITE = "smoke"
SEEDS = (0, 1, 2, 3)
GAMES = ("Pong", "Breakout")
BUDGET = 3000  # the smoke suite's agent steps
REQUEUED = ("Pong", 1)  # scontrol requeue: SLURM runs the same job again
CANCELLED = ("Breakout", 2)  # scancel: the profile's retries submit it again
RESUME_RE = re.compile(r"resuming from ckpt-(\d{12})\.pt at step (\d+)")
# What a user adds to the shipped profile for the CPU-only smoke suite on this
# cluster (docs/workflow.md). The first status check after 10 s instead of 40 s
# only shortens the test.
USER_OVERRIDES = (
    "--default-resources",
    "slurm_account=dqn",
    "--set-resources",
    "train:slurm_partition=cpu",
    "evaluate:slurm_partition=cpu",
    "--slurm-init-seconds-before-status-checks",
    "10",
)


def _skip_unless_possible() -> None:
    if os.geteuid() != 0:
        pytest.skip("the test cluster's daemons need root")
    missing = [b for b in NEEDED if shutil.which(b) is None]
    if missing:
        pytest.skip(
            f"missing {', '.join(missing)}: apt-get install slurm-wlm munge slurmdbd mariadb-server"
        )
    if importlib_missing("snakemake_executor_plugin_slurm"):
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')")


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


# ---------------------------------------------------------------- the cluster
@dataclass
class Slurm:
    root: Path
    env: dict[str, str]  # SLURM_CONF for every SLURM command

    def run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(args, capture_output=True, text=True, env=self.env, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc.stdout

    def pids(self) -> dict[str, int]:
        """The daemons' pids from their pidfiles (those that exist)."""
        out = {}
        for name in DAEMONS:
            pidfile = self.root / "run" / f"{name}.pid"
            if pidfile.exists() and pidfile.read_text().strip().isdigit():
                out[name] = int(pidfile.read_text())
        return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    _skip_unless_possible()
    root = tmp_path_factory.mktemp("slurm")
    cluster = Slurm(root, {**os.environ, "SLURM_CONF": str(root / "etc" / "slurm.conf")})
    started: dict[str, int] = {}
    try:
        proc = subprocess.run(
            ["bash", str(CLUSTER_SCRIPT), "up", str(root)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        started = cluster.pids()
        assert proc.returncode == 0, f"the cluster did not start:\n{proc.stderr}"
        assert set(started) == set(DAEMONS), started
        yield cluster
    finally:
        started = started or cluster.pids()
        down = subprocess.run(
            ["bash", str(CLUSTER_SCRIPT), "down", str(root)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        print(down.stderr, file=sys.stderr)
        left = {name: pid for name, pid in started.items() if _alive(pid)}
        assert not left, f"daemons still running after `down`: {left}"


# ------------------------------------------------------ the tracking server
@dataclass
class Tracking:
    url: str
    db: Path


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracking]:
    """`mlflow server` on 127.0.0.1: sqlite in WAL mode, 2 workers, no job runner.

    WAL lets the server's readers go on while one worker writes; 8 jobs logging
    a row every few seconds are far below what one sqlite file takes, so no
    PostgreSQL is needed. The journal mode is set before MLflow creates its
    tables and stays with the file.
    """
    root = tmp_path_factory.mktemp("mlflow")
    db = root / "mlflow.db"
    with contextlib.closing(sqlite3.connect(db)) as con:
        assert con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    port = free_port()
    env = {**job_env(root), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cmd = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "2", "--backend-store-uri", f"sqlite:///{db}",
        "--artifacts-destination", str(root / "artifacts"),
    ]  # fmt: skip
    with (root / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, root / "server.log")
        yield Tracking(url, db)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow server exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"mlflow server at {url} did not answer within {timeout:.0f} s")


# ------------------------------------------------------------------ helpers
def run_dir(work: Path, game: str, seed: int) -> Path:
    return work / "results" / SUITE / "runs" / "nature-dqn" / game / f"seed{seed}"


def suite_args() -> list[str]:
    return ["--config", f"suite={SUITE}", f"seeds=[{','.join(map(str, SEEDS))}]"]


def slurm_job_of(work: Path, game: str, seed: int) -> str | None:
    """The SLURM job id of a run's newest train submission (its SLURM log's name)."""
    logs = work / ".snakemake" / "slurm_logs" / "rule_train" / f"nature-dqn_{game}_{seed}"
    ids = sorted((int(p.stem) for p in logs.glob("*.log")), reverse=True) if logs.is_dir() else []
    return str(ids[0]) if ids else None


def has_checkpoint(work: Path, game: str, seed: int) -> bool:
    return any((run_dir(work, game, seed) / "checkpoints").glob("ckpt-*.pt"))


@dataclass
class Cut:
    how: str  # "requeue" or "cancel"
    game: str
    seed: int
    job: str = ""
    at: float = 0.0
    released: bool = False


def watch(
    proc: subprocess.Popen[bytes], slurm: Slurm, work: Path, timeout: float
) -> tuple[int, list[Cut]]:
    """Wait for Snakemake; meanwhile count running jobs and cut two runs after a checkpoint."""
    cuts = [Cut("requeue", *REQUEUED), Cut("cancel", *CANCELLED)]
    most_running = 0
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.send_signal(signal.SIGINT)  # Snakemake cancels its SLURM jobs
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=120)
            raise AssertionError(f"the suite did not finish within {timeout:.0f} s")
        running = slurm.run("squeue", "-h", "-t", "R", "-o", "%i", check=False).split()
        most_running = max(most_running, len(running))
        for cut in cuts:
            if cut.job or not has_checkpoint(work, cut.game, cut.seed):
                continue
            job = slurm_job_of(work, cut.game, cut.seed)
            if job is None or job not in running:
                continue
            if cut.how == "requeue":
                slurm.run("scontrol", "requeue", job)
            else:
                slurm.run("scancel", job)
            cut.job, cut.at = job, time.monotonic()
        for cut in cuts:
            # SLURM holds a requeued job for 120 s once it has been stopped
            # (pending, reason BeginTime); release it then to keep the test short.
            if cut.how == "requeue" and cut.job and not cut.released:
                state = slurm.run("squeue", "-h", "-j", cut.job, "-o", "%T %r", check=False)
                if state.split() == ["PENDING", "BeginTime"]:
                    slurm.run("scontrol", "update", f"JobId={cut.job}", "StartTime=now")
                    cut.released = True
        time.sleep(1)
    return most_running, cuts


SACCT_FIELDS = ("JobIDRaw", "JobName", "State", "Partition", "Submit", "Start", "End", "Comment")


def sacct(slurm: Slurm, name: str) -> list[dict[str, str]]:
    """Every record (requeued attempts too) of the jobs named `name` (the run's SLURM run id)."""
    out = slurm.run(
        "sacct", "-X", "--duplicates", "--parsable2", "--noheader", "--starttime", "now-1days",
        "--name", name, f"--format={','.join(SACCT_FIELDS)}",
    )  # fmt: skip
    rows = [dict(zip(SACCT_FIELDS, line.split("|"), strict=True)) for line in out.splitlines()]
    return rows


SUBMITTED_RE = re.compile(
    r"Job \d+ has been submitted with SLURM jobid (\d+) "
    r"\(log: .*/slurm_logs/rule_(\w+)/([^/]+)/\1\.log\)"
)


def submissions(output: str) -> dict[str, tuple[str, str]]:
    """SLURM job id -> (rule, wildcards) from Snakemake's submission lines (and log paths)."""
    return {m[0]: (m[1], m[2]) for m in SUBMITTED_RE.findall(output)}


def max_overlap(rows: list[dict[str, str]]) -> int:
    """The most records whose [Start, End) intervals overlap at one moment."""
    events = []
    for r in rows:
        if r["Start"] in ("", "Unknown", "None") or r["End"] in ("", "Unknown"):
            continue
        events.append((datetime.fromisoformat(r["Start"]), 1))
        events.append((datetime.fromisoformat(r["End"]), -1))
    level = best = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        level += delta
        best = max(best, level)
    return best


def file_set(results: Path) -> set[str]:
    """Relative paths under results/, each run's game and seed as <run>, checkpoints numbered N."""
    out = set()
    for path in results.rglob("*"):
        if path.is_file():
            rel = path.relative_to(results).as_posix()
            rel = re.sub(r"/(Pong|Breakout)/seed\d+", "/<run>", rel)
            rel = re.sub(r"_(Pong|Breakout)\.(png|svg)$", r"_<game>.\2", rel)  # per-game figures
            rel = re.sub(r"ckpt-\d{12}", "ckpt-N", rel)
            out.add(rel)
    return out


# --------------------------------------------------------------------- test
@pytest.mark.cluster
@pytest.mark.timeout(2400)
def test_smoke_suite_on_a_real_slurm_cluster_with_a_shared_mlflow_server(
    slurm: Slurm, tracking: Tracking, tmp_path: Path
) -> None:
    work = tmp_path / "cluster"
    work.mkdir()
    # The profile runs every job under `apptainer exec --nv <image>`: the shim
    # stands in for apptainer and needs the image file to exist, as apptainer does.
    (work / "dqn-harness.sif").write_text("stand-in image: tests/apptainer_shim runs the jobs\n")
    env = job_env(tmp_path, **slurm.env)
    env.update(
        SLURM_CONF=slurm.env["SLURM_CONF"],
        MLFLOW_TRACKING_URI=tracking.url,
        APPTAINER_SHIM_LOG=str(tmp_path / "apptainer.jsonl"),
        PATH=os.pathsep.join([str(SHIM_DIR), env["PATH"]]),
    )

    # A local run of the same suite (one run of it) for the file-set comparison,
    # beside the cluster run: the default profile, its own embedded sqlite store.
    local = tmp_path / "local"
    local.mkdir()
    local_env = job_env(tmp_path)
    local_cmd = snakemake_cmd(
        local, "--profile", str(PROFILES / "default"), "--cores", "1",
        "--config", f"suite={SUITE}", "seeds=[0]", "games=[Pong]",
    )  # fmt: skip
    started = time.monotonic()
    with (tmp_path / "local.log").open("wb") as log:
        local_proc = subprocess.Popen(
            ["nice", "-n", "5", *local_cmd], stdout=log, stderr=subprocess.STDOUT, env=local_env
        )
    cmd = snakemake_cmd(work, "--profile", str(PROFILES / "slurm"), *suite_args(), *USER_OVERRIDES)
    with (tmp_path / "snakemake.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    finished = False
    try:
        most_running, cuts = watch(proc, slurm, work, timeout=1800)
        finished = True
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Snakemake cancels its SLURM jobs
            proc.wait(timeout=120)
        if finished and local_proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                local_proc.wait(timeout=900)
        if local_proc.poll() is None:
            local_proc.send_signal(signal.SIGINT)
            local_proc.wait(timeout=120)
    wall = time.monotonic() - started
    output = (tmp_path / "snakemake.log").read_text(errors="replace")
    assert proc.returncode == 0, f"the suite failed on the cluster:\n{output[-8000:]}"
    assert local_proc.returncode == 0, (tmp_path / "local.log").read_text()[-4000:]
    run_uuid = re.search(r"SLURM run ID: ([0-9a-f-]{36})", output).group(1)

    # --- every train/evaluate job was a SLURM job, in the cpu partition
    rows = sacct(slurm, run_uuid)
    listing = "\n".join("|".join(r[f] for f in SACCT_FIELDS) for r in rows)
    print(f"\nsacct of the suite's jobs (run id {run_uuid}):\n{'|'.join(SACCT_FIELDS)}\n{listing}")
    submitted = submissions(output)
    assert {r["JobIDRaw"] for r in rows} == set(submitted), (submitted, listing)
    by_rule: dict[str, dict[str, list[dict[str, str]]]] = {}
    for r in rows:
        rule, wildcards = submitted[r["JobIDRaw"]]
        # The executor's --comment, kept by AccountingStoreFlags=job_comment.
        assert r["Comment"] == f"rule_{rule}_wildcards_{wildcards}", r
        by_rule.setdefault(rule, {}).setdefault(wildcards, []).append(r)
    expected = {f"nature-dqn_{g}_{s}" for g in GAMES for s in SEEDS}
    assert set(by_rule) == {"train", "evaluate"}, listing  # the rest are localrules
    for rule in ("train", "evaluate"):
        assert set(by_rule[rule]) == expected, (rule, listing)
        for wildcards, records in by_rule[rule].items():
            assert records[-1]["State"] == "COMPLETED", (rule, wildcards, listing)
            assert {r["Partition"] for r in records} == {"cpu"}, listing

    # --- at least 8 jobs at once
    overlap = max_overlap([r for r in rows if r["State"] != "CANCELLED"])
    print(f"most jobs running at once: {most_running} (squeue), {overlap} (sacct times)")
    assert most_running >= 8 and overlap >= 8, (most_running, overlap)

    # --- the cut runs: cut after a checkpoint, resumed from it, same SLURM job or a retry
    for cut in cuts:
        assert cut.job, f"{cut.how} never happened: {cut.game} seed {cut.seed} finished first"
        records = by_rule["train"][f"nature-dqn_{cut.game}_{cut.seed}"]
        states = [(r["JobIDRaw"], r["State"]) for r in records]
        if cut.how == "requeue":
            # One SLURM job: the requeued attempt, then the one that completed.
            assert {r["JobIDRaw"] for r in records} == {cut.job}, states
            assert [s for _, s in states] == ["REQUEUED", "COMPLETED"], states
        else:
            # The cancelled job, then the profile's retry as a new SLURM job.
            # sacct says "CANCELLED by <uid>"
            assert states[0][0] == cut.job and states[0][1].startswith("CANCELLED"), states
            assert states[-1][1] == "COMPLETED" and states[-1][0] != cut.job, states
            assert len(states) == 2, states
            # The plugin keeps a failed job's SLURM log where it said it would be.
            slurm_log = (
                work / ".snakemake" / "slurm_logs" / "rule_train"
                / f"nature-dqn_{cut.game}_{cut.seed}" / f"{cut.job}.log"
            )  # fmt: skip
            assert slurm_log.is_file(), slurm_log
        log = work / "results" / SUITE / "logs" / "train" / "nature-dqn" / cut.game
        text = (log / f"seed{cut.seed}.log").read_text()
        resumed = RESUME_RE.findall(text)
        assert resumed, f"{cut.how}: the run started over instead of resuming:\n{text[-3000:]}"
        print(f"{cut.how} of job {cut.job} ({cut.game} seed {cut.seed}): {states}; log: "
              f"resuming from ckpt-{resumed[-1][0]}.pt at step {resumed[-1][1]}")  # fmt: skip
        assert 0 < int(resumed[-1][1]) < BUDGET
        summary = json.loads((run_dir(work, cut.game, cut.seed) / "summary.json").read_text())
        assert summary["steps"] == BUDGET, summary
    assert "Trying to restart job" in output  # the retry of the cancelled job

    # --- logs where the docs say; every metric of every run on the tracking server
    for game in GAMES:
        for seed in SEEDS:
            for rule in ("train", "evaluate"):
                log = (
                    work
                    / "results"
                    / SUITE
                    / "logs"
                    / rule
                    / "nature-dqn"
                    / game
                    / f"seed{seed}.log"
                )
                assert log.is_file() and log.stat().st_size > 0, log
            rd = run_dir(work, game, seed)
            assert json.loads((rd / "mlflow_run.json").read_text())["tracking_uri"] == tracking.url
            assert len(read_csv(rd / "metrics.csv")) >= BUDGET // 500
            assert_mlflow_mirrors_csv(tracking.url, rd)
    with contextlib.closing(sqlite3.connect(tracking.db)) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        runs = con.execute(
            "SELECT r.name FROM runs r JOIN experiments e USING (experiment_id) WHERE e.name = ?",
            (SUITE,),
        ).fetchall()
    names = sorted(n for (n,) in runs)
    assert names == sorted(
        [f"{g}-nature-dqn-s{s}" for g in GAMES for s in SEEDS] + [f"suite-{SUITE}"]
    )

    # --- every job went through the profile's apptainer --nv path (the shim)
    calls = [json.loads(line) for line in (tmp_path / "apptainer.jsonl").read_text().splitlines()]
    execs = [c for c in calls if c["command"] == "exec"]
    assert sum("dqn train " in c["job"][-1] for c in execs) == len(GAMES) * len(SEEDS) + 2
    assert all(c["image"] == "dqn-harness.sif" and c["nv"] for c in execs)

    # --- the same files as a local run (each run's files, the suite's tables, figures, logs)
    cluster_files = file_set(work / "results")
    local_files = file_set(local / "results")
    # The local run's embedded store (mlflow.db, its lock, mlartifacts/); the cluster's is the server.
    local_files = {f for f in local_files if not f.startswith(("mlflow.db", "mlartifacts/"))}
    assert cluster_files == local_files, (
        f"only on the cluster: {sorted(cluster_files - local_files)}; "
        f"only local: {sorted(local_files - cluster_files)}"
    )
    print(f"suite on the cluster, and the local run beside it: {wall:.0f} s")


def test_cluster_helpers_on_fixed_text() -> None:
    """Submission lines, overlap and file sets, on fixed input (no cluster needed)."""
    out = (
        "Job 9 has been submitted with SLURM jobid 41 (log: /w/.snakemake/slurm_logs/"
        "rule_train/nature-dqn_Pong_1/41.log).\n"
        "Job 3 has been submitted with SLURM jobid 52 (log: /w/.snakemake/slurm_logs/"
        "rule_evaluate/nature-dqn_Breakout_0/52.log).\n"
    )
    assert submissions(out) == {
        "41": ("train", "nature-dqn_Pong_1"),
        "52": ("evaluate", "nature-dqn_Breakout_0"),
    }
    t = "2026-01-01T00:00:"
    rows = [
        {"Start": f"{t}01", "End": f"{t}09"},
        {"Start": f"{t}05", "End": f"{t}20"},
        {"Start": f"{t}09", "End": f"{t}12"},  # starts when the first ends: not 3 at once
        {"Start": "Unknown", "End": "Unknown"},  # pending
    ]
    assert max_overlap(rows) == 2
