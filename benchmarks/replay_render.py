"""The replay drawn two ways, measured in headless Chromium: plotly frames vs replab's canvas.

For one run (default: the `failover` preset, 10 s, ~20,000 operations) it measures

- building the replay's data from the Results (replab.viz.replay_data) and its size as JSON;
- the same replay as a plotly Figure with one frame per timeline sample (nodes coloured by
  role and up/down, replication arrows, a dot for each message in flight at the frame's
  instant): building it, its size, and how many frames per second `Plotly.animate` shows;
- replab's canvas (the HTML output replab.viz.replay gives a notebook, in a plain page): its
  size and how many frames per second it draws while playing.

    .venv/bin/python benchmarks/replay_render.py [--preset failover] [--seconds 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly
import plotly.graph_objects as go

from replab import Scenario, run
from replab.viz.replay import Replay
from replab.viz.replay_data import _hosts, _legs, replay_data
from replab.viz.style import ROLE_COLOURS

HERE = Path(__file__).resolve().parent
JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def plotly_frames(results, data: dict) -> go.Figure:
    """The replay as plotly frames: each frame repeats every trace, with the messages in flight at its instant."""
    hosts = data["hosts"]
    drawing = data["drawing"]
    position = [drawing["nodes"].get(h) or drawing["hosts"].get(h) for h in hosts]
    legs = _legs(results, _hosts(results))
    roles = ["leader", "follower", "server"]
    frames = []
    for f, t in enumerate(data["times"]):
        flying = np.flatnonzero((legs["sent_ms"] <= t) & (legs["received_ms"] >= t))
        share = (t - legs["sent_ms"][flying]) / np.maximum(legs["received_ms"][flying] - legs["sent_ms"][flying], 1e-9)
        src = np.array([position[i] for i in legs["src"][flying]]).reshape(-1, 2)
        dst = np.array([position[i] for i in legs["dst"][flying]]).reshape(-1, 2)
        dots = src + (dst - src) * share[:, None]
        edge_x, edge_y = [], []
        for a, b in data["edges"][f]:
            (x0, y0), (x1, y1) = drawing["nodes"][data["nodes"][a]], drawing["nodes"][data["nodes"][b]]
            edge_x += [x0, x1, None]
            edge_y += [y0, y1, None]
        colours = [ROLE_COLOURS[roles[r]] if u else ROLE_COLOURS["down"] for r, u in zip(data["role"][f], data["up"][f])]
        frames.append(go.Frame(name=str(f), data=[
            go.Scatter(x=edge_x, y=edge_y, mode="lines"),
            go.Scatter(x=dots[:, 0], y=dots[:, 1], mode="markers", marker=dict(size=6)),
            go.Scatter(x=[drawing["nodes"][n][0] for n in data["nodes"]], y=[drawing["nodes"][n][1] for n in data["nodes"]],
                       mode="markers+text", text=[f"{n} {a}" for n, a in zip(data["nodes"], data["applied"][f])],
                       marker=dict(size=22, color=colours))]))
    fig = go.Figure(data=frames[0].data, frames=frames)
    fig.update_layout(width=420, height=360, showlegend=False,
                      updatemenus=[dict(type="buttons", buttons=[dict(label="play", method="animate", args=[None])])],
                      sliders=[dict(steps=[dict(method="animate", args=[[fr.name]], label=fr.name) for fr in frames])])
    return fig


PLOTLY_PAGE = """<html><head><script>{js}</script></head><body><div id="fig"></div><script>
const fig = {fig};
Plotly.newPlot('fig', fig.data, fig.layout).then(() => Plotly.addFrames('fig', fig.frames)).then(() => {{
  window.shown = 0; const started = performance.now();
  const names = fig.frames.map((f) => f.name);
  function next(i) {{
    Plotly.animate('fig', [names[i % names.length]], {{frame: {{duration: 0, redraw: true}}, transition: {{duration: 0}},
                                                    mode: 'immediate'}}).then(() => {{ window.shown++; window.elapsed = performance.now() - started;
                                                    next(i + 1); }});
  }}
  next(0);
}});
</script></body></html>"""

CANVAS_PAGE = """<html><body>{replay}<script>
document.querySelector(".replab-replay button").click();
</script></body></html>"""


def measure(page_html: str, folder: Path, seconds: float, canvas: bool) -> tuple[float, float]:
    """(frames per second shown, seconds to first frame) in headless Chromium."""
    from playwright.sync_api import sync_playwright

    page_path = folder / ("canvas.html" if canvas else "plotly.html")
    page_path.write_text(page_html)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page()
        opened = time.perf_counter()
        page.goto(page_path.as_uri())
        if canvas:
            page.wait_for_function("() => Number(document.querySelector('canvas').dataset.frames) > 0")
            first = time.perf_counter() - opened
            before = int(page.evaluate("() => Number(document.querySelector('canvas').dataset.frames)"))
            page.wait_for_timeout(seconds * 1000)
            after = int(page.evaluate("() => Number(document.querySelector('canvas').dataset.frames)"))
            fps = (after - before) / seconds
        else:
            page.wait_for_function("() => window.shown > 0", timeout=120_000)
            first = time.perf_counter() - opened
            page.wait_for_timeout(seconds * 1000)
            shown, elapsed = page.evaluate("() => [window.shown, window.elapsed]")
            fps = shown / (elapsed / 1000)
        browser.close()
    return fps, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="failover")
    parser.add_argument("--seconds", type=float, default=4.0, help="how long each animation is watched")
    args = parser.parse_args()
    results = run(Scenario.preset(args.preset))
    started = time.perf_counter()
    data = replay_data(results)
    data_s = time.perf_counter() - started
    canvas_html = Replay(data, 420, 360)._repr_html_()
    canvas_bytes = len(canvas_html)
    started = time.perf_counter()
    fig = plotly_frames(results, data)
    frames_s = time.perf_counter() - started
    fig_json = fig.to_json()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        plotly_fps, plotly_first = measure(PLOTLY_PAGE.format(js=JS.read_text(), fig=fig_json), folder, args.seconds, False)
        canvas_fps, canvas_first = measure(CANVAS_PAGE.format(replay=canvas_html), folder, args.seconds, True)
    print(f"{args.preset}: {results.summary['operations']:,} operations, {len(data['times'])} frames")
    print(f"{'':24}{'build s':>9}{'KiB':>8}{'first frame s':>15}{'frames/s':>10}")
    print(f"{'plotly frames':24}{frames_s:>9.3f}{len(fig_json) / 1024:>8.0f}{plotly_first:>15.2f}{plotly_fps:>10.1f}")
    print(f"{'canvas (HTML output)':24}{data_s:>9.3f}{canvas_bytes / 1024:>8.0f}{canvas_first:>15.2f}{canvas_fps:>10.1f}")


if __name__ == "__main__":
    main()
