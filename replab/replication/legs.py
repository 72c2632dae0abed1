"""The four legs of a quorum operation (the WARS model of Bailis et al., "Probabilistically
Bounded Staleness", VLDB 2012) and their delay distributions.

    W  write:     a version travelling from its coordinator (or a repairing node) to a replica
    A  ack:       the replica's acknowledgement travelling back to the coordinator
    R  read:      a read request travelling from the coordinator to a replica
    S  response:  the replica's answer travelling back

Each leg's delay is drawn afresh for every message, on top of the network's path latency
(and, at the replica, its queue and service time). Real latencies have heavy tails; PBS fits
them with a mixture: with probability `pareto_share` a Pareto draw (scale `pareto_min_ms`,
shape `pareto_alpha`; alpha <= 2 has an infinite variance), otherwise an exponential of mean
`mean_ms`. `leg_draws` is the one place that draws them, for the simulation and for the
WARS Monte Carlo of replab.analysis.pbs alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from replab.core.field import DISTRIBUTIONS, Field, ScenarioError
from replab.core.randomness import BLOCK, buffered, stream

LEGS = ("write", "ack", "read", "response")
LEG_DISTRIBUTIONS = (*DISTRIBUTIONS, "pareto-exponential")
_WHAT = {
    "write": "a write (or a repair) from its coordinator to a replica",
    "ack": "a replica's write acknowledgement back to the coordinator",
    "read": "a read request from the coordinator to a replica",
    "response": "a replica's read response back to the coordinator",
}


def leg_fields() -> tuple[Field, ...]:
    """The settings of every leg: quorum.legs.<leg>.dist, mean_ms, sigma, pareto_share, pareto_min_ms, pareto_alpha."""
    fields = []
    for leg in LEGS:
        prefix, what = f"quorum.legs.{leg}", _WHAT[leg]
        fields += [
            Field(f"{prefix}.dist", "choice", "constant", f"leaderless: distribution of the extra delay of {what}, on top of the network path (pareto-exponential: a Pareto draw with probability pareto_share, else an exponential of mean_ms)", choices=LEG_DISTRIBUTIONS),
            Field(f"{prefix}.mean_ms", "float", 0.0, f"leaderless: mean extra delay of {what} (the exponential part of pareto-exponential), ms", 0.0, 1e6),
            Field(f"{prefix}.sigma", "float", 1.0, f"leaderless: lognormal shape of the delay of {what} (log-space std dev)", 0.0, 4.0),
            Field(f"{prefix}.pareto_share", "float", 0.0, f"leaderless, pareto-exponential: share of the draws of {what} that come from the Pareto", 0.0, 1.0),
            Field(f"{prefix}.pareto_min_ms", "float", 1.0, f"leaderless, pareto-exponential: the Pareto's scale (its smallest value) for {what}, ms", 0.0, 1e6, low_open=True),
            Field(f"{prefix}.pareto_alpha", "float", 2.0, f"leaderless, pareto-exponential: the Pareto's shape for {what} (smaller: a heavier tail)", 0.1, 100.0),
        ]
    return tuple(fields)


def check_legs(values: Mapping[str, Any]) -> None:
    for leg in LEGS:
        prefix = f"quorum.legs.{leg}"
        if values[f"{prefix}.dist"] == "lognormal" and values[f"{prefix}.mean_ms"] <= 0:
            raise ScenarioError(f"{prefix}.mean_ms", values[f"{prefix}.mean_ms"], "must be above 0 for a lognormal leg")


def leg_settings(values: Mapping[str, Any], leg: str) -> dict:
    """One leg's settings from a flat field -> value mapping (Scenario.to_flat())."""
    prefix = f"quorum.legs.{leg}."
    return {name[len(prefix):]: value for name, value in values.items() if name.startswith(prefix)}


def leg_draws(settings: Mapping[str, Any], size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` delays (ms) of one leg, drawn with `rng`."""
    dist, mean = settings["dist"], settings["mean_ms"]
    if dist == "constant":
        return np.full(size, float(mean))
    if dist == "exponential":
        return rng.exponential(mean, size)
    if dist == "lognormal":
        sigma = settings["sigma"]
        return rng.lognormal(np.log(mean) - sigma * sigma / 2, sigma, size)  # mean (not median) is mean_ms
    share, scale, alpha = settings["pareto_share"], settings["pareto_min_ms"], settings["pareto_alpha"]
    pareto = (rng.pareto(alpha, size) + 1.0) * scale  # numpy's pareto is Lomax: shift by 1 for the classic one
    exponential = rng.exponential(mean, size)
    return np.where(rng.random(size) < share, pareto, exponential)


def leg_sampler(settings: Mapping[str, Any], seed: int, leg: str) -> Callable[[], float]:
    """A no-argument function of draws (ms) of one leg, from its own seeded stream."""
    if settings["dist"] == "constant":
        constant = float(settings["mean_ms"])
        return lambda: constant
    rng = stream(seed, f"quorum.leg.{leg}")
    return buffered(lambda: leg_draws(settings, BLOCK, rng))
