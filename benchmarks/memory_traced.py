"""Memory per recorded request by tracemalloc's peak, which does not move with the allocator.

`run.py` takes memory per request from the growth of peak RSS between a 20 s and a 180 s
run; that figure moved by 100 bytes between two hours on the same commit (glibc's heap, the
machine's state). This script runs the default leader-follower preset at both durations in
fresh processes with tracemalloc on (Python objects and numpy/pandas buffers alike) and
divides the growth of the traced peak (simulation, frames and summary) by the growth in requests.

    .venv/bin/python benchmarks/memory_traced.py                       # this tree
    .venv/bin/python benchmarks/memory_traced.py --against ../before   # and another checkout, same way
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DURATIONS_MS = (20_000.0, 180_000.0)

CHILD = """
import sys, tracemalloc
from replab import ReplicationModel, Results, Scenario
scenario = Scenario.preset("leader-follower").replace(duration_ms=float(sys.argv[1]))
ReplicationModel(scenario.replace(duration_ms=200.0)).run()  # warm caches and lazy imports
tracemalloc.start()
results = Results.from_model(ReplicationModel(scenario).run())
results.summary
print(len(results.requests), tracemalloc.get_traced_memory()[1])
"""


def traced(duration_ms: float, tree: Path) -> tuple[int, int]:
    """(requests, traced peak bytes) of one run in a fresh process importing replab from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(duration_ms)], check=True, capture_output=True,
                         text=True, env=env, cwd=tree).stdout.split()
    return int(out[0]), int(out[1])


def bytes_per_request(tree: Path) -> float:
    (r0, p0), (r1, p1) = (traced(d, tree) for d in DURATIONS_MS)
    return (p1 - p0) / (r1 - r0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout, measured the same way")
    args = parser.parse_args()
    trees = [("this tree", HERE.parent)] + ([("against", args.against.resolve())] if args.against else [])
    for label, tree in trees:
        print(f"{label}: {bytes_per_request(tree):.0f} bytes per recorded request (tracemalloc peak growth, "
              f"{DURATIONS_MS[0] / 1000:.0f} s to {DURATIONS_MS[1] / 1000:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
