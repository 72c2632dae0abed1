"""A digest of every preset's results: one hash per frame and one of the summary.

Run it before and after a change that must not move any existing number:

    .venv/bin/python tools/preset_digest.py > before.json   # on the old commit
    .venv/bin/python tools/preset_digest.py --compare before.json

Frames are hashed by value (pandas.util.hash_pandas_object, index included), so a coded
column that gains a label it never uses (a module's REASONS.add) hashes the same. The
summary is hashed over the keys the baseline has, so new keys do not count as a change
(they are listed). Presets added since the baseline are listed, not compared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys

import pandas as pd

import replab
from replab import Scenario


def _hash_frame(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(map(str, frame.columns)).encode()).hexdigest()[:16]


def _plain(value):
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def digest(name: str) -> dict:
    results = replab.run(Scenario.preset(name))
    frames = {f: _hash_frame(getattr(results, f)) for f in
              ("requests", "writes", "applies", "timeline", "events", "sessions", "conflicts", "receipts", "fetches")}
    frames |= {f"tables.{t}": _hash_frame(frame) for t, frame in results.tables.items()}
    return {"frames": frames, "summary": {k: _plain(v) for k, v in results.summary.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", help="a baseline written by this script")
    parser.add_argument("presets", nargs="*", help="presets to digest (default: every one)")
    args = parser.parse_args()
    names = args.presets or list(Scenario.presets())
    if not args.compare:
        json.dump({name: digest(name) for name in names}, sys.stdout, indent=1, sort_keys=True)
        return 0
    with open(args.compare) as file:
        baseline = json.load(file)
    changed = 0
    for name in names:
        if name not in baseline:
            print(f"{name}: new preset, not compared")
            continue
        now, then = digest(name), baseline[name]
        frames = [f for f in then["frames"] if now["frames"].get(f) != then["frames"][f]]
        summary = [k for k in then["summary"] if now["summary"].get(k) != then["summary"][k]]
        added = sorted(set(now["summary"]) - set(then["summary"])) + sorted(set(now["frames"]) - set(then["frames"]))
        changed += bool(frames or summary)
        print(f"{name}: {'CHANGED' if frames or summary else 'identical'}"
              + (f" frames {frames}" if frames else "") + (f" summary {summary}" if summary else "")
              + (f" (new: {', '.join(added)})" if added else ""))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
