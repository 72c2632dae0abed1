"""Every chapter in a real browser: JupyterLab + headless Chromium, driven by Playwright.

One JupyterLab server (REPLAB_FAST=1) over a copy of notebooks/, one Chromium with two tabs;
each chapter found in notebooks/ (tools/make_chapters.py's list, so a new chapter is picked
up without touching this file) is opened in a free tab and run with Run ▸ Run All Cells, two
chapters at a time (two kernels for two cores), each once. Then:

- no cell shows a traceback, and no Lab shows an error (a cell appended to each copy asks
  every Lab in the kernel, as tests/test_notebooks.py used to);
- every plotly chart has data, every replay has been drawn;
- no chart draws text over text (bounding boxes of the SVG text, measured in the page);
- a screenshot of each Lab, each other chart and each replay goes to test-output/browser/
  (NN_lab.png, NN_figure_K.png, NN_replay_K.png), for a person to look at;
- in chapter 01, moving the followers slider redraws the charts.

This replaces the headless nbclient run of the chapters (tests/test_notebooks.py keeps the
static checks and runs the chapters headless only where Chromium is missing). Needs Debian's
chromium (/usr/bin/chromium; `.ci/run` installs it): without it this skips locally and
fails under CI (env CI set). A timeout here only catches a hang; how long each chapter took
is printed and recorded in benchmarks/LAB_RESULTS.md.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from jupyterlab_driver import (
    CHROMIUM,
    PLOT_DATA_JS,
    chromium,
    close_notebook,
    finished,
    jupyterlab_server,
    overlapping_text,
    problems_in,
    shut_down_session,
    start_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-output" / "browser"
HANG_S = 600  # one chapter this long is stuck, not slow
# Appended to each chapter's copy: a Lab shows a failed run in its widget instead of raising,
# so ask every Lab in the kernel whether it has an error to show.
LABS_HAVE_NO_ERROR = """
import sys as _sys
if "replab.lab" in _sys.modules:
    from replab.lab import Lab as _Lab
    _errors = {_name: _value.error for _name, _value in dict(globals()).items()
               if isinstance(_value, _Lab) and _value.error}
    assert not _errors, f"a Lab shows an error: {_errors}"
"""


def _chapters() -> list[Path]:
    spec = importlib.util.spec_from_file_location("make_chapters", ROOT / "tools" / "make_chapters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chapters = module.chapter_files(ROOT / "notebooks")
    only = os.environ.get("REPLAB_BROWSER_CHAPTERS")  # e.g. "12,13": a quick look at a few chapters
    return [c for c in chapters if c.name[:2] in only.split(",")] if only else chapters


CHAPTERS = _chapters()
_last_wall_s: dict[str, float] = {}  # each chapter's wall time in the last run (test-output/browser/timings.txt)


def _read_timings() -> dict[str, float]:
    """The last run's wall time per chapter; in a fresh clone, those of a run kept in tests/ (without
    them the chapters went in name order, and chapter 14, one of the longest, ended alone)."""
    for where in (OUT / "timings.txt", ROOT / "tests" / "browser_timings.txt"):
        try:
            lines = where.read_text().splitlines()
            break
        except OSError:
            continue
    else:
        return {}
    return {line.split(":")[0]: float(line.split(", ")[-1].split(" s")[0]) for line in lines
            if ": ran in " in line}


def need_chromium() -> None:
    """Skip without Debian's Chromium; under CI, where .ci/run installs it, fail instead."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing and CI is set: install it (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium); under CI this test would fail")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server over a copy of notebooks/ (each chapter with the Lab check appended); yields its URL."""
    need_chromium()
    _last_wall_s.update(_read_timings())
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "data", root / "data")  # chapters read ../data/sweeps/*.toml
    for path in (root / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(LABS_HAVE_NO_ERROR))
        nbformat.write(nb, path)
    with jupyterlab_server(root, home, OUT / "jupyterlab.log", {"REPLAB_FAST": "1"}) as url:
        yield url


def _screenshots(page, stem: str) -> int:
    """Each Lab, each chart outside a Lab and each replay outside a Lab, one PNG each; how many."""
    taken = 0
    for k, lab in enumerate(page.locator(".replab-lab").all()):
        lab.scroll_into_view_if_needed()
        lab.screenshot(path=str(OUT / f"{stem}_lab{'' if k == 0 else k + 1}.png"))
        taken += 1
    for kind, selector in (("figure", ".js-plotly-plot"), ("replay", ".replab-replay")):
        count = page.evaluate("""([selector, kind]) => { let k = 0;
            document.querySelectorAll(selector).forEach((e) => { if (!e.closest('.replab-lab')) e.dataset.shot = kind + (++k); });
            return k; }""", [selector, kind])
        for k in range(1, count + 1):
            element = page.locator(f"[data-shot='{kind}{k}']")
            element.scroll_into_view_if_needed()
            element.screenshot(path=str(OUT / f"{stem}_{kind}_{k}.png"))
            taken += 1
    return taken


def _move_followers_slider(page) -> tuple[str, str, int, int]:
    """Chapter 01: ArrowRight on the followers slider; (readout before, after, charts, charts changed)."""
    lab = page.locator(".jp-CodeCell:has(.replab-lab)").first
    lab.scroll_into_view_if_needed()
    slider = lab.locator(".widget-slider", has_text="followers").first
    readout = slider.locator(".widget-readout")
    before = lab.evaluate(PLOT_DATA_JS)
    lab.evaluate(f"(cell) => {{ window.replabChartsBefore = JSON.stringify(({PLOT_DATA_JS})(cell)); }}")
    readout_before = readout.inner_text()
    slider.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("([el, old]) => el.innerText.trim() !== old",
                           arg=[readout.element_handle(), readout_before.strip()], timeout=30_000)
    page.wait_for_function(f"(cell) => JSON.stringify(({PLOT_DATA_JS})(cell)) !== window.replabChartsBefore",
                           arg=lab.element_handle(), timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.wait_for_function("(cell) => !/running/.test(cell.innerText)", arg=lab.element_handle(), timeout=120_000)
    after = lab.evaluate(PLOT_DATA_JS)
    changed = sum(a != b for a, b in zip(before, after))
    return readout_before, readout.inner_text(), len(after), changed


LANES = 2  # chapters run two at a time, one per tab (each with its own kernel): the machine has two cores


def _check(page, url: str, chapter: Path, took: float) -> dict:
    """After a chapter's Run All: what a reader would see go wrong, screenshots, chapter 01's slider."""
    stem = chapter.name[:2]
    page.wait_for_timeout(800)  # the last widget messages land and plotly finishes drawing
    outcome = {"took": took, "problems": problems_in(page), "overlaps": overlapping_text(page), "slider": None}
    if stem == "01":
        outcome["slider"] = _move_followers_slider(page)
    outcome["shots"] = _screenshots(page, stem)
    return outcome


@pytest.fixture(scope="module")
def outcomes(jupyterlab):
    """Every chapter run in the browser, LANES at a time; chapter file -> what was seen (or the failure)."""
    seen: dict[Path, dict] = {}
    waiting = sorted(CHAPTERS, key=lambda c: -_last_wall_s.get(c.stem, 0.0))  # the longest first: lanes end together
    with chromium() as browser:
        pages = []
        for lane in range(LANES):
            page = browser.new_page(viewport={"width": 1400, "height": 1900})  # a whole Lab fits in one screenshot
            page.errors = []
            page.on("pageerror", lambda err, page=page: page.errors.append(str(err)))
            pages.append({"page": page, "workspace": f"lane{lane}", "chapter": None})
        started = time.perf_counter()
        while waiting or any(p["chapter"] for p in pages):
            for lane in pages:
                page, chapter = lane["page"], lane["chapter"]
                try:
                    if chapter is None and waiting:
                        lane["chapter"], lane["since"] = waiting.pop(0), time.perf_counter()
                        start_notebook(page, jupyterlab, f"notebooks/{lane['chapter'].name}", lane["workspace"])
                        lane["ran"] = time.perf_counter()
                    elif chapter is not None and finished(page):
                        seen[chapter] = _check(page, jupyterlab, chapter, time.perf_counter() - lane["ran"])
                        seen[chapter]["wall"] = time.perf_counter() - lane["since"]
                    elif chapter is not None and time.perf_counter() - lane["ran"] > HANG_S:
                        raise TimeoutError(f"still running after {HANG_S} s")
                    else:
                        continue
                except Exception as err:  # this chapter failed; the others go on
                    chapter = lane["chapter"]
                    page.screenshot(path=str(OUT / f"{chapter.name[:2]}_failed.png"))
                    seen[chapter] = {"failure": f"{type(err).__name__}: {err}"}
                if lane["chapter"] in seen:
                    seen[lane["chapter"]]["page_errors"] = list(page.errors)
                    page.errors.clear()
                    path = f"notebooks/{lane['chapter'].name}"
                    shut_down_session(jupyterlab, path)
                    try:
                        close_notebook(page, path)
                    except Exception:  # a page in a bad state starts the next chapter afresh
                        page.goto("about:blank")
                    lane["chapter"] = None
            time.sleep(0.25)
        total = time.perf_counter() - started
    lines = [f"{c.stem}: ran in {o['took']:.1f} s, {o['wall']:.1f} s with opening and checks" if "took" in o
             else f"{c.stem}: {o['failure']}" for c, o in seen.items()]
    lines.append(f"all {len(CHAPTERS)} chapters, {LANES} at a time: {total:.1f} s")
    (OUT / "timings.txt").write_text("\n".join(lines) + "\n")  # wall times for benchmarks/LAB_RESULTS.md
    print("\n" + lines[-1])
    return seen


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_in_the_browser(outcomes, chapter):
    outcome = outcomes[chapter]
    assert "failure" not in outcome, f"{chapter.name}: {outcome.get('failure')} (screenshot and server log in {OUT})"
    print(f"\n{chapter.stem}: ran in {outcome['took']:.1f} s ({outcome['wall']:.1f} s with opening and checks), "
          f"{outcome['shots']} screenshots; page errors: {outcome['page_errors'] or 'none'}")
    assert outcome["problems"] == [], f"{chapter.name}: {outcome['problems']}"
    assert outcome["overlaps"] == [], f"{chapter.name}: text drawn over text: {outcome['overlaps']}"
    if outcome["slider"] is not None:
        readout_before, readout_after, charts, changed = outcome["slider"]
        assert int(readout_after) == int(readout_before) + 1, (readout_before, readout_after)
        assert charts >= 3 and changed > 0, "no chart changed after moving the followers slider"


def test_a_paused_replay_asks_the_browser_for_no_frames_and_play_animates_it(tmp_path):
    """A replay is drawn, then waits for the reader. Asking the browser for every frame while
    paused kept it a quarter of a core busy for as long as the chapter stayed open. Play animates
    it frame by frame; pause stops it again. (The page holds the replay's HTML output alone.)"""
    need_chromium()
    from replab import Scenario, run
    from replab.viz import replay

    page_file = tmp_path / "replay.html"
    page_file.write_text(f"<html><body>{replay(run(Scenario.preset('leader-follower').replace(duration_ms=1000.0)))._repr_html_()}"
                         "</body></html>")
    with chromium() as browser:
        page = browser.new_page()
        page.add_init_script("""window.framesAsked = 0;
            const ask = window.requestAnimationFrame.bind(window);
            window.requestAnimationFrame = (f) => { window.framesAsked += 1; return ask(f); };""")
        page.goto(page_file.as_uri())
        canvas = page.locator(".replab-replay canvas")
        page.wait_for_function("() => Number(document.querySelector('.replab-replay canvas').dataset.frames) > 0")

        def asked_over(ms: int) -> int:
            before = page.evaluate("window.framesAsked")
            page.wait_for_timeout(ms)
            return page.evaluate("window.framesAsked") - before

        assert asked_over(1000) == 0, "paused, and still asking for frames"
        drawn, t_ms = int(canvas.get_attribute("data-frames")), float(canvas.get_attribute("data-t"))
        play = page.locator(".replab-replay button")
        play.click()
        page.wait_for_function(f"() => Number(document.querySelector('.replab-replay canvas').dataset.frames) > {drawn + 5}",
                               timeout=30_000)
        assert float(canvas.get_attribute("data-t")) != t_ms and play.inner_text() == "❚❚ pause"
        play.click()
        page.wait_for_timeout(300)  # the frame asked for by the click is drawn
        assert asked_over(1000) == 0, "paused again, and still asking for frames"
