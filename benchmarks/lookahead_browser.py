"""A Lab running ahead, seen in a real JupyterLab in headless Chromium (Playwright, Debian's chromium).

One notebook with one Lab (leader-follower, 10 s, the default controls) is run with Run All;
after `--look` seconds of "looking", the replication.ack dropdown is set to sync in the page,
as a student would. Printed: the Lab's status line after the change ("already run: drawn in
…" when the background process had run it), the seconds from the change to that line, and
any error the page shows. A screenshot goes to test-output/lookahead_browser.png.

    .venv/bin/python benchmarks/lookahead_browser.py [--look 6]

The test suite proves the same in a real kernel without a browser (tests/test_lookahead.py);
this shows the path from the browser's widget message to the drawing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from jupyterlab_driver import chromium, finished, jupyterlab_server, problems_in, start_notebook  # noqa: E402

CELL = ("from replab import Scenario\nfrom replab.lab import Lab\n"
        "lab = Lab(Scenario.preset('leader-follower'), charts=['latency', 'throughput'], lookahead=True)\nlab")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--look", type=float, default=6.0, help="seconds between the Lab's first run and the change")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, home = Path(tmp) / "root", Path(tmp) / "home"
        root.mkdir()
        home.mkdir()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / "look.ipynb")
        with jupyterlab_server(root, home, Path(tmp) / "server.log") as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1300, "height": 1100})
            start_notebook(page, url, "look.ipynb")
            while not finished(page):
                time.sleep(0.2)
            lab = page.locator(".replab-lab")
            before = next(line for line in lab.inner_text().splitlines() if " operations, " in line)
            print(f"first run:    {before}")
            time.sleep(args.look)
            changed = time.perf_counter()
            lab.locator("select").first.select_option("sync")
            page.wait_for_function("([el, old]) => el.innerText.includes(' operations, ') && "
                                   "!el.innerText.includes(old) && !/running/.test(el.innerText)",
                                   arg=[lab.element_handle(), before], timeout=120_000)
            took = time.perf_counter() - changed
            after = next(line for line in lab.inner_text().splitlines() if " operations, " in line)
            print(f"after 'sync': {after}  ({took:.2f} s from the change, the browser's drawing included)")
            out = ROOT / "test-output"
            out.mkdir(exist_ok=True)
            page.screenshot(path=str(out / "lookahead_browser.png"))
            print(f"problems in the page: {problems_in(page) or 'none'}")


if __name__ == "__main__":
    main()
