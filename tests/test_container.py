"""The container path: Snakemake's --use-singularity jobs, and the image itself.

No apptainer exists on the test machines, so `tests/apptainer_shim/apptainer`
stands in for it on PATH: it records what Snakemake asked for (image, --nv,
binds) and runs each job's command, inside the podman image named by
$APPTAINER_SHIM_PODMAN_IMAGE when that is set and podman exists, on the host
otherwise. The integration test runs a tiny suite through it and checks that
every job went through apptainer with the configured image and --nv, and that
the suite's outputs are complete.

Tests marked `container` (opt-in: `make container-test`, never in CI) build the
image from the Dockerfile with podman on a locally made Debian base, run
`dqn --help` and a tiny `dqn train` inside it, and run the suite through the
shim inside that image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from test_workflow import (
    PROFILES,
    REPO,
    SHIM_DIR,
    TINY,
    config_args,
    job_env,
    needs_cli,
    run,
    snakemake_cmd,
)

TEST_IMAGE = "localhost/dqn-harness:test"
BASE_IMAGE = "localhost/bookworm-minbase"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
RULES_PER_SUITE = ("mlflow_init", "suite_config", "aggregate", "plot", "report")


def shim_env(tmp_path: Path, podman_image: str | None = None) -> dict[str, str]:
    """A job environment whose `apptainer` is the shim, logging to tmp_path/apptainer.jsonl."""
    env = job_env(tmp_path, APPTAINER_SHIM_LOG=str(tmp_path / "apptainer.jsonl"))
    env["PATH"] = os.pathsep.join([str(SHIM_DIR), env["PATH"]])
    env.pop("APPTAINER_SHIM_PODMAN_IMAGE", None)
    if podman_image:
        env["APPTAINER_SHIM_PODMAN_IMAGE"] = podman_image
    return env


def shim_calls(tmp_path: Path) -> list[dict]:
    log = tmp_path / "apptainer.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def run_suite_through_apptainer(tmp_path: Path, env: dict[str, str]) -> list[dict]:
    """A one-game, two-seed tiny smoke suite on the workstation profile (apptainer, --nv).

    The train and evaluate jobs ask for one GPU each (their device stays the CPU),
    so they are the suite's GPU jobs; the profile lets one run at a time.
    """
    image = tmp_path / "images" / "dqn-harness.sif"
    image.parent.mkdir()
    image.write_text("stand-in for an apptainer image; the shim runs jobs elsewhere\n")
    gpu_job = {"threads": 1, "gpu": 1, "mem_mb": 2000, "runtime": 10}
    suite = dict(
        TINY,
        games=["Pong"],
        container="images/dqn-harness.sif",
        resources={"train": gpu_job, "evaluate": gpu_job},
    )
    cmd = snakemake_cmd(
        tmp_path, "--profile", str(PROFILES / "workstation"), "--cores", "2", *config_args(**suite)
    )
    run(cmd, env=env, timeout=900)
    return shim_calls(tmp_path)


def check_suite_ran_in_container(tmp_path: Path, calls: list[dict], runner: str) -> None:
    execs = [c for c in calls if c["command"] == "exec"]
    jobs = [c["job"][-1] for c in execs]
    # One apptainer exec per job, nothing run beside it.
    assert sum("dqn train " in j for j in jobs) == 2
    assert sum("dqn evaluate " in j for j in jobs) == 2
    for stage in ("dqn mlflow-init ", "dqn aggregate ", "dqn plot ", "dqn report ", "printf "):
        assert sum(stage in j for j in jobs) == 1, stage
    assert len(execs) == 9
    for call in execs:
        assert call["image"] == "images/dqn-harness.sif"
        assert call["nv"] is True, call
        assert call["home"] == str(tmp_path)
        assert call["cwd"] == str(tmp_path)
        assert call["runner"] == runner
        assert call["job"][:2] in (["sh", "-c"], ["bash", "-c"])
    results = tmp_path / "results" / "smoke"
    for seed in (0, 1):
        run_dir = results / "runs" / "nature-dqn" / "Pong" / f"seed{seed}"
        for name in ("config.yaml", "metrics.csv", "eval.csv", "summary.json", "evaluate.csv"):
            assert (run_dir / name).is_file(), run_dir / name
    assert list((results / "tables").glob("*.csv"))
    assert list((results / "figures").glob("*.png"))
    assert (results / "README.md").is_file()


@needs_cli
@pytest.mark.integration
def test_use_singularity_runs_every_job_through_apptainer_with_nv(tmp_path: Path) -> None:
    calls = run_suite_through_apptainer(tmp_path, shim_env(tmp_path))
    check_suite_ran_in_container(tmp_path, calls, runner="host")


def test_shim_refuses_a_missing_image_like_apptainer(tmp_path: Path) -> None:
    shim = str(SHIM_DIR / "apptainer")
    proc = subprocess.run(
        [shim, "exec", "--home", str(tmp_path), "--nv", "nope.sif", "sh", "-c", "echo ran"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=shim_env(tmp_path),
    )
    assert proc.returncode != 0 and "could not open image nope.sif" in proc.stderr
    assert "ran" not in proc.stdout
    (call,) = shim_calls(tmp_path)
    assert call["image"] == "nope.sif" and call["nv"] is True


def test_shim_parses_what_snakemake_passes(tmp_path: Path) -> None:
    (tmp_path / "img.sif").write_text("")
    bind = tmp_path / "data"
    bind.mkdir()
    shim = [str(SHIM_DIR / "apptainer"), "--quiet", "--silent", "exec"]
    options = ["--home", str(tmp_path), "--nv", "--bind", str(bind), "--pwd", str(bind)]
    out = subprocess.run(
        [*shim, *options, "img.sif", "bash", "-c", "pwd"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=shim_env(tmp_path),
        check=True,
    ).stdout
    assert out.strip() == str(bind)
    (call,) = shim_calls(tmp_path)
    assert call["binds"] == [str(bind)] and call["pwd"] == str(bind)
    assert call["job"] == ["bash", "-c", "pwd"]


# ----------------------------------------------------- the image (opt-in, podman)
def podman() -> str:
    exe = shutil.which("podman")
    if exe is None:
        pytest.skip("podman is not installed (make container-test installs it)")
    return exe


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of every podman call: podman's settings for this kind of machine.

    Rootful podman here needs the runc runtime and default ulimits of 4096 in
    containers; they are given through CONTAINERS_CONF (unless the caller set
    one), so the machine's own configuration is left alone.
    """
    podman()
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env:
        if shutil.which("runc") is None:
            pytest.skip("runc is not installed (make container-test installs it)")
        conf = tmp_path_factory.mktemp("podman") / "containers.conf"
        conf.write_text(
            "[containers]\n"
            'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n'
            "\n[engine]\n"
            'runtime = "runc"\n'
        )
        env["CONTAINERS_CONF"] = str(conf)
    return env


def ensure_base_image(workdir: Path, env: dict[str, str]) -> None:
    """A Debian bookworm base made here (no registry is reachable): debootstrap + import."""
    if subprocess.run([podman(), "image", "exists", BASE_IMAGE], env=env).returncode == 0:
        return
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        pytest.skip("debootstrap is not installed (make container-test installs it)")
    rootfs = workdir / "rootfs"
    run([debootstrap, "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR], timeout=900)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run([podman(), "import", "-", BASE_IMAGE], stdin=tar.stdout, check=True, env=env)
    tar.wait()


def build_image(workdir: Path, env: dict[str, str]) -> None:
    """Build the Dockerfile as the test image, with the CPU torch (no GPU here).

    pip inside the build must trust this machine's TLS interception CA and may
    use the local wheel directory: both are mounted with a pip.conf, so the
    Dockerfile itself stays as it ships.
    """
    pip_conf = workdir / "pip.conf"
    lines = ["[global]", "cert = /run/host-ca.crt", "timeout = 60", "retries = 2"]
    mounts = ["-v", "/etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro"]
    if Path("/opt/wheels").is_dir():
        lines.append("find-links = /opt/wheels")
        mounts += ["-v", "/opt/wheels:/opt/wheels:ro"]
    pip_conf.write_text("\n".join(lines) + "\n")
    mounts += ["-v", f"{pip_conf}:/etc/pip.conf:ro"]
    revision = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    cmd = [podman(), "build", "-t", TEST_IMAGE, *mounts]
    cmd += ["--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
    cmd += ["--build-arg", "REQUIREMENTS=envs/requirements-cpu.txt"]
    cmd += ["--build-arg", f"REVISION={revision or 'unknown'}", str(REPO)]
    started = time.monotonic()
    run(cmd, env=env, timeout=3600)
    print(f"podman build: {time.monotonic() - started:.0f} s")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, podman_env: dict[str, str]) -> str:
    workdir = tmp_path_factory.mktemp("image")
    ensure_base_image(workdir, podman_env)
    build_image(workdir, podman_env)
    return TEST_IMAGE


@pytest.mark.container
@pytest.mark.timeout(3600)
def test_image_has_dqn_as_entry_point_and_labels(image: str, podman_env: dict[str, str]) -> None:
    out = run([podman(), "run", "--rm", "--network=none", image, "--help"], env=podman_env)
    assert "usage: dqn" in out and "train" in out
    inspect = json.loads(run([podman(), "image", "inspect", image], env=podman_env))[0]
    labels = inspect["Config"]["Labels"]
    for key in ("version", "source", "revision"):
        assert labels[f"org.opencontainers.image.{key}"], key
    assert inspect["Config"]["User"] not in ("", "0", "root")
    assert "GIT_PYTHON_REFRESH=quiet" in inspect["Config"]["Env"]


@needs_cli
@pytest.mark.container
def test_tiny_training_run_inside_the_image(
    image: str, podman_env: dict[str, str], tmp_path: Path
) -> None:
    tmp_path.chmod(0o777)  # the image's user is not root
    ev = TINY["evaluation"]
    fields = {
        **TINY["overrides"],
        "eval.every_steps": ev["every_steps"],
        "eval.episodes": ev["episodes"],
        "eval.max_steps": ev["max_steps"],
    }
    sets = [item for key, value in fields.items() for item in ("--set", f"{key}={value}")]
    container = [podman(), "run", "--rm", "--network=none", "-v", f"{tmp_path}:/data", image]
    train = ["train", "--preset", "nature-dqn", "--game", "Pong", "--seed", "0"]
    out = run(
        [*container, *train, "--run-dir", "/data/run", "--steps", "300", "--no-mlflow", *sets],
        env=podman_env,
        timeout=900,
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 300, out
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["env"]["game"] == "Pong"


@needs_cli
@pytest.mark.container
def test_use_singularity_runs_the_suite_inside_the_image(
    image: str, podman_env: dict[str, str], tmp_path: Path
) -> None:
    env = shim_env(tmp_path, podman_image=image)
    env["CONTAINERS_CONF"] = podman_env["CONTAINERS_CONF"]
    calls = run_suite_through_apptainer(tmp_path, env)
    check_suite_ran_in_container(tmp_path, calls, runner="podman")
