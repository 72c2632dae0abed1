"""Simulation speed and memory on the default leader-follower preset.

For three simulated durations it runs the preset (3 followers, async, 80% reads, full
history kept) in a fresh process and reports simulated client requests per wall-clock
second and peak memory; other presets (every other kind of scenario: OTHER_PRESETS) are measured at one
duration. Each run is its own process so peak RSS belongs to that run;
bytes per request are taken from the growth in peak RSS between the shortest and the
longest run, which cancels the interpreter and imports.

    .venv/bin/python benchmarks/run.py            # prints a table, appends to benchmarks/history.jsonl
    .venv/bin/python benchmarks/run.py --against ../before --repeat 3
        # the same runs of this tree and of another checkout (e.g. `git worktree add ../before REV`),
        # interleaved so both see the same load; best of N each, and the ratio per preset
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

DURATIONS_MS = (20_000.0, 60_000.0, 180_000.0)
OTHER_PRESETS = ("tree", "leader-leader", "buddy", "push-pull", "switch-pair", "three-dc")  # measured once each, at the middle duration
HERE = Path(__file__).resolve().parent

CHILD = """
import json, resource, sys, time
import replab
from replab import ReplicationModel, Results, Scenario
scenario = Scenario.preset(sys.argv[2]).replace(duration_ms=float(sys.argv[1]))
replab.run(scenario.replace(**{"duration_ms": 200.0, "faults.events": []}))  # warm caches and lazy imports
base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start, cpu_start = time.perf_counter(), time.process_time()
model = ReplicationModel(scenario).run()
simulated_s = time.perf_counter() - start
results = Results.from_model(model)
total_s = time.perf_counter() - start
cpu_s = time.process_time() - cpu_start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"preset": sys.argv[2], "duration_ms": scenario.duration_ms, "requests": len(results.requests),
                  "events": model.calendar.events_run, "simulate_s": simulated_s, "total_s": total_s, "cpu_s": cpu_s,
                  "base_kb": base_kb, "peak_kb": peak_kb}))
"""


def measure(duration_ms: float, preset: str = "leader-follower", tree: Path | None = None) -> dict:
    """One run in a fresh process, of this checkout's replab or of the one in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree is not None else None
    out = subprocess.run([sys.executable, "-c", CHILD, str(duration_ms), preset],
                         check=True, capture_output=True, text=True, env=env, cwd=tree or HERE.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(against: Path, repeat: int) -> None:
    """Every preset at 60 s simulated, this tree and `against` taking turns; best of `repeat`
    of the CPU time each run took (simulation and frames)."""
    print(f"{'preset':<17}{'this tree s':>12}{'against s':>11}{'ratio':>8}  (CPU s of simulating + frames, best of {repeat}: CPU time shrugs off a busy machine better than wall time)")
    records = []
    for preset in ("leader-follower", *OTHER_PRESETS):
        best = {"this": math.inf, "against": math.inf}
        for _ in range(repeat):
            best["this"] = min(best["this"], measure(DURATIONS_MS[1], preset)["cpu_s"])
            best["against"] = min(best["against"], measure(DURATIONS_MS[1], preset, against)["cpu_s"])
        ratio = best["this"] / best["against"]
        records.append({"preset": preset, **best, "ratio": ratio})
        print(f"{preset:<17}{best['this']:>12.3f}{best['against']:>11.3f}{ratio:>8.3f}", flush=True)
    with open(HERE / "history.jsonl", "a") as history:
        history.write(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "compare_against": str(against),
                                  "repeat": repeat, "rows": records}) + "\n")


def main() -> list[dict]:
    rows = [measure(d) for d in DURATIONS_MS]
    first, last = rows[0], rows[-1]
    bytes_per_request = (last["peak_kb"] - first["peak_kb"]) * 1024 / (last["requests"] - first["requests"])
    others = [measure(DURATIONS_MS[1], preset) for preset in OTHER_PRESETS]
    print(f"{'preset':<17}{'simulated s':>12}{'requests':>10}{'events':>11}{'wall s':>8}{'req/s':>10}{'events/s':>11}{'peak MB':>9}")
    for r in rows + others:
        r["requests_per_s"] = r["requests"] / r["total_s"]
        r["events_per_s"] = r["events"] / r["simulate_s"]
        print(f"{r['preset']:<17}{r['duration_ms'] / 1000:>12.0f}{r['requests']:>10,}{r['events']:>11,}{r['total_s']:>8.2f}"
              f"{r['requests_per_s']:>10,.0f}{r['events_per_s']:>11,.0f}{r['peak_kb'] / 1024:>9.1f}")
    print(f"memory per recorded request (peak RSS growth, {first['duration_ms'] / 1000:.0f} s to "
          f"{last['duration_ms'] / 1000:.0f} s): {bytes_per_request:.0f} bytes")
    record = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "python": platform.python_version(),
              "machine": platform.machine(), "rows": rows + others, "bytes_per_request": bytes_per_request}
    with open(HERE / "history.jsonl", "a") as history:
        history.write(json.dumps(record) + "\n")
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", type=Path, help="another checkout to compare with, preset by preset")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side per preset with --against (best is kept)")
    args = parser.parse_args()
    if args.against:
        compare(args.against.resolve(), args.repeat)
    else:
        main()
