"""Chapter 01 in a real browser: JupyterLab + headless Chromium, driven by Playwright.

Opens notebooks/01_leader_follower.ipynb, runs all cells, waits for the Lab's widgets and
plotly charts to render, moves the followers slider and checks that the charts' data
changed. Screenshots go to test-output/browser/.

Needs Debian's chromium (/usr/bin/chromium; `.ci/run` installs it). Without it the test
skips locally and fails under CI (env CI set).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-output" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CHAPTER = "notebooks/01_leader_follower.ipynb"
# JupyterLab user settings for the test: no news pop-up over the page, no autosave (the
# server works on a copy of the notebooks anyway), and every cell kept in the page (by
# default JupyterLab 4 detaches cells scrolled out of view, and the Lab's cell would vanish
# while Run All scrolls to the end).
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
# The data of every plotly chart in an element, one JSON string per chart (made in the page,
# so before and after are serialised alike; plotly may hold typed arrays, hence Array.from).
PLOT_DATA_JS = """
(cell) => Array.from(cell.querySelectorAll('.js-plotly-plot')).map((gd) => JSON.stringify(
    (gd.data || []).map((t) => [t.name || '', Array.from(t.x || []), Array.from(t.y || [])])))
"""

# True once any code cell shows a prompt of [*] or [n]: execution has begun.
RUN_STARTED_JS = r"""
() => Array.from(document.querySelectorAll('.jp-InputPrompt')).some((p) => /\[(\*|\d+)\]/.test(p.innerText))
"""


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing and CI is set: install it (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium); under CI this test would fail")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on a free port, no token, over a copy of notebooks/; yields its URL."""
    _require_chromium()
    OUT.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = home / "settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ, REPLAB_FAST="1", JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    port = _free_port()
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={port}",
               "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI often run as root
    log = open(OUT / "jupyterlab.log", "w")  # noqa: SIM115 - the server writes to it until the fixture ends
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{url}/api"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start; see {OUT / 'jupyterlab.log'}")
            time.sleep(0.25)
        yield url
    finally:
        # The server shuts its kernels down on SIGTERM; its process group goes if it hangs.
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        log.close()


def test_chapter_01_renders_and_reacts_in_chromium(jupyterlab):
    from playwright.sync_api import sync_playwright

    step = "launch chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
        try:
            step = "open the chapter and wait for its kernel"
            page.goto(f"{jupyterlab}/lab/tree/{CHAPTER}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            # The status bar says "<kernel> | Idle" only once the kernel is connected and ready.
            page.wait_for_function(r"""() => { const bar = document.querySelector('#jp-main-statusbar');
                                           return !!bar && /\| Idle/.test(bar.innerText); }""", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)

            step = "Run > Run All Cells"
            for attempt in (1, 2):  # a click that lands while the kernel is still settling may do nothing
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                try:
                    page.wait_for_function(RUN_STARTED_JS, timeout=20_000)
                    break
                except Exception:
                    if attempt == 2:
                        raise

            step = "wait for the Lab's widgets"  # the Lab's cell holds the followers slider
            lab = page.locator(".jp-CodeCell").filter(has=page.locator(".jp-OutputArea .widget-slider")).first
            lab.wait_for(state="attached", timeout=60_000)
            lab.scroll_into_view_if_needed()
            slider = lab.locator(".widget-slider", has_text="followers").first
            slider.wait_for(state="attached", timeout=30_000)
            step = "wait for the Lab's plotly charts"
            page.wait_for_function(
                "(cell) => cell.querySelectorAll('.js-plotly-plot').length >= 4 && "
                "Array.from(cell.querySelectorAll('.js-plotly-plot')).every((gd) => (gd.data || []).length > 0)",
                arg=lab.element_handle(), timeout=60_000)
            step = "wait for the rest of the notebook"  # so the kernel is free to re-run the Lab
            page.wait_for_selector(".jp-CodeCell .jp-InputArea-prompt:text-is('[*]:')", state="detached",
                                   timeout=90_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            lab.scroll_into_view_if_needed()
            before = lab.evaluate(PLOT_DATA_JS)
            lab.evaluate(f"(cell) => {{ window.replabChartsBefore = JSON.stringify(({PLOT_DATA_JS})(cell)); }}")
            readout = slider.locator(".widget-readout")
            readout_before = readout.inner_text()
            page.screenshot(path=str(OUT / "01_leader_follower_before.png"))

            step = "press ArrowRight on the followers slider"
            slider.locator(".noUi-handle").first.focus()
            page.keyboard.press("ArrowRight")
            moved_at = time.perf_counter()
            page.wait_for_function("([el, old]) => el.innerText.trim() !== old",
                                   arg=[readout.element_handle(), readout_before.strip()], timeout=10_000)
            step = "wait for the charts to be redrawn"
            page.wait_for_function(f"(cell) => JSON.stringify(({PLOT_DATA_JS})(cell)) !== window.replabChartsBefore",
                                   arg=lab.element_handle(), timeout=60_000)
            redrawn_s = time.perf_counter() - moved_at
            page.wait_for_timeout(500)  # let the other charts of the same run land before the pictures
            after = lab.evaluate(PLOT_DATA_JS)
            readout_after = readout.inner_text()
            page.screenshot(path=str(OUT / "01_leader_follower_after.png"))
            lab.screenshot(path=str(OUT / "01_leader_follower_lab.png"))
        except Exception as err:
            page.screenshot(path=str(OUT / "01_leader_follower_failed.png"))
            outputs = page.evaluate("() => Array.from(document.querySelectorAll('.jp-CodeCell')).map((c) =>"
                                    " c.querySelector('.jp-InputPrompt').innerText + ' '"
                                    " + c.querySelector('.jp-OutputArea').innerText.slice(0, 300))")
            raise AssertionError(f"browser test failed at step {step!r} (screenshot and server log in {OUT}); "
                                 f"page errors: {errors or 'none'}; outputs: {outputs}") from err
        finally:
            browser.close()

    assert int(readout_after) == int(readout_before) + 1, (readout_before, readout_after)
    assert len(after) == len(before) >= 4
    changed = [i for i, (b, a) in enumerate(zip(before, after)) if a != b]
    assert changed, "no chart changed after moving the followers slider"
    print(f"\nfollowers {readout_before} -> {readout_after}: {len(changed)} of {len(after)} charts redrawn "
          f"{redrawn_s:.2f} s after the key press (live debounce included); page errors: {errors or 'none'}")
