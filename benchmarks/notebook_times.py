"""How long each chapter takes to run top to bottom, headless, as the tests run it.

    .venv/bin/python benchmarks/notebook_times.py            # fast mode (REPLAB_FAST=1), every chapter
    .venv/bin/python benchmarks/notebook_times.py --full 02  # full mode, chapters whose name starts 02

Prints one line per chapter (seconds of wall time) and appends them to
benchmarks/history.jsonl. The tests only guard against a hang; the figures live here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = HERE.parent / "notebooks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="chapters whose file name starts with one of these (default: all)")
    parser.add_argument("--full", action="store_true", help="full mode (REPLAB_FAST unset)")
    args = parser.parse_args()
    if args.full:
        os.environ.pop("REPLAB_FAST", None)
    else:
        os.environ["REPLAB_FAST"] = "1"
    chapters = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")
                      if not args.prefixes or any(p.name.startswith(x) for x in args.prefixes))
    for path in chapters:
        nb = nbformat.read(path, as_version=4)
        started = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        wall_s = time.perf_counter() - started
        print(f"{path.stem:<40} {wall_s:6.1f} s", flush=True)
        record = {"benchmark": "notebook", "chapter": path.stem, "fast": not args.full, "wall_s": round(wall_s, 2),
                  "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.machine(), "cpus": os.cpu_count()}
        with open(HERE / "history.jsonl", "a") as history:
            history.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
