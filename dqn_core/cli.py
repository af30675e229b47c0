"""The ``dqn`` command line.

``dqn train | evaluate | aggregate | plot | report | games | presets | config |
mlflow-init | mlflow-sync | ui``. Heavy modules (torch, mlflow, pandas) are imported
inside the subcommands so that ``dqn --help`` and input errors answer at once.
Bad input exits with status 2 and one line naming the field; nothing is
trained or written before the whole configuration has been validated.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dqn_core import __version__
from dqn_core.config import ConfigError

log = logging.getLogger("dqn_core")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("alembic", "mlflow", "urllib3", "git", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _resolve_train_config(args: argparse.Namespace) -> object:
    from dqn_core.config import load_config
    from dqn_core.envs.games import resolve_game

    overrides: dict[str, dict[str, object]] = {"env": {}, "train": {}, "tracking": {}}
    if args.game is not None:
        overrides["env"]["game"] = args.game
    if args.steps is not None:
        overrides["train"]["total_steps"] = args.steps
    if args.suite is not None:
        overrides["tracking"]["suite"] = args.suite
    if args.no_mlflow:
        overrides["tracking"]["mlflow"] = False
    if args.quiet:
        overrides["tracking"]["progress"] = False
    top: dict[str, object] = {k: v for k, v in overrides.items() if v}
    if args.seed is not None:
        top["seed"] = args.seed
    if args.preset is None and args.config is None:
        raise ConfigError("preset: give --preset NAME (see `dqn presets`) or --config FILE")
    cfg = load_config(args.preset, config_file=args.config, overrides=top, sets=args.set or ())
    if cfg.env.protocol != "classic":
        info = resolve_game(cfg.env.game)
        if info.name != cfg.env.game:
            from dataclasses import replace

            cfg = replace(cfg, env=replace(cfg.env, game=info.name))
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    # The configuration first: a mistyped game or field fails in a fraction of a
    # second, before torch is imported.
    cfg = _resolve_train_config(args)
    from dqn_core.experiment import train
    from dqn_core.run.signals import TrainingInterrupted

    run_dir = Path(args.run_dir)
    try:
        summary = train(cfg, run_dir, quiet=args.quiet)  # type: ignore[arg-type]
    except TrainingInterrupted as exc:
        log.warning(
            "%s; checkpoint written, run `dqn train` again with the same arguments to resume", exc
        )
        return 128 + exc.signum
    std = summary["final_eval_std"]
    print(
        f"{summary['run_name']}: {summary['steps']} steps ({summary['frames']} frames), "
        f"final evaluation {summary['final_eval_mean']:.2f}"
        + ("" if std is None else f" +- {std:.2f}")
        + f" over {summary['final_eval_episodes']} episodes -> {run_dir}"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dqn_core.experiment import evaluate_run

    out = evaluate_run(
        Path(args.run_dir),
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
        episodes=args.episodes,
        out=Path(args.out) if args.out else None,
        video=Path(args.video) if args.video else None,
        sets=args.sets,
    )
    print(out)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    cfg = _resolve_train_config(args)
    print(cfg.to_yaml(), end="")  # type: ignore[attr-defined]
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from dqn_core.config import load_config, preset_names

    width = max(len(n) for n in preset_names())
    for name in preset_names():
        cfg = load_config(name)
        print(f"{name:<{width}}  {cfg.description}")
    return 0


def cmd_games(args: argparse.Namespace) -> int:
    from dqn_core.envs import games

    suites = {
        "atari5": games.ATARI5,
        "atari100k": games.ATARI100K_GAMES,
        "nature2015": games.NATURE2015_GAMES,
        "dopamine": games.DOPAMINE_GAMES,
    }
    names = list(suites[args.suite]) if args.suite else [g.name for g in games.list_games()]
    for n in names:
        print(n)
    return 0


def cmd_mlflow_init(args: argparse.Namespace) -> int:
    from dqn_core.tracking import mlflow_init

    exp_id = mlflow_init(args.suite, Path(args.results_root))
    print(exp_id)
    return 0


def cmd_mlflow_sync(args: argparse.Namespace) -> int:
    from dqn_core.tracking import sync_from_csv

    sent = sync_from_csv(Path(args.run_dir))
    print(f"{sent} metric values sent")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from dqn_core.ui import serve

    return serve(Path(args.results_root), host=args.host, port=args.port)


def cmd_aggregate(args: argparse.Namespace) -> int:
    from dqn_core.results import aggregate_suite

    tables = aggregate_suite(
        Path(args.results_dir), Path(args.out) if args.out else None, seed=args.seed
    )
    for name, df in tables.items():
        print(f"{name}: {len(df)} rows")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from dqn_core.plots import plot_suite

    for p in plot_suite(Path(args.results_dir), Path(args.out) if args.out else None):
        print(p)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dqn_core.config import load_yaml
    from dqn_core.report import write_report

    results_dir = Path(args.results_dir)
    suite_cfg = load_yaml(args.suite_config) if args.suite_config else None
    print(write_report(results_dir, suite_cfg))
    cfg = suite_cfg
    if cfg is None and (results_dir / "suite.yaml").is_file():
        cfg = load_yaml(results_dir / "suite.yaml")
    cfg = cfg or {}
    mlflow_cfg = cfg.get("mlflow") or {}
    if not args.no_mlflow and isinstance(mlflow_cfg, dict) and mlflow_cfg.get("enabled"):
        from dqn_core.suite_run import record_suite_run

        record_suite_run(results_dir, str(cfg.get("suite", results_dir.name)))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dqn_core.results.progress import render_progress, suite_progress

    suite_config = Path(args.suite_config) if args.suite_config else None
    print(render_progress(suite_progress(Path(args.results_dir), suite_config)))
    return 0


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="preset name (see `dqn presets`)")
    p.add_argument("--config", help="a config YAML (merged over the preset)")
    p.add_argument("--game", help="game, e.g. Pong or SpaceInvaders (see `dqn games`)")
    p.add_argument("--seed", type=int, help="root seed (default: the preset's, 0)")
    p.add_argument("--steps", type=int, help="total agent steps (sets train.total_steps)")
    p.add_argument("--suite", help="suite name = MLflow experiment (default: adhoc)")
    p.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="override a field, e.g. agent.learning_rate=1e-4",
    )
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, warnings only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dqn", description="DQN-family benchmark harness for Atari."
    )
    parser.add_argument("--version", action="version", version=f"dqn-harness {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train",
        help="train (or resume) one run",
        description="Train one run; resumes DIR if it holds a checkpoint.",
    )
    _add_run_args(p)
    p.add_argument("--run-dir", required=True, help="run directory (created; resumed if it exists)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("config", help="print the resolved config of a run as YAML")
    _add_run_args(p)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("evaluate", help="evaluate a run's checkpoint by its protocol")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--checkpoint", help="checkpoint file (default: the newest valid one)")
    p.add_argument("--episodes", type=int, help="episodes (default: the config's eval.episodes)")
    p.add_argument("--out", help="CSV to write (default: RUN_DIR/evaluate.csv)")
    p.add_argument("--video", help="also record one episode to this .mp4 or .avi")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="eval.FIELD=VALUE",
        help="change the evaluation (repeatable), e.g. eval.epsilon=0.05 or eval.noisy=true; "
        "needs --out other than evaluate.csv",
    )
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("aggregate", help="tables of a suite's runs beside published numbers")
    p.add_argument("results_dir", help="results/<suite>")
    p.add_argument("--out", help="output folder (default: RESULTS_DIR/tables)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser("plot", help="learning curves and aggregate figures of a suite")
    p.add_argument("results_dir")
    p.add_argument("--out", help="output folder (default: RESULTS_DIR/figures)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("report", help="write RESULTS_DIR/README.md from the tables and figures")
    p.add_argument("results_dir")
    p.add_argument("--suite-config", help="the suite's YAML, embedded in the report")
    p.add_argument(
        "--no-mlflow",
        action="store_true",
        help="do not record the suite run in MLflow (default: record it when the "
        "suite config has mlflow.enabled)",
    )
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "status",
        help="where a suite's runs stand: evaluated, trained, part-trained (to which "
        "checkpoint), not started",
    )
    p.add_argument("results_dir", help="results/<suite>")
    p.add_argument(
        "--suite-config",
        help="the suite's file (e.g. workflows/config/atari100k-drq.yaml): also list its "
        "planned runs that have no folder yet",
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("games", help="list the games (or a suite's games)")
    p.add_argument("--suite", choices=("atari5", "atari100k", "nature2015", "dopamine"))
    p.set_defaults(func=cmd_games)

    p = sub.add_parser("presets", help="list the presets with a one-line description")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("mlflow-init", help="create the MLflow store and a suite's experiment once")
    p.add_argument("--suite", required=True)
    p.add_argument("--results-root", default="results")
    p.set_defaults(func=cmd_mlflow_init)

    p = sub.add_parser("mlflow-sync", help="send metrics.csv rows that MLflow is missing")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_mlflow_sync)

    p = sub.add_parser(
        "ui",
        help="the MLflow UI for a results folder (prints each suite's runs page)",
        description="Start the MLflow UI on the store of RESULTS_ROOT; a moved or copied "
        "folder's artifact paths are rewritten first. Ctrl-C stops it and every process "
        "it started.",
    )
    p.add_argument("results_root", nargs="?", default="results", help="default: results")
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=5000, help="default: 5000")
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, getattr(args, "quiet", False))
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"dqn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError, OSError) as exc:
        # Faults of the run or its files (corrupt checkpoints, NaN losses, a garbled
        # metrics.csv, disk full): one line naming what happened; --verbose shows
        # the traceback.
        if args.verbose:
            log.exception("dqn %s failed", args.command)
        name = type(exc).__name__
        print(f"dqn {args.command}: error: {name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dqn {args.command}: interrupted", file=sys.stderr)
        return 130
