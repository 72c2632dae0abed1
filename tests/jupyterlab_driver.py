"""Drive notebooks in a real JupyterLab from headless Chromium (Playwright): the browser test's machinery.

    with jupyterlab_server(root, home, log_path, env_extra) as url:   a server over `root`, no token, a free port
        with chromium() as browser:
            page = browser.new_page(viewport=...)
            start_notebook(page, url, "notebooks/01_leader_follower.ipynb")   open it and press Run All
            finished(page)                                Run All has ended and the kernel is idle (poll it)
            problems_in(page)                             error outputs, Lab error messages, empty charts
            overlapping_text(page)                        text drawn over text in any plotly chart
            shut_down_session(url, path); close_notebook(page, path)

Settings for the server's JupyterLab: no news pop-up, no autosave, every cell kept in the
page (JupyterLab 4 detaches cells scrolled out of view by default, and a Lab's cell would
vanish while Run All scrolls to the end).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
# Every plotly chart's data in an element, one JSON string per chart (made in the page, so
# before and after are serialised alike; plotly may hold typed arrays, hence Array.from).
PLOT_DATA_JS = """
(cell) => Array.from(cell.querySelectorAll('.js-plotly-plot')).map((gd) => JSON.stringify(
    (gd.data || []).map((t) => [t.name || '', Array.from(t.x || []), Array.from(t.y || [])])))
"""
# Run All has finished: no cell waits or runs ([*]), and every code cell ran or an error stopped the rest.
DONE_JS = r"""
() => {
  const prompts = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map((p) => p.innerText);
  if (!prompts.length || prompts.some((p) => p.includes('*'))) return false;
  const error = Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .some((o) => /Traceback \(most recent call last\)/.test(o.innerText));  // Run All stops at an error
  return prompts.every((p) => /\[\d+\]/.test(p)) || error;
}
"""
# Trouble a reader would see: tracebacks, a Lab's red message, charts with no data, replays never drawn.
PROBLEMS_JS = r"""
() => {
  const out = [];
  document.querySelectorAll('.jp-OutputArea-output').forEach((o) => {
    const text = o.innerText || '';
    if (/Traceback \(most recent call last\)/.test(text)) out.push('error output: ' + text.slice(0, 600));
  });
  document.querySelectorAll('.replab-lab').forEach((lab) => {
    const message = lab.querySelector('.replab-lab-message');
    if (message && message.innerText.trim()) out.push('a Lab says: ' + message.innerText.trim().slice(0, 300));
  });
  document.querySelectorAll('.js-plotly-plot').forEach((gd, i) => {
    // _fullData: the traces as plotly drew them (px sends arrays packed as base64, decoded there)
    const points = (gd._fullData || []).reduce((n, t) => n + (t._length || (t.x && t.x.length) || (t.z && t.z.length)
                                                               || (t.values && t.values.length) || 0), 0);
    if (!points) out.push(`chart ${i} (${(gd.layout && gd.layout.title && gd.layout.title.text) || 'untitled'}) has no data`);
  });
  document.querySelectorAll('.replab-replay canvas').forEach((c, i) => {
    if (!(Number(c.dataset.frames) > 0)) out.push(`replay ${i} was never drawn`);
  });
  return out;
}
"""
# Pairs of text boxes drawn over each other inside one plotly chart (legend, titles, ticks, labels).
OVERLAP_JS = r"""
(root) => {
  const out = [];
  (root || document).querySelectorAll('.js-plotly-plot').forEach((gd) => {
    const title = (gd.layout && gd.layout.title && gd.layout.title.text) || 'untitled';
    const boxes = [];
    gd.querySelectorAll('svg text').forEach((t) => {
      const text = (t.textContent || '').trim();
      if (!text || t.closest('.hoverlayer') || getComputedStyle(t).opacity === '0') return;
      const r = t.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) return;
      boxes.push({text, l: r.left, r: r.right, t: r.top, b: r.bottom});
    });
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      const w = Math.min(a.r, b.r) - Math.max(a.l, b.l), h = Math.min(a.b, b.b) - Math.max(a.t, b.t);
      if (w > 2 && h > 2) out.push(`${title}: "${a.text.slice(0, 40)}" over "${b.text.slice(0, 40)}"`);
    }
  });
  return out;
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def jupyterlab_server(root: Path, home: Path, log_path: Path, env_extra: dict | None = None):
    """A JupyterLab server over `root` (its own config, runtime and settings under `home`); yields its URL."""
    settings = home / "settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               **(env_extra or {}))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    port = free_port()
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={port}",
               "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
               "--ServerApp.disable_check_xsrf=True"]  # shut_down_session DELETEs without a browser's cookie
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI often run as root
    log = open(log_path, "w")  # noqa: SIM115 - the server writes to it until the context ends
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _answers(f"{url}/api"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start; see {log_path}")
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


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def start_notebook(page, url: str, path: str, workspace: str = "default") -> None:
    """Open `path` in JupyterLab, wait for its kernel, and press Run All.

    The first notebook of a page loads JupyterLab (its own workspace, fresh); later ones open in
    the same JupyterLab with File ▸ Open from Path (a second where loading the app takes several).
    """
    if "/lab" not in page.url:
        page.goto(f"{url}/lab/workspaces/{workspace}/tree/{path}?reset")  # nothing left from an earlier run
    else:
        page.locator(".lm-MenuBar-itemLabel", has_text="File").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Open from Path").first.click()
        page.locator(".jp-Dialog input").fill(path)
        page.keyboard.press("Enter")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    # The status bar says "<kernel> | Idle" only once the kernel is connected and ready.
    page.wait_for_function(r"""() => { const bar = document.querySelector('#jp-main-statusbar');
                                   return !!bar && /\| Idle/.test(bar.innerText); }""", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    for attempt in (1, 2):  # a click that lands while the kernel is still settling may do nothing
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(r"""() => Array.from(document.querySelectorAll('.jp-InputPrompt'))
                                         .some((p) => /\[(\*|\d+)\]/.test(p.innerText))""", timeout=30_000)
            break
        except Exception:
            if attempt == 2:
                raise


def finished(page) -> bool:
    """Run All has finished (every cell ran, or an error stopped it) and the kernel is idle."""
    return page.evaluate(DONE_JS) and page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0


def close_notebook(page, path: str) -> None:
    """Close the notebook's tab, discarding its outputs (the copy on the server is left as it was)."""
    name = path.rsplit("/", 1)[-1]
    tab = page.locator(".lm-TabBar-tab", has=page.locator(f".lm-TabBar-tabLabel:text-is('{name}')"))
    tab.locator(".lm-TabBar-tabCloseIcon").click()
    with contextlib.suppress(Exception):  # no dialog: nothing to discard
        page.locator(".jp-Dialog button", has_text="Discard").first.click(timeout=5_000)
    page.wait_for_selector(".jp-NotebookPanel", state="detached", timeout=30_000)


def shut_down_session(url: str, path: str) -> None:
    """Stop the kernel of the notebook at `path` (it must not slow down the next chapter)."""
    with urllib.request.urlopen(f"{url}/api/sessions", timeout=10) as response:
        sessions = json.load(response)
    for session in sessions:
        if session.get("path", "").endswith(path):
            request = urllib.request.Request(f"{url}/api/sessions/{session['id']}", method="DELETE")
            urllib.request.urlopen(request, timeout=30).close()


def problems_in(page) -> list[str]:
    return page.evaluate(PROBLEMS_JS)


def overlapping_text(page, element=None) -> list[str]:
    return page.evaluate(OVERLAP_JS, element) if element is None else element.evaluate(OVERLAP_JS)
