"""The package's shape: imports point one way, no cycles, small modules, lean lower layers.

Layers, lowest first (a module may import its own layer and the ones below):

0. foundation: ``config``, ``seeding``, ``fileio``, ``provenance`` (and the package root);
1. the agent's parts: ``envs``, ``replay``, ``agent`` (none of them imports another);
2. the run loop: ``run`` (writes to a sink; never MLflow);
3. the harness: ``tracking``, ``results``, ``plots``, ``report``, ``ui``, ``suite_run``,
   ``system_metrics``, ``experiment``, ``cli``.

Inside the harness the order is: ``results`` <- ``plots`` <- ``report``;
``tracking`` <- ``suite_run``, ``ui``; all of them <- ``experiment`` <- ``cli``.
Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dqn_core"

#: Top-level part of dqn_core -> (layer, rank inside the harness).
PARTS: dict[str, tuple[int, int]] = {
    "__init__": (0, 0),
    "__main__": (3, 9),
    "_compat": (0, 0),
    "config": (0, 0),
    "seeding": (0, 0),
    "fileio": (0, 0),
    "provenance": (0, 0),
    "envs": (1, 0),
    "replay": (1, 0),
    "agent": (1, 0),
    "run": (2, 0),
    "results": (3, 1),
    "tracking": (3, 1),
    "system_metrics": (3, 1),
    "plots": (3, 2),
    "suite_run": (3, 2),
    "ui": (3, 2),
    "report": (3, 3),
    "experiment": (3, 4),
    "cli": (3, 5),
}
#: Third-party packages the lower layers (0-2) must not import: the harness's.
HARNESS_ONLY = ("mlflow", "pandas", "matplotlib", "snakemake", "psutil")
MAX_LINES = 400


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(module: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(dqn_core modules, top-level third-party packages) imported anywhere in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    inner: set[str] = set()
    outer: set[str] = set()

    def add(target: str) -> None:
        # The longest known module that the dotted name starts with.
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target:
            inner.add(target)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (add if alias.name.split(".")[0] == "dqn_core" else outer.add)(
                    alias.name if alias.name.startswith("dqn_core") else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_pkg else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source.split(".")[0] != "dqn_core":
                outer.add(source.split(".")[0])
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                add(sub if sub in known else source)
    inner.discard(module)
    return inner, outer


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = modules()
    known = set(mods)
    edges, third = {}, {}
    for name, path in mods.items():
        edges[name], third[name] = imports_of(name, path, known)
    return edges, third


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in edges.items():
        if part_of(src) == "_compat":
            continue
        layer, rank = PARTS[part_of(src)]
        for dst in targets:
            dlayer, drank = PARTS[part_of(dst)]
            if part_of(dst) == part_of(src):
                continue
            if dlayer > layer or (dlayer == layer and layer in (1, 3) and drank >= rank):
                bad.append(f"{src} -> {dst}")
    return sorted(bad)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_module_belongs_to_a_layer() -> None:
    unknown = sorted(m for m in modules() if part_of(m) not in PARTS)
    assert not unknown, f"modules outside the layer map (add them to PARTS): {unknown}"


def test_imports_point_one_way() -> None:
    edges, _ = graph()
    assert upward_imports(edges) == []


def test_no_import_cycles() -> None:
    edges, _ = graph()
    # A package's __init__ re-exporting its own submodules is not a cycle of parts.
    assert cycles(edges) == []


def test_lower_layers_import_no_harness_library() -> None:
    _, third = graph()
    bad = sorted(
        f"{m} imports {lib}"
        for m, libs in third.items()
        if PARTS[part_of(m)][0] <= 2
        for lib in libs
        if lib in HARNESS_ONLY
    )
    assert bad == []


def test_modules_are_small() -> None:
    big = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}, f"modules over {MAX_LINES} lines: {big}"


def test_the_run_loop_imports_without_the_harness_libraries() -> None:
    """With mlflow, pandas, matplotlib, snakemake and psutil unimportable, the stack still loads."""
    code = (
        "import sys\n"
        f"for name in {HARNESS_ONLY!r}: sys.modules[name] = None\n"
        "import dqn_core.run, dqn_core.agent.learner, dqn_core.replay, dqn_core.envs\n"
        "from dqn_core.run import Trainer, train\n"
        "from dqn_core.envs import make_vec_env\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# ------------------------------------------------------------- the checker itself
def test_the_checker_catches_an_upward_import_and_a_cycle() -> None:
    edges = {
        "dqn_core.run.trainer": {"dqn_core.tracking.tracker"},
        "dqn_core.agent.learner": {"dqn_core.replay.uniform"},
        "dqn_core.results.tables": {"dqn_core.plots.curves"},
        "dqn_core.tracking.tracker": set(),
        "dqn_core.replay.uniform": set(),
        "dqn_core.plots.curves": set(),
    }
    assert upward_imports(edges) == [
        "dqn_core.agent.learner -> dqn_core.replay.uniform",
        "dqn_core.results.tables -> dqn_core.plots.curves",
        "dqn_core.run.trainer -> dqn_core.tracking.tracker",
    ]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_graph_sees_real_imports() -> None:
    edges, third = graph()
    assert "dqn_core.agent.learner" in edges["dqn_core.run.trainer"]  # module level
    assert "dqn_core.tracking.tracker" in edges["dqn_core.experiment"] or (
        "dqn_core.tracking" in edges["dqn_core.experiment"]
    )
    assert "dqn_core.experiment" in edges["dqn_core.cli"]  # inside a function
    assert "mlflow" in third["dqn_core.tracking.store"]


def test_the_flat_layout_of_0_1_0_fails_the_check() -> None:
    """The layout before the restructuring (flat modules) is caught: its train loop imported
    the MLflow tracker, and replay and prioritized imported each other."""
    edges = {
        "dqn_core.train": {"dqn_core.tracking", "dqn_core.learner"},
        "dqn_core.replay": {"dqn_core.prioritized"},
        "dqn_core.prioritized": {"dqn_core.replay"},
    }
    assert sorted(m for m in edges if part_of(m) not in PARTS) == [
        "dqn_core.prioritized",
        "dqn_core.train",
    ]
    assert cycles(edges) == [["dqn_core.prioritized", "dqn_core.replay"]]


@pytest.mark.parametrize("part", sorted(PARTS))
def test_the_layer_map_names_real_parts(part: str) -> None:
    assert part in {part_of(m) for m in modules()} or part == "__main__"
