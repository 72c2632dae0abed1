"""Event-calendar cost: replab's EventCalendar against Mesa's DEVSimulator.

Both run the same self-rescheduling chains (an M/M/1-like ping: each event schedules the
next at an exponential delay), so the figure is the cost per event of the calendar plus
one Python call, which is what the model pays on every message and service completion.

    .venv/bin/python benchmarks/engine_bench.py
"""

from __future__ import annotations

import random
import time

import mesa
from mesa.experimental.devs import DEVSimulator

from replab.core.calendar import EventCalendar

EVENTS = 300_000
CHAINS = 50  # events pending at once, like a busy model


def bench_calendar() -> float:
    calendar = EventCalendar()
    rng = random.Random(1)
    expo = rng.expovariate

    def tick(now, _):
        calendar.schedule(now + expo(1.0), tick, None)

    for _ in range(CHAINS):
        calendar.schedule(expo(1.0), tick, None)
    horizon = EVENTS / CHAINS
    start = time.perf_counter()
    calendar.run_until(horizon)
    return (time.perf_counter() - start) / calendar.events_run


def bench_mesa() -> float:
    model = mesa.Model(seed=1)
    simulator = DEVSimulator()
    simulator.setup(model)
    rng = random.Random(1)
    expo = rng.expovariate
    count = [0]

    def tick():
        count[0] += 1
        simulator.schedule_event_relative(tick, expo(1.0))

    for _ in range(CHAINS):
        simulator.schedule_event_relative(tick, expo(1.0))
    horizon = EVENTS / CHAINS
    start = time.perf_counter()
    simulator.run_until(horizon)
    return (time.perf_counter() - start) / count[0]


def main() -> dict:
    figures = {"EventCalendar_us_per_event": bench_calendar() * 1e6, "DEVSimulator_us_per_event": bench_mesa() * 1e6}
    for name, value in figures.items():
        print(f"{name:<30}{value:8.2f}")
    return figures


if __name__ == "__main__":
    main()
