"""Security: no secret is written anywhere, nothing is unpickled or YAML-constructed
from a file, and no server listens beyond 127.0.0.1 by default.

The secrets test reuses the session's MLflow outage run (tests/faults/conftest.py):
a real `dqn -v train` given a password in its tracking URI and tokens in
MLflow's and AWS's environment variables, whose server was unreachable for a
while (so every failure message was produced) and then answered (so params,
tags, artifacts and a logged model were sent). The static checks read the
package's source: every ``torch.load`` passes ``weights_only=True`` and no other
deserialiser that can run code is used.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from mlflow import MlflowClient

from . import REPO, OutageRun, files_containing

# Files whose code runs, or whose commands users copy, on a workstation.
PYTHON_SOURCES = sorted([*REPO.glob("dqn_core/**/*.py"), *REPO.glob("benchmarks/**/*.py")])
COMMAND_FILES = sorted(
    p
    for p in [
        REPO / "README.md",
        REPO / "Makefile",
        REPO / "Snakefile",
        *REPO.glob("workflows/**/*"),
        *REPO.glob(".ci/**/*"),
        *PYTHON_SOURCES,
    ]
    if p.is_file()
)


@pytest.mark.integration
def test_no_secret_reaches_run_files_params_tags_or_the_server(outage_run: OutageRun) -> None:
    run = outage_run
    assert run.rc == 0, run.output[-4000:]
    assert files_containing(run.spec.run_dir, run.secrets) == []
    run_file = json.loads((run.spec.run_dir / "mlflow_run.json").read_text())
    assert run_file["tracking_uri"].startswith("http://faults:***@127.0.0.1:")
    mlrun = MlflowClient(run.server.url).get_run(run_file["run_id"])
    written = [*mlrun.data.params.items(), *mlrun.data.tags.items()]
    assert written and [(k, v) for k, v in written for s in run.secrets if s in k + v] == []
    # Whatever the client sent is in the server's database, artifact store or log.
    assert files_containing(run.server.root, run.secrets) == []


@pytest.mark.integration
def test_the_harness_logs_mask_credentials(outage_run: OutageRun) -> None:
    """Every message of dqn_core that names the tracking URI (at debug level too) masks it."""
    run = outage_run
    messages = [ln for ln in run.output.splitlines() if " dqn_core." in ln]
    assert any(
        re.search(r"http://faults:\*\*\*@127\.0\.0\.1:\d+ failed while", m) for m in messages
    )
    assert [m for m in messages for s in run.secrets if s in m] == []


@pytest.mark.integration
def test_no_secret_in_the_output_of_the_process(outage_run: OutageRun) -> None:
    """stdout and stderr end up in job logs (the workflow appends both to logs/train/);
    MLflow's own "View run ... at: <URI>" line would carry the password."""
    leaked = [ln for ln in outage_run.output.splitlines() for s in outage_run.secrets if s in ln]
    assert leaked == []


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


#: Deserialisers that can run code from the data they read.
UNSAFE_CALLS = {
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "dill.load",
    "dill.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "joblib.load",
    "yaml.unsafe_load",
    "yaml.full_load",
    "yaml.load_all",
    "eval",
    "exec",
}
SAFE_YAML_LOADERS = {"yaml.SafeLoader", "yaml.CSafeLoader", "SafeLoader", "CSafeLoader"}


def unsafe_loads(path: Path, root: Path = REPO) -> list[str]:
    """``"file:line call"`` for each call in a Python file that could run code it reads."""
    problems = []
    calls = sorted(
        (n for n in ast.walk(ast.parse(path.read_text(), str(path))) if isinstance(n, ast.Call)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    for node in calls:
        name = _dotted(node.func)
        where = f"{path.relative_to(root)}:{node.lineno} {name}"
        if name in UNSAFE_CALLS:
            problems.append(where)
        elif name == "torch.load":
            flag = _keyword(node, "weights_only")
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                problems.append(f"{where} without weights_only=True")
        elif name == "yaml.load":
            loader = _keyword(node, "Loader")
            if loader is None or _dotted(loader) not in SAFE_YAML_LOADERS:
                problems.append(f"{where} without a safe Loader")
        elif name in ("np.load", "numpy.load"):
            flag = _keyword(node, "allow_pickle")
            if isinstance(flag, ast.Constant) and flag.value is True:
                problems.append(f"{where} with allow_pickle=True")
    return problems


def test_files_are_read_only_with_loaders_that_cannot_run_code() -> None:
    assert PYTHON_SOURCES, "no sources found"
    problems = [p for path in PYTHON_SOURCES for p in unsafe_loads(path)]
    smk = [*REPO.glob("workflows/**/*.smk"), REPO / "Snakefile"]
    for path in smk:  # Snakemake files are not plain Python: a text check
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(pickle\.loads?|yaml\.(load|unsafe_load|full_load))\(", line):
                problems.append(f"{path.relative_to(REPO)}:{n} {line.strip()}")
    assert problems == []


def test_the_unsafe_load_check_catches_what_it_should(tmp_path: Path) -> None:
    """Control for the check above, on a file that does each unsafe thing once."""
    path = tmp_path / "sample.py"
    path.write_text(
        "import pickle, torch, yaml, numpy as np\n"
        "torch.load('a')\n"
        "torch.load('a', weights_only=False)\n"
        "torch.load('a', weights_only=True)\n"
        "pickle.loads(b'')\n"
        "yaml.load('x')\n"
        "yaml.load('x', Loader=yaml.SafeLoader)\n"
        "np.load('a', allow_pickle=True)\n"
    )
    assert unsafe_loads(path, tmp_path) == [
        "sample.py:2 torch.load without weights_only=True",
        "sample.py:3 torch.load without weights_only=True",
        "sample.py:5 pickle.loads",
        "sample.py:6 yaml.load without a safe Loader",
        "sample.py:8 np.load with allow_pickle=True",
    ]


def test_mlflow_server_and_ui_listen_on_localhost_by_default() -> None:
    import click
    from mlflow.cli import cli

    ctx = click.Context(cli)
    for name in ("server", "ui"):
        command = cli.get_command(ctx, name)
        assert command is not None, name
        host = next(p for p in command.params if p.name == "host")
        assert host.default == "127.0.0.1", (name, host.default)


def test_no_command_the_harness_runs_or_documents_exposes_a_server() -> None:
    """Every `mlflow server` / `mlflow ui` line of the runnable files and the README
    keeps the default host or names 127.0.0.1 / localhost."""
    commands = []
    for path in COMMAND_FILES:
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.search(r"\bmlflow\s+(server|ui)\b", line):
                commands.append((f"{path.relative_to(REPO)}:{n}", line))
    exposed = [
        (where, line)
        for where, line in commands
        if (m := re.search(r"(?:--host|-h)[ =](\S+)", line))
        and m.group(1) not in ("127.0.0.1", "localhost")
    ]
    assert exposed == []
    assert any(where.startswith("README.md") for where, _ in commands)


def test_the_package_opens_no_listening_socket() -> None:
    listeners = []
    for path in REPO.glob("dqn_core/**/*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                if name.rsplit(".", 1)[-1] in ("bind", "listen", "serve_forever") or name in (
                    "uvicorn.run",
                    "http.server.HTTPServer",
                    "socketserver.TCPServer",
                ):
                    listeners.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    assert listeners == []
