"""Truth before polish: where queueing theory has an answer, the simulator must give it.

Each test builds a small scenario whose answer is known on paper, runs it, and compares.
A tolerance is never a guess: it is 4 standard errors of the simulated estimate, and each
test also asserts that standard error is small, so a pass means the model is right to
within a stated, sharp margin (seeds are fixed, so every run is reproducible).

Queueing runs use a constant hop latency, so the network adds exactly 8 hops to every
operation (client -> balancer -> node and back, 2 hops per leg) and the rest of a latency
is the node's response time: waiting in its queue plus service.
"""

import functools
import math

import numpy as np
import pytest

from replab import Scenario, run

HOP_MS = 0.001
NETWORK_MS = 8 * HOP_MS
WARM_UP_MS = 1_000.0  # the node starts empty; skip the start so the queue is in steady state
BATCHES = 20


pytestmark = pytest.mark.slow  # long runs make the estimates tight enough to compare with theory


def queue_scenario(workers: int, utilisation: float, duration_ms: float, sample_ms: float = 1.0) -> Scenario:
    """One node with `workers` servers sharing one FIFO queue: M/M/c with mu = 1 per ms.
    The timeline is sampled every `sample_ms`: 1 ms for Little's law; a test that reads only
    the requests samples every second (the samples observe the run and never change it, and
    on the 1,000,000 ms run they cost more than half of it)."""
    arrivals_per_ms = utilisation * workers
    return Scenario(**{
        "topology.followers": 0, "replication.reads": "leader", "workload.write_ratio": 0.0,
        "topology.workers": workers, "topology.apply_concurrency": 1,
        "workload.arrival": "open", "workload.rate_per_s": arrivals_per_ms * 1000,
        "service.read.dist": "exponential", "service.read.mean_ms": 1.0,
        "network.hop.dist": "constant", "network.hop.mean_ms": HOP_MS,
        "workload.timeout_ms": 1e5, "duration_ms": duration_ms, "record.sample_ms": sample_ms, "seed": 1,
    })


@functools.cache
def queue_run(workers: int, utilisation: float, duration_ms: float, sample_ms: float = 1.0):
    """Run once per module: the Little's-law test reuses the M/M/2 run."""
    return run(queue_scenario(workers, utilisation, duration_ms, sample_ms))


def response_times(results) -> tuple[np.ndarray, np.ndarray]:
    """(start_ms, response time at the node) of every operation started after the warm-up."""
    requests = results.requests
    assert (requests["outcome"] == "served").all()
    steady = requests[requests["start_ms"] > WARM_UP_MS]
    return steady["start_ms"].to_numpy(), steady["latency_ms"].to_numpy() - NETWORK_MS


def batch_means(start_ms: np.ndarray, values: np.ndarray, duration_ms: float) -> tuple[float, float]:
    """Mean and its standard error from 20 consecutive time batches.

    Successive response times are strongly correlated (a long queue makes many of them
    long), so values / sqrt(n) would understate the error; batch means of 10 s and more
    are far longer than the queue's relaxation time (~90 ms at utilisation 0.8) and are
    close to independent.
    """
    batch = ((start_ms - WARM_UP_MS) / (duration_ms - WARM_UP_MS) * BATCHES).astype(int).clip(0, BATCHES - 1)
    means = np.array([values[batch == b].mean() for b in range(BATCHES)])
    return float(values.mean()), float(means.std(ddof=1) / math.sqrt(BATCHES))


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load a = lambda / mu."""
    below = sum(offered**k / math.factorial(k) for k in range(servers))
    at = offered**servers / math.factorial(servers) * servers / (servers - offered)
    return at / (below + at)


# M/M/1 and M/M/c ------------------------------------------------------------------------------

@pytest.mark.parametrize("utilisation, duration_ms", [(0.5, 200_000.0), (0.8, 1_000_000.0)])
def test_one_worker_is_an_mm1_queue(utilisation, duration_ms):
    """M/M/1: mean response time W = 1 / (mu - lambda).

    With mu = 1/ms: W = 2 ms at utilisation 0.5 (100k operations) and 5 ms at 0.8 (800k).
    The standard error (batch means; it agrees with Blomqvist's asymptotic variance,
    rho(2 + 5rho - 4rho^2 + rho^3) / (mu^2 (1 - rho)^4) / n) is about 1% of W in both; the
    test allows 4 of them, and asserts the run was long enough for that to be sharp.
    """
    start, response = response_times(queue_run(1, utilisation, duration_ms, sample_ms=1_000.0))
    mean, se = batch_means(start, response, duration_ms)
    theory = 1 / (1 - utilisation)
    assert se < 0.015 * theory
    assert abs(mean - theory) < 4 * se, f"simulated {mean:.4f} ms, M/M/1 {theory:.4f} ms, se {se:.4f}"


# The M/M/2 run is also the one Little's law reads, timeline and all (the same arguments: one run);
# the M/M/4 run samples every second.
@pytest.mark.parametrize("workers, duration_ms, sample_ms", [(2, 300_000.0, 1.0), (4, 150_000.0, 1_000.0)])
def test_c_workers_sharing_one_queue_are_an_mmc_queue(workers, duration_ms, sample_ms):
    """M/M/c (Erlang C): W = C(c, a) / (c mu - lambda) + 1 / mu, at utilisation 0.8.

    c = 2: W = 2.778 ms; c = 4: W = 1.746 ms. Standard errors (batch means) are about 1.2%
    and 0.9% of W; the test allows 4 of them.
    """
    utilisation = 0.8
    arrivals_per_ms = utilisation * workers
    start, response = response_times(queue_run(workers, utilisation, duration_ms, sample_ms))
    mean, se = batch_means(start, response, duration_ms)
    theory = erlang_c(workers, arrivals_per_ms) / (workers - arrivals_per_ms) + 1
    assert se < 0.02 * theory
    assert abs(mean - theory) < 4 * se, f"simulated {mean:.4f} ms, Erlang C {theory:.4f} ms, se {se:.4f}"


def test_littles_law_links_the_timeline_to_the_requests():
    """Little's law, L = lambda W, measured two independent ways on one M/M/2 run.

    L comes from the node's own timeline (the waiting queue sampled every 1 ms, plus busy
    workers from the exact utilisation integral); lambda and W come from the requests
    frame. The law holds on every sample path, so L - lambda W differs from 0 only by the
    sampling of the queue and by operations straddling a batch edge: the test allows 4
    standard errors of that difference over 20 batches (about 0.001 on L = 4.4). It also
    checks utilisation = lambda / (c mu) = 0.8 to 4 standard errors.
    """
    workers, utilisation, duration_ms = 2, 0.8, 300_000.0
    results = queue_run(workers, utilisation, duration_ms, 1.0)  # the M/M/2 run above (cached: same arguments)
    timeline = results.timeline
    start, response = response_times(results)
    edges = np.linspace(WARM_UP_MS, duration_ms, BATCHES + 1)
    in_system, little, busy = [], [], []
    for low, high in zip(edges[:-1], edges[1:]):
        samples = timeline[(timeline["t_ms"] > low) & (timeline["t_ms"] <= high)]
        in_system.append((samples["queue"] + workers * samples["utilisation"]).mean())
        started = (start > low) & (start <= high)
        little.append(started.sum() / (high - low) * response[started].mean())
        busy.append(samples["utilisation"].mean())
    in_system, little, busy = map(np.array, (in_system, little, busy))
    difference = in_system - little
    se_difference = difference.std(ddof=1) / math.sqrt(BATCHES)
    assert se_difference < 0.002 * little.mean()
    assert abs(difference.mean()) < 4 * se_difference, f"L = {in_system.mean():.4f}, lambda W = {little.mean():.4f}"
    se_busy = busy.std(ddof=1) / math.sqrt(BATCHES)
    assert abs(busy.mean() - utilisation) < 4 * se_busy, f"utilisation {busy.mean():.4f}"


# semi-sync acks -------------------------------------------------------------------------------

FOLLOWERS = 4
ACK_HOP_MS = 0.5
WRITE_MS = 1.0
APPLY_MS = 0.5


def expected_kth_smallest_erlang(k: int, n: int, shape: int, scale: float) -> float:
    """E of the k-th smallest of n iid Erlang(shape, scale): the integral of P(X_(k) > x) dx.

    X_(k) > x exactly when fewer than k of the n are <= x (a binomial count with p = F(x)).
    """
    x = np.linspace(0.0, 80 * scale, 400_001)
    u = x / scale
    below = 1 - np.exp(-u) * sum(u**i / math.factorial(i) for i in range(shape))
    survival = sum(math.comb(n, j) * below**j * (1 - below) ** (n - j) for j in range(k))
    return float(np.sum((survival[1:] + survival[:-1]) / 2 * np.diff(x)))  # trapezoids


@pytest.mark.parametrize("ack, k", [("semi-sync", 1), ("semi-sync", 2), ("semi-sync", FOLLOWERS), ("sync", FOLLOWERS)])
def test_a_write_waits_for_the_kth_fastest_follower(ack, k):
    """Semi-sync(k) commit latency is an order statistic of the followers' round trips.

    A write's path: client -> balancer -> leader (4 hops), constant write service, then the
    leader ships the entry to each of 4 followers (2 hops, ship_ms = 0) and each sends a
    receipt back (2 hops): the ack waits for the k-th smallest of 4 iid Erlang(4, hop)
    round trips; then leader -> balancer -> client (4 hops). With exponential hops of mean
    h: E[latency] = 8h + write + E[X_(k:4)], X ~ Erlang(4, h). Sync waits for every
    follower to *apply* the entry, so it adds the constant apply time to the k = 4 case.

    20k writes at 10 per second on 64 leader workers: no write ever queues, and each write
    is independent of the others, so the standard error is std / sqrt(n) (about 0.17% of
    the mean); the test allows 4 of them. The ordered replication channel can hold back an
    entry behind the one before it, but at this rate that adds under lambda h^2 = 0.0025 ms.
    """
    scenario = Scenario(**{
        "topology.followers": FOLLOWERS, "topology.workers": 64, "replication.reads": "leader",
        "replication.ack": ack, "replication.semi_sync_k": k, "replication.ship_ms": 0.0,
        "workload.write_ratio": 1.0, "workload.rate_per_s": 10.0,
        "service.write.dist": "constant", "service.write.mean_ms": WRITE_MS,
        "service.apply.dist": "constant", "service.apply.mean_ms": APPLY_MS,
        "network.hop.dist": "exponential", "network.hop.mean_ms": ACK_HOP_MS,
        "duration_ms": 2_000_000.0, "record.sample_ms": 10_000.0, "seed": 1,
    })
    requests = run(scenario).requests
    assert (requests["outcome"] == "served").all()
    latency = requests["latency_ms"].to_numpy()
    se = latency.std(ddof=1) / math.sqrt(len(latency))
    theory = 8 * ACK_HOP_MS + WRITE_MS + expected_kth_smallest_erlang(k, FOLLOWERS, 4, ACK_HOP_MS)
    if ack == "sync":
        theory += APPLY_MS
    assert len(latency) > 19_000 and se < 0.003 * theory
    assert abs(latency.mean() - theory) < 4 * se, f"simulated {latency.mean():.4f} ms, theory {theory:.4f} ms"
