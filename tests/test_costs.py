"""The costs of replication, measured: each curve goes the way it must, by as much as theory says.

The base is the leader-follower preset: one leader with 4 workers, 3 followers serving
reads, 2,000 operations/s of which 20% are writes (lambda = 0.4 writes/ms), exponential
service times (read 1 ms, write 2 ms, apply 1 ms). The leader's commits are then a Poisson
stream (the departures of an M/M/4 queue are Poisson), which is what the formulas need.
Each test states its prediction and how far the measurement may stray, and why.
"""

import math

import numpy as np
import pytest

from replab import Scenario
from replab.experiments import costs

BASE = Scenario.preset("leader-follower")
WRITES_PER_MS = BASE.workload.rate_per_s * BASE.workload.write_ratio / 1000.0  # 0.4


pytestmark = pytest.mark.slow  # each curve is many runs; part of make test, not of the fast layer


def md1_waiting_ms(arrivals_per_ms: float, service_ms: float) -> float:
    """Mean wait in queue of an M/D/1 queue (Pollaczek-Khinchine with constant service)."""
    rho = arrivals_per_ms * service_ms
    return rho * service_ms / (2.0 * (1.0 - rho))


def slope_per_ms(frame, column: str, from_ms: float) -> float:
    """Least-squares slope of `column` over t_ms, from `from_ms` on (all followers pooled)."""
    late = frame[frame["t_ms"] >= from_ms]
    return float(np.polyfit(late["t_ms"], late[column], 1)[0])


# Acknowledged writes lost when the leader dies --------------------------------------------------
QUICK_FAILOVER = BASE.replace(**{"failover.detection_ms": 50.0, "failover.promotion_ms": 50.0})


def test_async_acknowledges_writes_that_the_crash_then_loses_semi_sync_and_sync_never_do():
    """The same crashes, three ack modes. Every mode loses the entries still queued on the
    dead leader's outbound link; only async had already told their clients "OK"."""
    curve = costs.lost_writes_curve(QUICK_FAILOVER, ship_ms=(0.05, 0.5), crashes=12)
    lost = curve.groupby(["ack", "ship_ms"])[["lost_writes", "lost_acked_writes"]].sum()

    assert lost.loc[("async", 0.5), "lost_acked_writes"] > 0
    assert (lost.loc[["semi-sync", "sync"], "lost_acked_writes"] == 0).all()
    for ack in costs.ACK_MODES:  # a busier link keeps more on the leader, whatever the ack mode
        assert lost.loc[(ack, 0.5), "lost_writes"] > lost.loc[(ack, 0.05), "lost_writes"]
    # async: every lost write had been acknowledged (the ack went out at commit)
    assert (lost.loc["async", "lost_writes"] == lost.loc["async", "lost_acked_writes"]).all()
    # the price of safety is write latency: async < semi-sync (one receipt) < sync (all applied)
    latency = curve.groupby("ack")["write_p50_ms"].mean()
    assert latency["async"] < latency["semi-sync"] < latency["sync"]


def test_async_loses_what_waits_in_the_leaders_send_queue_as_an_md1_queue_predicts():
    """The leader's link sends each entry to node1, node2, node3 in turn (ship_ms each), so
    for entries it is an M/D/1 queue with service S = 3 x ship_ms and utilisation
    rho = lambda x S. The promoted follower is node1, the first served, so a crash loses
    the entries waiting in the queue, rho^2 / (2 (1 - rho)) on average, plus the one being
    sent while its first copy is still on the wire (probability rho / 3).

    At ship_ms = 0.625 (rho = 0.75): 1.125 + 0.25 = 1.375 writes a crash. Tolerance: three
    standard errors of the mean over 100 crashes (one crash is one noisy sample). Little's
    law must agree too: writes at risk = write rate x the time an entry waits to leave."""
    ship_ms = 0.625
    curve = costs.lost_writes_curve(QUICK_FAILOVER, acks=("async",), ship_ms=(ship_ms,), crashes=100,
                                    crash_ms=(300.0, 600.0))
    lost = curve["lost_acked_writes"]
    three_se = 3 * lost.std() / math.sqrt(len(lost))
    rho = WRITES_PER_MS * 3 * ship_ms
    predicted = rho**2 / (2 * (1 - rho)) + rho / 3

    assert curve["link_utilisation"].mean() == pytest.approx(rho, rel=0.05)
    assert lost.mean() == pytest.approx(predicted, abs=three_se)
    assert lost.mean() == pytest.approx(WRITES_PER_MS * curve["exposure_ms"].mean(), abs=three_se)


# Replicas bogged down replaying writes ----------------------------------------------------------
def test_every_write_replayed_on_a_follower_takes_a_worker_away_from_reads():
    """A follower with W workers applying lambda writes/ms of a ms each has W - lambda x a
    workers left for reads of r ms: the saturated read pool of 3 followers serves
    3 (W - lambda a) / r reads/ms. With W = 4, r = a = 1 ms: 12,000 reads/s with no writes,
    then 3,000 fewer per 1,000 writes/s. Tolerance 5%: in a 2 s window the realised write
    rate and service times stray by ~1%, which at 3,000 writes/s (reads a quarter of the
    work) moves the read capacity by ~3%."""
    bogged = BASE.replace(**{"topology.apply_concurrency": 4, "service.write.mean_ms": 1.0})
    curve = costs.read_capacity_curve(bogged, write_rates_per_s=(0.0, 1000.0, 2000.0, 3000.0), duration_ms=2_500.0)
    writes_per_ms = curve["write_rate_per_s"] / 1000.0
    predicted_per_s = 3 * (4 - writes_per_ms * 1.0) / 1.0 * 1000.0

    assert curve["read_capacity_per_s"].is_monotonic_decreasing
    assert curve["write_rate_per_s"].to_numpy() == pytest.approx(curve["target_write_rate_per_s"].to_numpy(), abs=150)
    assert curve["read_capacity_per_s"].to_numpy() == pytest.approx(predicted_per_s.to_numpy(), rel=0.05)
    assert (curve["read_utilisation"] > 0.98).all(), "the read pool was saturated throughout"
    # capacity falls in proportion to the workers the applies take: C(lambda) / C(0) = 1 - lambda a / W
    share_left = curve["read_capacity_per_s"] / curve["read_capacity_per_s"].iloc[0]
    assert share_left.to_numpy() == pytest.approx((1 - writes_per_ms / 4).to_numpy(), abs=0.05)


# More replicas, more lag ----------------------------------------------------------------------------
def test_each_follower_lengthens_the_leaders_send_queue_so_lag_grows_with_followers():
    """With N followers each write takes N x ship_ms of the leader's link; a copy waits the
    M/D/1 queueing time for the write ahead of it, then its turn among the N: on average
    Wq(N) + (N + 1) / 2 x ship_ms. At ship_ms = 0.2 and lambda = 0.4/ms that is 0.209 ms
    with 1 follower and 2.32 ms with 8 (rho = 0.64), a factor of 11. Tolerance 10% on each
    (10 s runs); the whole commit-to-apply delay and the sampled lag must grow as well."""
    ship_ms = 0.2
    curve = costs.lag_vs_followers(BASE.replace(**{"replication.ship_ms": ship_ms}), followers=(1, 2, 4, 8),
                                   duration_ms=10_000.0)
    n = curve["followers"]
    predicted_ms = [md1_waiting_ms(WRITES_PER_MS, k * ship_ms) + (k + 1) / 2 * ship_ms for k in n]

    assert curve["link_utilisation"].to_numpy() == pytest.approx((WRITES_PER_MS * n * ship_ms).to_numpy(), rel=0.05)
    assert curve["ship_wait_ms"].to_numpy() == pytest.approx(predicted_ms, rel=0.10)
    by_n = curve.set_index("followers")
    assert by_n.loc[8, "ship_wait_ms"] / by_n.loc[1, "ship_wait_ms"] == pytest.approx(
        predicted_ms[-1] / predicted_ms[0], rel=0.15)
    assert curve["ship_wait_ms"].is_monotonic_increasing
    # Past the link, a copy still crosses the network and waits to be applied; that part
    # shrinks a little with more followers (fewer reads each), so compare the ends only.
    assert by_n.loc[8, "replication_delay_ms"] > by_n.loc[1, "replication_delay_ms"] + 1.0
    assert by_n.loc[8, "mean_lag_ms"] > 1.5 * by_n.loc[1, "mean_lag_ms"]


# Single-threaded apply ------------------------------------------------------------------------------
def test_one_apply_thread_falls_behind_without_bound_where_four_keep_up():
    """1,500 writes/s: the leader's 4 workers handle them (utilisation 0.75) but one apply
    thread manages 1/a = 1,000/s. Its backlog grows by lambda - 1/a = 0.5 writes a ms, the
    time it needs to replay it by lambda a - 1 = 0.5 ms a ms, and the sampled lag (age of the
    oldest unapplied write) by 1 - 1/(lambda a) = 0.33 ms a ms. Tolerance 15% (the realised
    mean apply time over ~3,000 draws varies by a few %, and the slopes amplify it by 3).
    With 4 apply threads nothing accumulates."""
    curve = costs.apply_concurrency_lag(BASE, concurrency=(1, 4), write_rate_per_s=1500.0, duration_ms=3_000.0)
    single = curve[curve["apply_concurrency"] == 1]
    parallel = curve[curve["apply_concurrency"] == 4]
    writes_per_ms = single["write_rate_per_s"].iloc[0] / 1000.0
    apply_ms = BASE.service.apply.mean_ms

    assert slope_per_ms(single, "lag_writes", 1000.0) == pytest.approx(writes_per_ms - 1 / apply_ms, rel=0.15)
    assert slope_per_ms(single, "replay_ms", 1000.0) == pytest.approx(writes_per_ms * apply_ms - 1, rel=0.15)
    assert slope_per_ms(single, "lag_ms", 1000.0) == pytest.approx(1 - 1 / (writes_per_ms * apply_ms), rel=0.15)
    assert single["lag_ms"].max() > 500.0
    assert parallel["lag_ms"].max() < 20.0
    assert abs(slope_per_ms(parallel, "lag_ms", 1000.0)) < 0.002


# More hardware ----------------------------------------------------------------------------------------
def test_every_follower_adds_messages_bytes_and_work_to_each_served_request():
    """Every request is 4 messages (client -> balancer -> node, and back). Every write is
    shipped to each follower: with a write share w, N followers add N w messages and
    N w (header + value) bytes per request, exactly, and N w a worker-ms of applying on top
    of (1 - w) r + w x write = 1.2 ms. Nodes rise as N + 1 for the same 2,000 requests/s.
    Tolerance 5% where service times are drawn (means of thousands of exponential draws)."""
    curve = costs.hardware_per_request(BASE, followers=(0, 1, 2, 4, 8), duration_ms=2_000.0)
    n, w = curve["followers"].to_numpy(), curve["writes_per_request"].to_numpy()
    header, value = costs.HEADER_BYTES, costs.VALUE_BYTES

    assert w == pytest.approx(BASE.workload.write_ratio, rel=0.1)
    assert curve["replication_messages_per_request"].to_numpy() == pytest.approx(n * w)
    assert curve["messages_per_request"].to_numpy() == pytest.approx(4 + n * w)
    assert curve["bytes_per_request"].to_numpy() == pytest.approx(4 * header + 2 * value + n * w * (header + value))
    read_ms, write_ms, apply_ms = 1.0, 2.0, 1.0
    work_ms = (1 - w) * read_ms + w * write_ms + n * w * apply_ms
    assert curve["busy_worker_ms_per_request"].to_numpy() == pytest.approx(work_ms, rel=0.05)
    assert curve["node_ms_per_request"].to_numpy() == pytest.approx((n + 1) / 2.0, rel=0.05)
    # the slope a follower adds, against the nominal write share
    assert np.polyfit(n, curve["messages_per_request"], 1)[0] == pytest.approx(BASE.workload.write_ratio, rel=0.1)


def test_sync_acks_add_a_receipt_from_every_follower_for_every_write():
    """Under sync each follower tells the leader it applied each write: a follower adds
    2w messages per request instead of w."""
    sync = BASE.replace(**{"replication.ack": "sync"})
    curve = costs.hardware_per_request(sync, followers=(1, 8), duration_ms=2_000.0)
    n, w = curve["followers"].to_numpy(), curve["writes_per_request"].to_numpy()
    assert curve["messages_per_request"].to_numpy() == pytest.approx(4 + 2 * n * w)
