"""Where a Lab's run spends its time, by replab module: what compiling each part could buy.

Runs each chosen Lab's scenario (as benchmarks/lab_latency.py builds it) once under cProfile and
sums the functions' own time (tottime) by module of replab; C builtins (heapq, list, dict and
iterator methods) are one group. Shares are taken under the profiler, which inflates the cost of
Python calls: read them as rough proportions. Amdahl's law then bounds a compiled core: with a
share p of the run made k times faster, the run is 1 / (1 - p + p / k) times faster.

    .venv/bin/python benchmarks/where_time_goes.py [--only 01 03 09 10] [--top 9]
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats

from lab_latency import _chapters

from replab.sim.model import ReplicationModel


def shares(scenario) -> tuple[float, collections.Counter]:
    """(profiled seconds of one run, seconds by module)."""
    model = ReplicationModel(scenario)
    profile = cProfile.Profile()
    profile.enable()
    model.run()
    profile.disable()
    by_module: collections.Counter = collections.Counter()
    for (path, _line, name), (_cc, _nc, own_s, _cum, _callers) in pstats.Stats(profile).stats.items():
        if "/replab/" in path:
            key = path.split("/replab/")[1].removesuffix(".py")
        elif name.startswith(("<built-in", "<method")):
            key = "builtins (heapq, list, dict, iterators)"
        else:
            key = "other"
        by_module[key] += own_s
    return sum(by_module.values()), by_module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=["01", "03", "09", "10"], help="Labs by number")
    parser.add_argument("--top", type=int, default=9, help="modules shown per Lab")
    args = parser.parse_args()
    chapters = {name[:2]: chapter for name, chapter in _chapters().items()}
    unknown = [lab for lab in args.only if lab not in chapters]
    if unknown:
        parser.error(f"--only {unknown[0]}: choose from {', '.join(chapters)}")
    for lab in args.only:
        total, by_module = shares(chapters[lab]["scenario"])
        print(f"{lab}: {total:.2f} s under the profiler")
        for module, seconds in by_module.most_common(args.top):
            print(f"   {100 * seconds / total:5.1f} %  {module}")


if __name__ == "__main__":
    main()
