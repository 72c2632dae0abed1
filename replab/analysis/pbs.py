"""What "Probabilistically Bounded Staleness" (Bailis et al., VLDB 2012) predicts, to set beside
the simulation's measurements (replab.analysis.staleness).

- `k_staleness_bound(n, r, w, k)`: with every write on W replicas and every read asking R,
  all chosen uniformly at random and nothing else spreading the writes (a non-expanding
  quorum), the chance that a read misses the last k versions is (C(N-W, R) / C(N, R))^k. It is
  0 when R + W > N: the read and write quorums must overlap.
- `wars_t_visibility(...)`: the WARS model by Monte Carlo. Each of the N replicas draws a
  write delay W, an ack delay A, a read-request delay R and a response delay S; the write
  commits at the W-th fastest W + A; a read sent t ms after the commit takes the R fastest
  responses (R + S) and is consistent if one of those replicas had the write when it read
  (W <= commit + t + R).
- `scenario_legs(scenario)`: the four legs of a leaderless scenario as WARS sees them: each
  leg's own delay plus the network path (two hops: the nodes share a switch), the apply
  time for W and the read service time for R. Queueing is left out, so this is the
  prediction for a lightly loaded system.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from math import comb

import numpy as np

from replab.core.randomness import stream
from replab.replication.legs import LEGS, leg_draws, leg_settings

Draws = Callable[[np.random.Generator, int], np.ndarray]


def k_staleness_bound(n: int, r: int, w: int, k: int = 1) -> float:
    """P(a read misses the last k versions) with non-expanding quorums chosen at random."""
    return (comb(n - w, r) / comb(n, r)) ** k


def _service_draws(dist: str, mean_ms: float, sigma: float) -> Draws:
    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        return leg_draws({"dist": dist, "mean_ms": mean_ms, "sigma": sigma}, size, rng)
    return draw


def scenario_legs(scenario) -> dict[str, Draws]:
    """leg -> draws(rng, size) of the whole of that leg in `scenario` (see the module)."""
    flat = scenario.to_flat()
    hop = scenario.network.hop
    hop_draw = _service_draws(hop.dist, hop.mean_ms, hop.sigma)
    extra = {"write": _service_draws(scenario.service.apply.dist, scenario.service.apply.mean_ms, scenario.service.apply.sigma),
             "read": _service_draws(scenario.service.read.dist, scenario.service.read.mean_ms, scenario.service.read.sigma)}

    def leg(name: str) -> Draws:
        settings = leg_settings(flat, name)

        def draw(rng: np.random.Generator, size: int) -> np.ndarray:
            total = leg_draws(settings, size, rng) + hop_draw(rng, size) + hop_draw(rng, size)
            return total + extra[name](rng, size) if name in extra else total
        return draw

    return {name: leg(name) for name in LEGS}


def wars_trials(n: int, r: int, w: int, legs: Mapping[str, Draws], trials: int = 20_000, seed: int = 0,
                read_all: bool = True, write_all: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WARS's Monte Carlo trials, before any t: per trial the commit time, and for the R replicas
    whose responses the read takes, when the write reached each and how long the read took to
    reach it (trials x R). `read_all`: the read asks all N and takes the first R responses, else
    it asks R at random; `write_all`: the write goes to all N, else to W at random (the others
    never get it)."""
    rng = stream(seed, "wars")
    draw = {name: legs[name](rng, trials * n).reshape(trials, n) for name in LEGS}
    arrive = draw["write"]
    if not write_all:
        arrive[:, w:] = np.inf  # legs are i.i.d.: the first W replicas stand for any W
    commit = np.sort(arrive + draw["ack"], axis=1)[:, w - 1]  # the W-th fastest ack
    if read_all:
        # a read sent t later reaches every replica t later: the R fastest responses come from
        # the same replicas whatever t is
        chosen = np.argsort(draw["read"] + draw["response"], axis=1)[:, :r]
    else:
        chosen = rng.permuted(np.tile(np.arange(n), (trials, 1)), axis=1)[:, :r]  # R of the N at random
    return commit, np.take_along_axis(arrive, chosen, axis=1), np.take_along_axis(draw["read"], chosen, axis=1)


def _visibility(trials: tuple[np.ndarray, np.ndarray, np.ndarray], t_ms) -> np.ndarray:
    """P(consistent) at each t of `t_ms`, the same trials for every t (common random numbers:
    the curve can only rise with t)."""
    commit, arrives, reads = trials
    # one t at a time: a trials x replicas x t array would grow with however many t a caller asks for
    return np.array([(arrives <= commit[:, None] + after + reads).any(axis=1).mean()  # one of them had it
                     for after in np.asarray(t_ms, dtype=float)])


def wars_t_visibility(n: int, r: int, w: int, legs: Mapping[str, Draws], t_ms, trials: int = 20_000,
                      seed: int = 0, read_all: bool = True, write_all: bool = True) -> np.ndarray:
    """P(consistent) for a read sent t ms after a write commits, for each t in `t_ms` (WARS;
    the arguments as `wars_trials`)."""
    return _visibility(wars_trials(n, r, w, legs, trials, seed, read_all, write_all), t_ms)


@lru_cache(maxsize=4)
def _scenario_trials(scenario, trials: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q = scenario.quorum
    drawn = wars_trials(q.n, q.r, q.w, scenario_legs(scenario), trials, seed, q.read_from == "all", q.write_to == "all")
    for array in drawn:
        array.setflags(write=False)  # kept for the next caller
    return drawn


def scenario_t_visibility(scenario, t_ms, trials: int = 20_000, seed: int = 0) -> np.ndarray:
    """WARS t-visibility for a leaderless scenario's N, R, W, legs and read policy. The trials
    are drawn once for a scenario and kept (the last four, ~1 MB each): a Lab redraws this
    chart several times as its run goes on."""
    return _visibility(_scenario_trials(scenario, trials, seed), t_ms)
