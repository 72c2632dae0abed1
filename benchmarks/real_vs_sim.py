"""Real Redis beside the simulator: the cases and tolerances of benchmarks/REAL_RESULTS.md.

    .venv/bin/python benchmarks/real_vs_sim.py            # about two minutes; prints markdown tables

Needs redis-server and redis-sentinel, and root (network namespaces) for the host crashes.
"""

from __future__ import annotations

import math
import sys
import time

import pandas as pd

from replab import Scenario, real, run

BASE = Scenario.preset("leader-follower").replace(duration_ms=4_000, **{
    "topology.followers": 2, "workload.rate_per_s": 1_000.0, "workload.write_ratio": 0.2,
    "workload.timeout_ms": 500.0, "failover.promote": False})
rows: list[dict] = []


def ratio_within(real_value: float, simulated: float, limit: float) -> bool:
    return simulated > 0 and 1 / limit <= real_value / simulated <= limit


def record(case: str, figure: str, real_value: float, simulated: float, tolerance: str, within: bool) -> None:
    rows.append({"case": case, "figure": figure, "real": real_value, "simulated": simulated,
                 "tolerance": tolerance, "within": "yes" if within else "no"})


def case_a(calibrated: Scenario, case: str, p50_limit: float, tail_limit: float) -> pd.DataFrame:
    pairs = {ack: (real.run(calibrated.replace(**{"replication.ack": ack})), run(calibrated.replace(**{"replication.ack": ack})))
             for ack in ("async", "semi-sync")}
    table = real.compare([r for r, _ in pairs.values()], [s for _, s in pairs.values()])
    for ack in pairs:
        for figure in ("read_p50_ms", "write_p50_ms"):
            a, b = table.loc[(figure, ack), ["real", "simulated"]]
            record(case, f"{figure} ({ack})", a, b, f"×{p50_limit:g}", ratio_within(a, b, p50_limit))
        for figure in ("read_p95_ms", "read_p99_ms", "write_p95_ms", "write_p99_ms"):
            if case.startswith("A′") and "p95" in figure:
                continue
            a, b = table.loc[(figure, ack), ["real", "simulated"]]
            record(case, f"{figure} ({ack})", a, b, f"×{tail_limit:g}", ratio_within(a, b, tail_limit))
    if not case.startswith("A′"):
        extra = [table.loc[("write_p50_ms", "semi-sync"), side] - table.loc[("write_p50_ms", "async"), side]
                 for side in ("real", "simulated")]
        record(case, "WAIT 1 adds to write p50, ms", *extra, "±0.5 ms", abs(extra[0] - extra[1]) <= 0.5)
        for ack in pairs:
            a, b = table.loc[("mean_lag_ms", ack), ["real", "simulated"]]
            record(case, f"mean_lag_ms ({ack})", a, b, "±1 ms", abs(a - b) <= 1.0)
            a, b = table.loc[("availability", ack), ["real", "simulated"]]
            record(case, f"availability ({ack})", a, b, "±0.01", abs(a - b) <= 0.01)
    return table


def case_b(calibrated: Scenario) -> None:
    lost, simulated = [], []
    for seed in range(1, 6):
        scenario = calibrated.replace(duration_ms=1_500, seed=seed, **{
            "workload.write_ratio": 1.0, "faults.events": [{"at_ms": 1_000, "action": "crash", "target": "leader"}]})
        lost.append(real.run(scenario).summary["lost_acked_writes"])
        simulated.append(run(scenario).summary["lost_acked_writes"])
    a, b = sum(lost) / len(lost), sum(simulated) / len(simulated)
    record("B: host crash, replicas keeping up", "acknowledged writes lost per crash", a, b, "±2", abs(a - b) <= 2)


def case_c(calibrated: Scenario) -> None:
    scenario = calibrated.replace(duration_ms=1_200, **{
        "workload.rate_per_s": 1_500.0, "workload.write_ratio": 0.5,
        "faults.events": [{"at_ms": 800, "action": "crash", "target": "leader"}]})
    pauses = [{"at_ms": 500, "action": "pause", "target": node, "duration_ms": 400} for node in ("node1", "node2")]
    simulated = run(scenario).summary["lost_acked_writes"]
    killed = real.run(scenario, pauses, crash="process", value_bytes=2_000).summary["lost_acked_writes"]
    record("C: process kill behind paused replicas", "acknowledged writes lost", killed, simulated, "real = 0", killed == 0)
    crashed = real.run(scenario, pauses, crash="host", value_bytes=2_000).summary["lost_acked_writes"]
    record("C′: host crash behind paused replicas, async", "acknowledged writes lost", crashed, simulated, "real > 0",
           crashed > 0)
    waited = real.run(scenario.replace(**{"replication.ack": "semi-sync"}), pauses, value_bytes=2_000)
    record("C′: host crash behind paused replicas, WAIT 1", "acknowledged writes lost",
           waited.summary["lost_acked_writes"], run(scenario.replace(**{"replication.ack": "semi-sync"})).summary[
               "lost_acked_writes"], "real = 0", waited.summary["lost_acked_writes"] == 0)


def case_d_e(calibrated: Scenario) -> None:
    for down_after_ms in (250.0, 1_000.0, 2_000.0):
        scenario = calibrated.replace(duration_ms=down_after_ms + 4_000, **{
            "workload.rate_per_s": 300.0, "failover.promote": True, "failover.detection_ms": down_after_ms,
            "failover.promotion_ms": 1_000.0, "faults.events": [{"at_ms": 500, "action": "crash", "target": "leader"}]})
        mine, model = real.run(scenario, sentinels=3), run(scenario)
        a, b = mine.summary["failover_ms"], model.summary["failover_ms"]
        record(f"D: Sentinel, down-after {down_after_ms:,.0f} ms", "crash to promotion, ms", a, b, "±1,000 ms",
               not math.isnan(a) and abs(a - b) <= 1_000)
        if down_after_ms == 1_000.0:
            writes = [r.requests[r.requests["op"] == "write"] for r in (mine, model)]
            refused = [int((w["outcome"] == "refused").sum()) for w in writes]
            sent = max(len(writes[0]), 1)
            record("E: crash and promotion", "writes refused", refused[0], refused[1], "±5% of writes sent",
                   abs(refused[0] - refused[1]) <= 0.05 * sent)


def markdown(frame: pd.DataFrame) -> str:
    """A frame as a markdown table (numbers to 3 significant figures)."""
    def cell(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main() -> int:
    if not real.available():
        print(real.missing())
        return 1
    started = time.perf_counter()
    calibrated = real.calibrate(BASE, real.measure(BASE, duration_ms=1_000.0))
    default = case_a(calibrated, "A: calibrated one at a time", 2.0, 3.0)
    loaded = real.calibrate(BASE, real.measure(BASE, duration_ms=2_000.0, loaded=True))
    case_a(loaded, "A′: calibrated under load", 1.5, 3.0)
    if real.host_faults() is None:
        case_b(calibrated)
        case_c(calibrated)
    case_d_e(calibrated)
    print("## The default case (A): replab.real.compare\n")
    print(markdown(default.drop(columns="meaning").reset_index()))
    print("\n## Every figure against its tolerance\n")
    print(markdown(pd.DataFrame(rows)))
    print(f"\n(measured in {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
