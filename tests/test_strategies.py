"""The replication strategy interface: one class per strategy, found by name in STRATEGIES.

What a strategy declares (fields, rules, summary keys) reaches the scenario and the summary
without anyone else naming it; what it shares (shipping over an outbound link) is written
once in replab.replication.base. The model and the layers below it never branch on a
strategy's name.
"""

import ast
import math
from pathlib import Path

import pytest

import replab
from replab import Scenario, ScenarioError
from replab.analysis.summary import SUMMARY_DOC
from replab.core.calendar import EventCalendar
from replab.core.network import Network
from replab.replication import STRATEGIES, Strategy

ROOT = Path(__file__).resolve().parent.parent
SHORT = {"duration_ms": 500.0, "faults.events": []}
ONE_OF_EACH = {"leader-follower": "leader-follower", "leader-leader": "leader-leader", "buddy": "buddy"}


def test_the_registry_names_each_strategy_by_its_kind():
    assert set(ONE_OF_EACH) <= set(STRATEGIES)
    for kind, strategy in STRATEGIES.items():
        assert issubclass(strategy, Strategy) and strategy.kind == kind and strategy.about
    assert Scenario.field("replication.kind").choices == tuple(STRATEGIES)


def test_a_strategys_own_fields_and_summary_keys_join_the_scenario_and_the_summary():
    paths = {f.path for f in Scenario.fields()}
    for strategy in STRATEGIES.values():
        assert {f.path for f in strategy.fields} <= paths
        assert set(strategy.summary_doc) <= set(SUMMARY_DOC)


@pytest.mark.parametrize("preset", sorted(ONE_OF_EACH.values()))
def test_every_run_has_every_strategys_summary_keys(preset):
    """A leader-follower run reports buddy replication's keys too (0 or NaN), so sweeps over
    the kind have one set of columns."""
    summary = replab.run(Scenario.preset(preset).replace(**SHORT)).summary
    for strategy in STRATEGIES.values():
        assert set(strategy.summary_doc) <= set(summary), strategy.kind


def test_a_choice_that_belongs_to_another_strategy_is_refused_not_ignored():
    with pytest.raises(ScenarioError, match="buddy.layout = 'pairs': is a setting of replication.kind = 'buddy'"):
        Scenario(**{"buddy.layout": "pairs"})


def test_a_strategy_without_a_leader_refuses_a_fault_on_the_leader():
    with pytest.raises(ScenarioError, match="buddy replication has no leader"):
        Scenario.preset("buddy").replace(**{"faults.events": [{"at_ms": 1.0, "action": "crash", "target": "leader"}]})


def test_the_default_hooks_report_nothing_rather_than_zero():
    strategy = object.__new__(Strategy)
    assert all(math.isnan(x) for x in strategy.lag(0.0, None)) and math.isnan(strategy.divergent_keys())
    assert strategy.memory_bytes(None) == -1 and strategy.position(None) == (-1, None)


# shipping, written once ------------------------------------------------------------------------------
class Host:
    """Just enough of a data node to ship from and to."""

    def __init__(self, host):
        self.host, self.link_free_ms, self.shipped, self.incarnation, self.crash_times = host, 0.0, 0, 0, []


class Shipper(Strategy):
    def __init__(self, ship_ms):
        calendar = EventCalendar()
        self.model = type("Model", (), {"network": Network(calendar, lambda: 0.5, 1), "calendar": calendar})()
        self.ship_ms = ship_ms


def test_a_senders_entries_leave_one_at_a_time_over_its_outbound_link():
    """Three entries at t=0 with 2 ms a copy leave at 2, 4 and 6 ms and arrive one hop pair
    (1 ms) later, in order."""
    shipper, log = Shipper(ship_ms=2.0), []
    sender, receiver = Host(shipper.model.network.attach(0)), Host(shipper.model.network.attach(0))
    for entry in ("a", "b", "c"):
        shipper.ship(0.0, sender, receiver, entry, lambda now, to, entry, frm, sent_ms, extra: log.append((entry, sent_ms, now)))
    shipper.model.calendar.run_until(100.0)
    assert log == [("a", 2.0, 3.0), ("b", 4.0, 5.0), ("c", 6.0, 7.0)] and sender.shipped == 3


def test_what_was_still_queued_when_the_sender_crashed_never_leaves():
    shipper, log = Shipper(ship_ms=2.0), []
    sender, receiver = Host(shipper.model.network.attach(0)), Host(shipper.model.network.attach(0))
    for entry in ("a", "b"):
        shipper.ship(0.0, sender, receiver, entry, lambda now, to, entry, *rest: log.append(entry))
    sender.incarnation, sender.crash_times = 1, [3.0]  # crashed at 3 ms: "a" had left at 2, "b" had not
    shipper.model.calendar.run_until(100.0)
    assert log == ["a"]


# nobody else branches on a strategy's name --------------------------------------------------------------
def test_the_model_and_the_layers_below_it_never_compare_with_a_strategys_name():
    """New strategies need no edits in core, topology, agents, config, analysis or sim: those
    packages ask the strategy class (STRATEGIES[kind]) instead of testing the kind's name.
    (The independent history checkers, analysis.checks, .leader_leader_replay and .durability,
    read one strategy's frames as that strategy means them, and may name it.)"""
    found = []
    for package in ("core", "topology", "agents", "config", "analysis", "sim"):
        for path in (ROOT / "replab" / package).rglob("*.py"):
            if path.name in ("checks.py", "leader_leader_replay.py", "durability.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Compare):
                    for side in (node.left, *node.comparators):
                        if isinstance(side, ast.Constant) and side.value in STRATEGIES:
                            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
