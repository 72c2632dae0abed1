"""The foundations on tiny hand-built cases: the event calendar, the network, the replica
tree, the recorder's declared columns and the codes. Each test is a small demonstration of
one piece, in simulated milliseconds."""

import numpy as np
import pytest

import replab
from replab import Scenario
from replab.analysis.frames import table_frame
from replab.core.calendar import EventCalendar
from replab.core.codes import LOST_REASONS, REASONS, Codes
from replab.core.network import Network
from replab.core.recorder import NODE, TABLES, Recorder
from replab.replication.tree import ReplicaTree


# the event calendar -----------------------------------------------------------------------------
def test_the_calendar_runs_events_in_time_order_and_ties_in_the_order_they_were_scheduled():
    calendar, log = EventCalendar(), []
    for at_ms, name in ((5.0, "c"), (1.0, "a"), (5.0, "d"), (3.0, "b")):
        calendar.schedule(at_ms, lambda now, arg: log.append((arg, now)), name)
    calendar.run_until(4.0)
    assert log == [("a", 1.0), ("b", 3.0)] and calendar.now == 4.0 and calendar.pending == 2
    calendar.run_until(10.0)
    assert log[2:] == [("c", 5.0), ("d", 5.0)] and calendar.events_run == 4


def test_an_event_may_schedule_another_at_the_same_instant_and_it_runs_in_the_same_call():
    calendar, log = EventCalendar(), []

    def first(now, _):
        log.append(("first", now))
        calendar.schedule(now, lambda t, _: log.append(("second", t)))

    calendar.schedule(2.0, first)
    calendar.run_until(2.0)
    assert log == [("first", 2.0), ("second", 2.0)]


# the network --------------------------------------------------------------------------------------
def one_ms_hops(switches: int = 2) -> Network:
    return Network(EventCalendar(), lambda: 1.0, switches)


def test_a_message_crosses_two_hops_on_one_switch_and_three_between_switches():
    net = one_ms_hops()
    a, b, c = net.attach(0), net.attach(0), net.attach(1)
    assert net.latency_ms(a, b) == 2.0 and net.latency_ms(a, c) == 3.0


def test_a_dead_switch_drops_what_would_cross_it_and_counts_it():
    net, log = one_ms_hops(), []
    a, c = net.attach(0), net.attach(1)
    net.switch_up[1] = False
    assert net.send(0.0, a, c, lambda now, arg: log.append(arg), "lost") is False
    assert (net.messages_sent, net.messages_dropped) == (1, 1)
    net.calendar.run_until(100.0)
    assert log == []


def test_a_host_on_a_redundant_pair_uses_the_partner_while_its_first_switch_is_down():
    net = one_ms_hops(3)
    dual, other = net.attach(0, 1), net.attach(2)
    net.switch_up[0] = False
    assert net.latency_ms(dual, other) == 3.0


def test_an_ordered_channel_never_delivers_a_message_before_the_one_sent_before_it():
    draws = iter([5.0, 5.0, 1.0, 1.0])  # the second message would be quicker
    calendar, log = EventCalendar(), []
    net = Network(calendar, lambda: next(draws), 1)
    a, b = net.attach(0), net.attach(0)
    net.send_ordered(0.0, a, b, lambda now, arg: log.append((arg, now)), "first")
    net.send_ordered(1.0, a, b, lambda now, arg: log.append((arg, now)), "second")
    calendar.run_until(100.0)
    assert log == [("first", 10.0), ("second", 10.0)]


def test_messages_waiting_on_a_busy_channel_keep_their_place_among_ties():
    """A busy channel keeps its later messages off the calendar; a tie still runs in the order scheduled."""
    draws = iter([5.0, 5.0, 1.0, 1.0, 1.0, 1.0])
    calendar, log = EventCalendar(), []
    net = Network(calendar, lambda: next(draws), 1)
    a, b = net.attach(0), net.attach(0)

    def record(now, arg):
        log.append((arg, now))

    net.send_ordered(0.0, a, b, record, "first")  # due at 10
    net.send_ordered(1.0, a, b, record, "second")  # due at 3, waits for the first: 10
    calendar.schedule(10.0, record, "timer")
    net.send_ordered(2.0, a, b, record, "third")  # 10 as well, scheduled after the timer
    calendar.run_until(100.0)
    assert log == [("first", 10.0), ("second", 10.0), ("timer", 10.0), ("third", 10.0)]


# the replica tree ---------------------------------------------------------------------------------
class FakeNode:
    def __init__(self, index):
        self.index = index


def test_fanout_two_places_followers_breadth_first_and_a_chain_is_fanout_one():
    nodes = [FakeNode(i) for i in range(6)]
    tree = ReplicaTree(2)
    tree.arrange(nodes[0], nodes)
    assert [tree.upstream[i].index for i in range(1, 6)] == [0, 0, 1, 1, 2]
    assert [tree.depth[i] for i in range(6)] == [0, 1, 1, 2, 2, 2]
    chain = ReplicaTree(1)
    chain.arrange(nodes[0], nodes)
    assert [chain.depth[i] for i in range(6)] == [0, 1, 2, 3, 4, 5]


def test_a_relays_death_repoints_only_its_subtree_and_a_return_joins_at_the_end():
    nodes = [FakeNode(i) for i in range(5)]
    tree = ReplicaTree(1)  # a chain: 0 -> 1 -> 2 -> 3 -> 4
    tree.arrange(nodes[0], nodes)
    moved = tree.arrange(nodes[0], [n for n in nodes if n.index != 2])
    assert [n.index for n in moved] == [3] and tree.upstream[3].index == 1 and tree.upstream[4].index == 3
    tree.arrange(nodes[0], nodes)
    assert tree.upstream[2].index == 4  # back at the end of the chain, nobody else moved


# the recorder: declared once, read back as declared -----------------------------------------------
def test_every_recorded_column_comes_back_with_its_declared_type_and_labels():
    """A run's frames carry each declared column with the numpy type it was written with;
    coded columns as categories of their labels, node numbers as node names."""
    results = replab.run(Scenario.preset("failover").replace(duration_ms=1_000.0, **{"faults.events": []}))
    for name in ("requests", "writes", "applies", "receipts", "fetches"):
        frame = getattr(results, name)
        table = next(t for t in TABLES if t.attribute == name)
        for column in table.columns:
            if column.name == "from_cache":
                assert frame[column.name].dtype == bool
            elif column.codes is None:
                assert frame[column.name].dtype == np.dtype(column.dtype), (name, column.name)
            else:
                assert frame[column.name].dtype.name == "category", (name, column.name)
    assert list(results.requests["node"].cat.categories) == results.scenario.node_names


def test_a_table_is_read_back_once_and_lets_go_of_its_arrays():
    recorder = Recorder()
    recorder.apply(7, 1, 3.5, 3.0, (0, 2.0))
    frame = table_frame(next(t for t in TABLES if t.attribute == "applies"), recorder.applies, ["node0", "node1"])
    assert frame.to_dict("records") == [{"write_id": 7, "node": "node1", "sender": "node0", "sent_ms": 2.0,
                                         "received_ms": 3.0, "applied_ms": 3.5}]
    assert recorder.applies.write_id is None


def test_node_columns_are_declared_as_such():
    node_columns = {(t.attribute, c.name) for t in TABLES for c in t.columns if c.codes == NODE}
    assert ("requests", "node") in node_columns and ("applies", "sender") in node_columns


# codes -----------------------------------------------------------------------------------------------
def test_codes_only_grow_so_a_code_never_changes_its_meaning():
    colours = Codes("colour", "red", "green")
    assert colours.add("blue") == 2 and colours.add("red") == 0 and colours.categories == ("red", "green", "blue")
    assert REASONS[REASONS.code("node down")] == "node down"
    assert LOST_REASONS[0] == ""  # code 0: not lost


def test_an_unknown_label_is_an_error_not_a_new_code():
    with pytest.raises(ValueError):
        REASONS.code("no such reason")
