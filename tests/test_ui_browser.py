"""The MLflow UI of a real smoke store, opened by ``dqn ui`` in headless Chromium.

Opt-in (``make ui-test``, not in CI): it needs Debian's ``chromium``, the
``playwright`` package (its driver, not its browsers) and the store of ``make
smoke``. The store is copied first, so the test also shows that a copied
``results/`` folder serves its own artifacts. Screenshots go to
``$DQN_UI_SCREENSHOTS`` (``make ui-test``: docs/img/).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("DQN_UI_RESULTS", ROOT / "results"))
CHROMIUM = os.environ.get("DQN_UI_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ["DQN_UI_SCREENSHOTS"]) if os.environ.get("DQN_UI_SCREENSHOTS") else None
SUITE = "smoke"
TIMEOUT_MS = 90_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The smoke store copied elsewhere: its runs, as MLflow's client reads them."""
    from mlflow.tracking import MlflowClient

    if not (RESULTS / "mlflow.db").is_file():
        pytest.fail(f"{RESULTS}/mlflow.db: no store; run `make smoke` first")
    copy = tmp_path_factory.mktemp("copied") / "results"
    copy.mkdir()
    shutil.copy2(RESULTS / "mlflow.db", copy / "mlflow.db")
    shutil.copytree(RESULTS / "mlartifacts", copy / "mlartifacts")
    client = MlflowClient(f"sqlite:///{(copy / 'mlflow.db').as_posix()}")
    exp = client.get_experiment_by_name(SUITE)
    assert exp is not None, f"no {SUITE!r} experiment in {RESULTS}/mlflow.db"
    runs = client.search_runs([exp.experiment_id])
    suite_runs = [r for r in runs if r.data.tags.get("dqn.kind") == "suite"]
    train_runs = [r for r in runs if r.data.tags.get("dqn.kind") != "suite"]
    assert len(suite_runs) == 1 and len(train_runs) >= 4, [r.info.run_name for r in runs]
    return {
        "root": copy,
        "exp_id": exp.experiment_id,
        "suite_run": suite_runs[0].info.run_id,
        "scores": {r.info.run_name: r.data.metrics["final/score"] for r in train_runs},
    }


@pytest.fixture(scope="module")
def ui(store: dict[str, object]) -> Iterator[str]:
    """``dqn ui`` on the copy; yields the runs-page link it prints."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dqn_core", "ui", str(store["root"]), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    link = None
    deadline = time.monotonic() + 180
    while link is None and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        lines.append(line)
        m = re.match(rf"\s+{SUITE}: (http://\S+)", line)
        link = m.group(1) if m else None
    try:
        assert link is not None, "".join(lines)
        # The copy was rewritten to serve its own artifacts.
        assert any(line.startswith("store moved") for line in lines), "".join(lines)
        yield link
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM}: no Chromium; `apt-get install chromium` (make ui-test does)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _page(browser, url: str):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    return page


def _close_assistant(page) -> None:  # type: ignore[no-untyped-def]
    """MLflow 3.17's assistant panel opens by default and covers a third of the page."""
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.first.click()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / name))


def test_runs_page_lists_the_runs_with_their_final_score(browser, ui, store) -> None:
    page = _page(browser, ui)
    scores: dict[str, float] = store["scores"]  # type: ignore[assignment]
    for name in scores:
        page.get_by_text(name, exact=True).first.wait_for()
    _close_assistant(page)
    page.get_by_role("button", name="Columns", exact=True).click()
    page.get_by_placeholder("Search columns").fill("final/score")
    page.get_by_text("final/score", exact=True).last.click()
    page.keyboard.press("Escape")
    col = '[col-id="metrics.`final/score`"]'
    page.locator(f"[role=columnheader]{col}").wait_for()
    for name, score in scores.items():
        # ag-grid draws the pinned run-name column and the metric columns as two
        # row elements that share a row-index.
        index = page.locator("[role=row]").filter(has_text=name).first.get_attribute("row-index")
        cell = page.locator(f"[role=row][row-index='{index}'] [role=gridcell]{col}")
        text = cell.inner_text().strip()
        assert float(text) == pytest.approx(score, abs=0.01), (name, score, text)
    _shot(page, "ui_runs.png")
    page.close()


def test_chart_view_draws_the_eval_return_of_every_run(browser, ui, store) -> None:
    page = _page(browser, ui)
    scores: dict[str, float] = store["scores"]  # type: ignore[assignment]
    page.get_by_text(next(iter(scores)), exact=True).first.wait_for()
    _close_assistant(page)
    page.locator("input[value=CHART]").evaluate("e => e.click()")
    # The innermost block holding both the chart's title and a plot: its card.
    card = (
        page.locator("div")
        .filter(has=page.get_by_text("eval/return_mean", exact=True))
        .filter(has=page.locator("svg.main-svg"))
        .last
    )
    card.wait_for()
    # One line per training run (plotly draws each trace in its own group).
    traces = card.locator("g.scatterlayer g.trace")
    deadline = time.monotonic() + 60
    while traces.count() < len(scores) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert traces.count() >= len(scores)
    _shot(page, "ui_charts.png")
    page.close()


def test_the_suite_run_shows_its_figures_from_the_copied_store(browser, ui, store) -> None:
    base = ui.split("#")[0]
    url = (
        f"{base}#/experiments/{store['exp_id']}/runs/{store['suite_run']}/artifacts"
        "?workflowType=machine_learning"
    )
    page = _page(browser, url)
    _close_assistant(page)
    page.get_by_text("figures", exact=True).first.click()
    assert not page.get_by_text(".snakemake_timestamp").count()
    figure = next(
        p.name
        for p in (Path(store["root"]) / "mlartifacts").rglob("figures/iqm_*.png")  # type: ignore[arg-type]
    )
    page.get_by_text(figure, exact=True).first.click()
    page.get_by_text(f"figures/{figure}").first.wait_for()
    img = page.locator("img[src^='blob:'], img[src^='data:image/png']").first
    img.wait_for()
    deadline = time.monotonic() + 30
    while img.evaluate("i => i.naturalWidth") == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert img.evaluate("i => i.naturalWidth") > 100
    # The preview's path is the copy's, not the original's.
    assert str(Path(store["root"]).resolve()) in page.inner_text("body")  # type: ignore[arg-type]
    _shot(page, "ui_suite_run.png")
    page.close()
