# Helpers shared by the stage files (suite loading and validation, paths, the
# `dqn train` command line). Functions only, no rules: Snakemake's linter asks
# to keep them apart.

import copy
import difflib
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

PRESET_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
GAME_PATTERN = r"[A-Za-z][A-Za-z0-9]*(?:-v[0-9]+)?"

# Config fields the workflow sets from the suite's own keys; an override for one
# of them would be silently replaced, so it is refused with a pointer instead.
OWNED_FIELDS = {
    "train.total_steps": "budget.agent_steps",
    "env.game": "games",
    "seed": "seeds",
    "env.protocol": "protocol",
    "env.protocol_revision": "protocol_revision",
    "eval.every_steps": "evaluation.every_steps",
    "eval.episodes": "evaluation.episodes",
    "eval.max_steps": "evaluation.max_steps",
    "train.torch_threads": "resources.train.threads",
    "tracking.suite": "suite",
    "tracking.mlflow": "mlflow.enabled",
    "tracking.progress": "(always off in workflow jobs: no progress bars in log files)",
}

_INT = re.compile(r"^[+-]?[0-9][0-9_]*$")
_FLOAT = re.compile(r"^[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def _retype(value):
    """Give back the types that `--config` loses.

    Snakemake parses nested `--config` values (and the config it hands to
    cluster jobs) with YAML's BaseLoader, which keeps every scalar a string:
    `seeds=[0,1]` arrives as ["0", "1"]. Numbers, booleans and null are
    restored; anything else stays a string (game names never look numeric).
    """
    if isinstance(value, dict):
        return {k: _retype(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_retype(v) for v in value]
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _FLOAT.match(text):
        return float(text)
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if text in ("null", "None", "~"):
        return None
    return value


def _merge(base, over):
    """Deep merge: mappings merge key by key, anything else (lists too) is replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def shipped_suites(basedir):
    """Names of the suites in workflows/config/."""
    return sorted(p.stem for p in (Path(basedir) / "workflows" / "config").glob("*.yaml"))


def load_suite(cli_config, basedir):
    """The validated suite: workflows/config/<suite>.yaml overlaid with the command line.

    Args:
        cli_config: Snakemake's `config` before this call, i.e. what
            `--configfile` and `--config` gave (the Snakefile has no
            `configfile:` directive, so shipped suites never leak into each other).
        basedir: the directory of the Snakefile.

    Returns:
        The merged config with schema defaults filled in.

    Raises:
        WorkflowError: naming the suite file and every invalid field.
    """
    given = _retype(dict(cli_config))
    name = given.get("suite", "smoke")
    if not isinstance(name, str) or not name:
        raise WorkflowError(f"suite: expected a suite name, got {name!r}")
    shipped = Path(basedir) / "workflows" / "config" / f"{name}.yaml"
    if shipped.exists():
        with open(shipped) as fh:
            base = yaml.safe_load(fh) or {}
        source = str(shipped)
    elif "presets" in given:
        base, source = {}, "the --configfile/--config values"
    else:
        known = shipped_suites(basedir)
        hint = difflib.get_close_matches(name, known, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise WorkflowError(
            f"suite: no suite named {name!r}{extra}. Shipped suites: {', '.join(known)}; "
            "or pass a complete suite file with --configfile FILE."
        )
    merged = _merge(base, given)
    merged.setdefault("suite", name)
    _validate_schema(merged, basedir, source)
    _check_overrides(merged, source)
    _check_against_package(merged, source)
    _check_run_revisions(merged)
    return merged


def _validate_schema(suite, basedir, source):
    """Validate with Snakemake's `validate` (fills defaults); on failure list every error."""
    schema_path = Path(basedir) / "workflows" / "schemas" / "suite.schema.yaml"
    try:
        validate(suite, str(schema_path))
    except WorkflowError:
        import jsonschema

        with open(schema_path) as fh:
            schema = yaml.safe_load(fh)
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(suite), key=lambda e: list(e.absolute_path))
        lines = [f"  - {_where(e.absolute_path)}: {_explain(e)}" for e in errors]
        raise WorkflowError(
            f"Invalid suite config {suite.get('suite')!r} (from {source}); "
            f"schema {schema_path.name}:\n" + "\n".join(lines)
        ) from None


def _where(path):
    """`presets[0]`, `evaluation.episodes`: a JSON path in the suite file's own terms."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error):
    """The validator's message, plus the field's description from the schema."""
    message = error.message
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        message += f" (allowed: {', '.join(allowed)})"
    elif error.validator == "pattern" and error.schema.get("description"):
        message += f" ({error.schema['description']})"
    return message


def _check_overrides(suite, source):
    owned = [k for k in suite["overrides"] if k in OWNED_FIELDS]
    if owned:
        raise WorkflowError(
            f"Invalid suite config {suite['suite']!r} (from {source}):\n"
            + "\n".join(
                f"  - overrides.{k}: set by the workflow; use {OWNED_FIELDS[k]} instead"
                for k in owned
            )
        )


def _check_against_package(suite, source):
    """Resolve each preset's run config with the suite's settings, when dqn_core is importable.

    This catches unknown override fields, out-of-range values and unknown game
    names on the submitting machine, before any job starts. Where the package
    lives only inside the container, the first job reports the same error.
    """
    try:
        from dqn_core.config import ConfigError, load_config
    except ImportError:
        return
    problems = []
    for preset in suite["presets"]:
        try:
            load_config(preset, sets=run_sets(suite))
        except ConfigError as exc:
            problems.append(f"  - preset {preset} with this suite's settings: {exc}")
    try:
        from dqn_core.envs import games as catalogue
    except ImportError:
        catalogue = None
    resolve = getattr(catalogue, "resolve_game", None)
    if resolve is not None:
        for game in suite["games"]:
            if "-v" in game:  # classic-control ids (CartPole-v1) are not in the ALE catalogue
                continue
            try:
                resolve(game)
            except (ValueError, KeyError) as exc:
                problems.append(f"  - games: {exc}")
    if problems:
        raise WorkflowError(
            f"Invalid suite config {suite['suite']!r} (from {source}):\n" + "\n".join(problems)
        )


def _run_revision(config_path):
    """(protocol, revision) a run folder's config.yaml records; no revision means 1."""
    with open(config_path) as fh:
        env = (yaml.safe_load(fh) or {}).get("env") or {}
    return env.get("protocol"), int(env.get("protocol_revision") or 1)


def _check_run_revisions(suite):
    """Refuse to extend a results folder whose runs ran under another protocol revision.

    Snakemake counts a run folder with summary.json as done whatever protocol
    it ran under, so a suite asking for a newer revision than its folder's runs
    would skip them and table the old ones as if new. The wanted revision is
    the suite's `protocol_revision`, else the protocol's current one (known when
    dqn_core is importable; without it, only an explicit revision is checked).
    """
    try:
        from dqn_core.envs.protocols import current_revision
    except ImportError:
        current_revision = None
    runs = f"{results_dir(suite)}/runs"
    wrong = {}
    for r in run_ids(suite):
        path = Path(f"{runs}/{r['preset']}/{r['game']}/seed{r['seed']}/config.yaml")
        if not path.is_file():
            continue
        protocol, revision = _run_revision(path)
        wanted = suite.get("protocol_revision")
        if wanted is None and current_revision is not None and protocol:
            try:
                wanted = current_revision(protocol)
            except Exception:  # an unknown protocol: the job itself reports it
                continue
        if wanted is not None and revision != wanted:
            wrong.setdefault((protocol, revision, wanted), []).append(
                f"{r['preset']}/{r['game']}/seed{r['seed']}"
            )
    if wrong:
        lines = [
            f"  - {len(ids)} run(s) made under protocol {protocol} revision {revision}, "
            f"where this suite asks for revision {wanted}: {', '.join(ids[:4])}"
            + (", ..." if len(ids) > 4 else "")
            for (protocol, revision, wanted), ids in sorted(wrong.items())
        ]
        raise WorkflowError(
            f"{runs} holds runs of another protocol revision; Snakemake would count them "
            "as done and table them as this revision's:\n" + "\n".join(lines) + "\n"
            "Continue their campaign with --config protocol_revision=N (the revision they "
            "ran under), or give this revision its own folder with --config results_root=DIR "
            "(docs/protocols.md, Revisions)."
        )


def _yaml_scalar(value):
    """A value as `dqn train --set` parses it back (YAML flow style, one line)."""
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def run_sets(suite):
    """The `section.field=value` items every train job of the suite gets.

    Args:
        suite: the validated suite config.

    Returns:
        A list of `--set` items, suite-owned fields first, then the overrides.
        (train.torch_threads comes from the job's threads, in the shell command.)
    """
    ev = suite["evaluation"]
    items = {
        "eval.every_steps": ev["every_steps"],
        "eval.episodes": ev["episodes"],
        "eval.max_steps": ev["max_steps"],
        # No progress bar in log files; info lines (resume, checkpoints) stay.
        "tracking.progress": False,
    }
    if suite.get("protocol") is not None:
        items["env.protocol"] = suite["protocol"]
    if suite.get("protocol_revision") is not None:
        items["env.protocol_revision"] = suite["protocol_revision"]
    items.update(suite["overrides"])
    return [f"{key}={_yaml_scalar(value)}" for key, value in items.items()]


def train_args(suite):
    """A params function: the quoted tail of the `dqn train` command of one job."""

    def args(wildcards):
        parts = ["--steps", str(suite["budget"]["agent_steps"]), "--suite", suite["suite"]]
        if not suite["mlflow"]["enabled"]:
            parts.append("--no-mlflow")
        for item in run_sets(suite):
            parts += ["--set", item]
        return " ".join(shlex.quote(p) for p in parts)

    return args


def ensure_dqn_on_path():
    """Let jobs find the `dqn` installed beside the Python running Snakemake.

    `.venv/bin/snakemake` works without activating the environment, but its
    jobs look `dqn` up on PATH; when PATH has none and the interpreter's bin
    directory holds one, that directory is put first on the jobs' PATH. Jobs in
    a container are unaffected: apptainer gives them the image's PATH.
    """
    bin_dir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if shutil.which("dqn", path=path) is None and os.path.isfile(os.path.join(bin_dir, "dqn")):
        os.environ.update(PATH=os.pathsep.join(filter(None, [bin_dir, path])))


def results_dir(suite):
    """results/<suite>: every output of the suite lives below it."""
    return f"{suite['results_root']}/{suite['suite']}"


def tracking_uri(suite):
    """The suite's MLflow URI, else an embedded sqlite store under the results root."""
    uri = suite["mlflow"]["tracking_uri"]
    if uri:
        return uri
    root = os.path.abspath(suite["results_root"])
    return f"sqlite:///{root}/mlflow.db"


def run_ids(suite):
    """Every (preset, game, seed) of the suite, in a stable order."""
    return [
        {"preset": p, "game": g, "seed": s}
        for p in suite["presets"]
        for g in suite["games"]
        for s in suite["seeds"]
    ]


def run_files(suite, name):
    """`name` in every run directory of the suite."""
    runs = f"{results_dir(suite)}/runs"
    return [f"{runs}/{r['preset']}/{r['game']}/seed{r['seed']}/{name}" for r in run_ids(suite)]


def final_targets(suite):
    """The targets of the default target (all): run outputs, tables, figures, README."""
    out = results_dir(suite)
    targets = [f"{out}/README.md", f"{out}/tables", f"{out}/figures"]
    targets += run_files(suite, "summary.json") + run_files(suite, "evaluate.csv")
    return targets


def suite_yaml(suite):
    """The resolved suite as YAML text, recorded next to its results."""
    return yaml.safe_dump(suite, sort_keys=False, width=100)
