"""The replay shows what was recorded: every frame, flow and message is read back from the frames here."""

from __future__ import annotations

import numpy as np
import pytest

from replab import ReplicationModel, Results, Scenario, run
from replab.viz import replay
from replab.viz.replay_data import KINDS, replay_data


@pytest.fixture(scope="module")
def failover():
    """The leader crashes at 1000 ms; detected at 1200 (read-only), a follower promoted at 1400."""
    return run(Scenario.preset("leader-follower").replace(**{
        "duration_ms": 2000.0, "failover.detection_ms": 200.0, "failover.promotion_ms": 200.0,
        "faults.events": [{"at_ms": 1000.0, "action": "crash", "target": "leader"}]}))


def frame_at(data, t_ms):
    return int(np.searchsorted(data["times"], t_ms))


def test_frames_follow_the_timeline_within_the_workload(failover):
    data = replay_data(failover)
    assert data["times"][0] == 100.0 and data["times"][-1] == 2000.0  # samples every 100 ms, the drain left out
    before, down, read_only, after = (frame_at(data, t) for t in (900, 1100, 1300, 1500))
    assert data["role"][before][0] == 0 and data["up"][before][0] == 1  # node0 leads
    assert data["up"][down][0] == 0 and not data["read_only"][down]  # dead, nobody knows yet
    assert data["read_only"][read_only]  # detected: writes refused
    assert data["role"][after][1] == 0 and not data["read_only"][after]  # node1 promoted
    assert data["edges"][before] == [[0, 1], [0, 2], [0, 3]] and data["edges"][after] == [[1, 2], [1, 3]]
    assert data["moment_ms"] == 1300.0  # the first view: the middle of the read-only window


def test_traffic_per_frame_is_the_recorded_messages_per_second(failover):
    data = replay_data(failover)
    hosts = data["hosts"]
    kinds = {name: i for i, name in enumerate(KINDS)}
    req = failover.requests
    # writes that left for the dead leader before the crash was detected never arrived: "lost"
    window = frame_at(data, 1100)
    lost = [f for f in data["flows"][window] if f[0] == kinds["lost"] and hosts[f[3]] == "node0"]
    sent_lost = req[(req["start_ms"] > 1000) & (req["start_ms"] <= 1100) & req["arrived_ms"].isna()]
    assert lost and lost[0][4] == pytest.approx(len(sent_lost) / 0.1)
    # reads to node2 in the first window, through the balancer, per second
    reads = [f for f in data["flows"][0] if f[0] == kinds["read"] and hosts[f[3]] == "node2"]
    counted = ((req["op"] == "read") & (req["node"] == "node2") & (req["start_ms"] <= 100)).sum()
    assert reads[0][1:4] == [hosts.index("clients"), hosts.index("balancer"), hosts.index("node2")]
    assert reads[0][4] == pytest.approx(counted / 0.1)
    # replication entries node0 -> node3 in one window are the applies frame's rows sent then
    window = frame_at(data, 500)
    shipped = [f for f in data["flows"][window] if f[0] == kinds["replicate"] and f[1] == 0 and f[3] == 3]
    applies = failover.applies
    sent = ((applies["node"] == "node3") & (applies["sent_ms"] > 400) & (applies["sent_ms"] <= 500)).sum()
    assert shipped[0][4] == pytest.approx(sent / 0.1)


def stale_hit_story() -> Results:
    """Chapter 07's story: a pull follower answers a read at 80 ms from a copy fetched at 20 ms."""
    story = ReplicationModel(Scenario.preset("push-pull").replace(**{
        "duration_ms": 200.0, "topology.followers": 1, "cache.ttl_ms": 100.0, "workload.rate_per_s": 0.001,
        "workload.sessions": 1, "service.read.dist": "constant", "service.write.dist": "constant",
        "network.hop.dist": "constant"}))
    for at_ms, op in [(10, "write"), (20, "read"), (50, "read"), (60, "write"), (80, "read"), (130, "read")]:
        story.schedule_operation(at_ms, 0, op == "write", 7)
    return Results.from_model(story.run())


def test_a_short_story_is_replayed_message_by_message_with_what_each_carries():
    told = stale_hit_story()
    data = replay_data(told)
    said = [(KINDS[m[0]], data["hosts"][m[1]], data["hosts"][m[3]], m[4], m[5], m[6]) for m in data["messages"]]
    assert said[:6] == [("write", "clients", "node0", 10.0, 10.4, "write key 7"),
                        ("reply", "node0", "clients", 12.4, 12.8, "ok: write 1"),
                        ("read", "clients", "node1", 20.0, 20.4, "read key 7"),
                        ("fetch", "node1", "node0", 21.4, 22.6, "fetch key 7"),
                        ("fetch", "node0", "node1", 22.6, 22.8, "v1 of key 7"),
                        ("reply", "node1", "clients", 22.8, 23.2, "v1")]
    stale = [m for m in said if m[0] == "stale reply"]
    assert stale == [("stale reply", "node1", "clients", 81.4, 81.8, "v1, stale by 17.2 ms")]
    assert data["moment_ms"] == 81.4  # the replay opens on the stale answer


def test_a_conflict_shows_among_the_events():
    story = Scenario.preset("leader-leader").replace(duration_ms=100.0, **{
        "replication.write_routing": "session", "workload.rate_per_s": 0.001, "workload.sessions": 2,
        "service.write.dist": "constant", "service.apply.dist": "constant", "network.hop.dist": "constant",
        "service.write.mean_ms": 2.0, "service.apply.mean_ms": 1.0, "network.hop.mean_ms": 0.1})
    model = ReplicationModel(story)
    model.schedule_operation(10.0, session=0, is_write=True, key=7)
    model.schedule_operation(11.0, session=1, is_write=True, key=7)
    data = replay_data(Results.from_model(model.run()))
    conflicts = [e for e in data["events"] if e[1] == "conflict"]
    assert [c[2] for c in conflicts] == ["node1", "node0"]
    assert conflicts[0][3] == "key 7: write 1 arrived, write 2 held; kept the one it held"


def test_several_dcs_show_where_each_region_was_sent_and_the_moves():
    results = run(Scenario.preset("three-dc").replace(**{"duration_ms": 6_000.0, "dns.ttl_ms": 500.0,
                                                         "dns.ignore_ttl_share": 0.0, "faults.events": [
                                                             {"at_ms": 2_000.0, "action": "crash", "target": "dc1"}]}))
    data = replay_data(results)
    before, after = frame_at(data, 1_500), frame_at(data, 5_000)
    assert data["dns_share"][before][1][1] == 1.0  # region 1 uses dc1
    assert data["dns_share"][after][1][1] == 0.0 and sum(data["dns_share"][after][1]) == pytest.approx(1.0)
    assert data["moves"][after] > data["moves"][before] == 0
    assert "dc1" in data["down"][after] and "dc1" in data["dns_down"][after]
    # a message from dc2's balancer to the leader in dc0 travels along the WAN link, not across dc1's box
    route = data["drawing"]["routes"][f"{data['hosts'].index('dc2 balancer')}/{data['hosts'].index('node0')}"]
    assert len(route) > 2


def test_a_replay_is_html_holding_its_data_and_takes_new_results_in_place(failover):
    shown = replay(failover)
    assert shown.data["times"][-1] == 2000.0 and shown.width == 640
    page = shown._repr_html_()
    assert "<canvas" not in page and "function render(" in page and '"moment_ms":1300.0' in page
    same = replay(stale_hit_story(), fig=shown)
    assert same is shown and shown.data["messages"]


def test_the_replay_of_a_run_so_far_shows_a_caches_fetches_while_a_read_is_still_in_flight():
    """A partial picture (Results.so_far) holds fetches of reads that have no request row yet (still in
    flight): the replay lists the fetches it shows, each with the key it asked for, and looks up no other."""
    model = ReplicationModel(Scenario.preset("push-pull"))
    while model.now < 200.0:
        model.step()
    results = Results.so_far(model)
    assert set(results.fetches["request_id"]) - set(results.requests["request_id"])  # a read still in flight
    fetches = [m for m in replay_data(results)["messages"] if KINDS[m[0]] == "fetch"]
    assert fetches and all(m[6].startswith("fetch key ") or " of key " in m[6] for m in fetches)
