"""The analysis functions answer a bad argument as the Scenario answers a bad field: one
ScenarioError naming the argument, the value and what is allowed."""

import pytest

from replab import Scenario, ScenarioError
from replab.experiments.buddies import compare_layouts
from replab.experiments.propagation import push_vs_pull
from replab.experiments.switches import switch_loss_table

BUDDY = Scenario.preset("buddy").replace(**{"faults.events": [], "duration_ms": 500.0})
PULL = Scenario.preset("push-pull").replace(duration_ms=500.0)
PAIR = Scenario.preset("switch-pair").replace(**{"faults.events": [], "duration_ms": 500.0})
THREE_DCS = Scenario.preset("three-dc").replace(**{"faults.events": [], "duration_ms": 500.0})


@pytest.mark.parametrize("call, message", [
    (lambda: compare_layouts(BUDDY, replicates=0), "replicates = 0: must be a whole number from 1 to 1000"),
    (lambda: compare_layouts(BUDDY, layouts=["ring"]), "layouts = ['ring']: must be a list of (layout, copies) pairs"),
    (lambda: compare_layouts(BUDDY, layouts=[("ring", 9)]), "buddy.copies = 9: must be at most buddy.nodes - 1 (3)"),
    (lambda: compare_layouts(BUDDY, crashes="one node"), "crashes = 'one node': must list some of 'one node'"),
    (lambda: compare_layouts(BUDDY, crash_ms=-1), "crash_ms = -1: must be a number from 0 to 500"),
    (lambda: push_vs_pull(PULL, ttls_ms=100), "ttls_ms = 100: must be a list of numbers"),
    (lambda: push_vs_pull(PULL, zipf=1.1), "zipf = 1.1: must be a list of numbers"),
    (lambda: push_vs_pull(PULL, ttls_ms=["abc"]), "ttls_ms = ['abc']: must be numbers from 0 to 1e+08; 'abc' is not"),
    (lambda: push_vs_pull(PULL, ttls_ms=[]), "ttls_ms = []: must list at least one number"),
    (lambda: push_vs_pull(PULL, source="neighbour"), "cache.source = 'neighbour': must be one of 'origin', 'peer'"),
    (lambda: switch_loss_table(PAIR, down_ms=-50), "down_ms = -50: must be a number of at least 0"),
    (lambda: switch_loss_table(PAIR, crash_at_ms="100"), "crash_at_ms = '100': must be a number from 0 to 500"),
    (lambda: switch_loss_table(PAIR, switchings="single"), "switchings = 'single': must list some of 'single'"),
    (lambda: switch_loss_table(THREE_DCS), "dcs.count = 3: must be 1: switch_loss_table compares one DC's switch layouts"),
])
def test_a_bad_argument_is_named_with_what_is_allowed(call, message):
    with pytest.raises(ScenarioError) as error:
        call()
    assert message in str(error.value)
