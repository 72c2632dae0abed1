"""Scenario: a frozen, validated experiment that loads and saves as TOML or JSON.

Every bad value raises one ScenarioError naming the dotted field, the value and what is
allowed, whether it comes from Python, a file or the command line (as text).
"""

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from replab import Scenario, ScenarioError
from replab.config.scenario import FIELDS


def refused(match: str, **dotted) -> ScenarioError:
    """The ScenarioError raised by building a scenario from `dotted` fields."""
    with pytest.raises(ScenarioError, match=match) as caught:
        Scenario(**dotted)
    return caught.value


# presets, files and round trips --------------------------------------------------------------

def test_every_preset_loads_and_says_what_it_shows():
    presets = Scenario.presets()
    assert "leader-follower" in presets
    for name, description in presets.items():
        scenario = Scenario.preset(name)
        assert description and scenario.description == description


def test_an_unknown_preset_lists_the_real_ones():
    with pytest.raises(ScenarioError, match=r"preset = 'nope': must be one of .*'leader-follower'") as caught:
        Scenario.preset("nope")
    error = caught.value
    assert (error.field, error.value) == ("preset", "nope")


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_save_then_load_gives_the_same_scenario(tmp_path, suffix):
    scenario = Scenario.preset("failover").replace(**{
        "description": "crash at 3 s — with unicode",
        "seed": 2**63 - 1,
        "network.hop.mean_ms": 0.1 + 0.2,  # a float with no short decimal form
        "replication.ack": "semi-sync",
        "replication.semi_sync_k": 2,
    })
    path = tmp_path / f"scenario{suffix}"
    scenario.save(path)
    loaded = Scenario.load(path)
    assert loaded == scenario
    assert loaded.diff(scenario) == {}
    assert loaded.faults.events == scenario.faults.events


def test_a_saved_file_holds_every_field_as_nested_tables(tmp_path):
    Scenario.preset("leader-follower").save(tmp_path / "s.json")
    tree = json.loads((tmp_path / "s.json").read_text())
    assert tree["topology"]["followers"] == 3
    assert tree["service"]["read"]["dist"] == "exponential"
    assert len(Scenario(tree).to_flat()) == len(FIELDS)


_SIMPLE_FIELDS = [f for f in FIELDS if f.kind != "faults"]


def _value_for(field):
    if field.kind == "choice":
        return st.sampled_from(field.choices)
    if field.kind == "bool":
        return st.booleans()
    if field.kind == "str":
        return st.text(max_size=30)
    if field.kind == "int":
        return st.integers(int(field.low) + int(field.low_open), int(field.high))
    if field.kind in ("numbers", "ints", "matrix"):
        return st.just(())  # lists must match dcs.count: their own round trip is in test_multi_dc
    return st.floats(field.low, field.high, exclude_min=field.low_open, allow_nan=False)


@st.composite
def _some_fields(draw):
    chosen = draw(st.lists(st.sampled_from(_SIMPLE_FIELDS), max_size=6, unique_by=lambda f: f.path))
    return {f.path: draw(_value_for(f)) for f in chosen}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_some_fields())
def test_any_valid_scenario_round_trips_through_toml_and_json(dotted):
    """Property: whatever the field table allows survives save and load unchanged."""
    try:
        scenario = Scenario(**dotted)
    except ScenarioError:
        assume(False)  # an allowed value in an inconsistent combination: covered below
    with tempfile.TemporaryDirectory() as folder:
        for name in ("s.toml", "s.json"):
            scenario.save(Path(folder) / name)
            assert Scenario.load(Path(folder) / name) == scenario


# frozen, replace ------------------------------------------------------------------------------

def test_replace_returns_a_new_validated_scenario_and_leaves_the_old_one_alone():
    base = Scenario.preset("leader-follower")
    bigger = base.replace(**{"topology.followers": 5, "workload.write_ratio": 0.5})
    assert bigger is not base
    assert (bigger.topology.followers, bigger.workload.write_ratio) == (5, 0.5)
    assert (base.topology.followers, base.workload.write_ratio) == (3, 0.2)
    assert base.diff(bigger) == {"topology.followers": (3, 5), "workload.write_ratio": (0.2, 0.5)}
    with pytest.raises(ScenarioError, match="topology.followers = 99"):
        base.replace(**{"topology.followers": 99})
    assert base == Scenario.preset("leader-follower")


def test_a_scenario_is_frozen():
    scenario = Scenario.preset("leader-follower")
    with pytest.raises(AttributeError, match="frozen"):
        scenario.seed = 7
    with pytest.raises(AttributeError, match="frozen"):
        scenario.topology = None
    with pytest.raises(TypeError):
        scenario._values["seed"] = 7  # the values themselves are a read-only mapping
    assert scenario.seed == 1


def test_setting_a_field_through_its_section_fails_too():
    scenario = Scenario.preset("leader-follower")
    with pytest.raises(AttributeError, match="frozen"):
        scenario.topology.followers = 5


# one error per class of bad input -------------------------------------------------------------

def test_an_unknown_field_suggests_the_nearest_real_one():
    error = refused(r"topology\.folowers = 2: is not a scenario field \(did you mean 'topology\.followers'\?\)",
                    **{"topology.folowers": 2})
    assert (error.field, error.value) == ("topology.folowers", 2)


def test_an_unknown_field_far_from_any_name_points_to_the_field_list():
    error = refused(r"zzz = 1: is not a scenario field; see Scenario\.fields\(\)", zzz=1)
    assert error.field == "zzz"


@pytest.mark.parametrize("value", ["many", True, 2.5, 2.0, None, [3]], ids=repr)
def test_a_wrong_type_for_an_integer_names_the_field_value_and_range(value):
    """Text, a bool, a float (even a whole one) or a list are not an integer count."""
    error = refused(r"topology\.followers = .*: must be an integer from 0 to 32", **{"topology.followers": value})
    assert error.field == "topology.followers"
    assert error.value == value and type(error.value) is type(value)


@pytest.mark.parametrize("path, value", [
    ("failover.promote", 1),
    ("failover.promote", "maybe"),
    ("description", 5),
    ("replication.ack", 3),
])
def test_a_wrong_type_for_bool_text_or_choice_is_refused(path, value):
    error = refused(rf"{path} = {value!r}: must be", **{path: value})
    assert (error.field, error.value) == (path, value)


@pytest.mark.parametrize("path, value, allowed", [
    ("topology.followers", -1, "an integer from 0 to 32"),
    ("topology.followers", 33, "an integer from 0 to 32"),
    ("topology.workers", 0, "an integer from 1 to 256"),
    ("workload.write_ratio", 1.5, "a number from 0 to 1"),
    ("workload.write_ratio", -0.1, "a number from 0 to 1"),
    ("duration_ms", 1e9, r"a number above 0 to 1e\+08"),
])
def test_out_of_range_names_the_bounds(path, value, allowed):
    error = refused(rf"{path} = {value!r}: must be {allowed}$", **{path: value})
    assert (error.field, error.value) == (path, value)


@pytest.mark.parametrize("path", ["duration_ms", "workload.rate_per_s", "service.read.mean_ms", "network.hop.mean_ms"])
def test_an_open_lower_bound_refuses_the_bound_itself(path):
    """A duration, rate or mean of exactly 0 makes no experiment: 'above 0', not 'from 0'."""
    error = refused(rf"{path} = 0\.0: must be a number above 0 to", **{path: 0})
    assert (error.field, error.value) == (path, 0.0)
    assert Scenario(**{path: 1e-6}).get(path) == 1e-6


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_number_must_be_finite(value):
    error = refused(r"workload\.think_ms = .*: must be a number from 0 to", **{"workload.think_ms": value})
    assert error.field == "workload.think_ms"


def test_the_bounds_themselves_are_allowed():
    scenario = Scenario(**{"topology.followers": 32, "workload.write_ratio": 0.0, "replication.ship_ms": 0.0})
    assert scenario.topology.followers == 32
    assert Scenario(**{"topology.followers": 0, "replication.reads": "leader"}).node_names == ["node0"]


def test_a_bad_choice_lists_the_choices():
    error = refused(r"replication\.ack = 'quorum': must be one of 'async', 'semi-sync', 'sync', 'majority'$",
                    **{"replication.ack": "quorum"})
    assert (error.field, error.value) == ("replication.ack", "quorum")
    refused(r"service\.read\.dist = 'normal': must be one of 'constant', 'exponential', 'lognormal'",
            **{"service.read.dist": "normal"})


# inconsistent combinations --------------------------------------------------------------------

def test_semi_sync_cannot_wait_for_more_followers_than_there_are():
    error = refused(r"replication\.semi_sync_k = 4: must be at most topology\.followers \(3\) with semi-sync",
                    **{"replication.ack": "semi-sync", "replication.semi_sync_k": 4})
    assert (error.field, error.value) == ("replication.semi_sync_k", 4)


def test_semi_sync_needs_a_follower():
    error = refused(r"replication\.ack = 'semi-sync': needs at least one follower \(topology\.followers is 0\)",
                    **{"replication.ack": "semi-sync", "topology.followers": 0, "replication.reads": "leader"})
    assert (error.field, error.value) == ("replication.ack", "semi-sync")


def test_reads_on_followers_need_a_follower():
    """The preset reads from followers, so taking them all away is refused, with the fix."""
    with pytest.raises(ScenarioError, match=r"replication\.reads = 'followers': needs at least one follower"
                                            r".*use 'leader' or 'any'") as caught:
        Scenario.preset("leader-follower").replace(**{"topology.followers": 0})
    assert (caught.value.field, caught.value.value) == ("replication.reads", "followers")


def test_apply_concurrency_cannot_exceed_the_workers():
    error = refused(r"topology\.apply_concurrency = 8: must be at most topology\.workers \(4\)",
                    **{"topology.apply_concurrency": 8})
    assert (error.field, error.value) == ("topology.apply_concurrency", 8)


def _crash(target="leader", at_ms=100.0, **extra):
    return {"at_ms": at_ms, "action": "crash", "target": target, **extra}


def test_a_fault_must_target_a_node_that_exists():
    error = refused(r"faults\.events\[0\]\.target = 'node4': must name an existing node \(node0 to node3\) or 'leader'",
                    **{"faults.events": [_crash("node4")]})
    assert (error.field, error.value) == ("faults.events[0].target", "node4")
    assert Scenario(**{"faults.events": [_crash("node3")]}).faults.events[0].target == "node3"


def test_a_fault_must_target_a_switch_that_exists():
    error = refused(r"faults\.events\[0\]\.target = 'switch2': must name an existing switch: switch0 to switch1",
                    **{"faults.events": [_crash("switch2")], "topology.switches": 2})
    assert (error.field, error.value) == ("faults.events[0].target", "switch2")


def test_a_fault_must_target_a_switch_of_the_pairs_that_exist():
    """With redundant pairs every position has two switches: switch0 and switch1 for one."""
    pair = {"topology.switching": "pair-single-attached"}
    assert Scenario(**pair, **{"faults.events": [_crash("switch1")]}).faults.events[0].target == "switch1"
    error = refused(r"faults\.events\[0\]\.target = 'switch2': must name an existing switch: switch0 to switch1 "
                    r"\(1 pair\(s\) with topology\.switching = 'pair-single-attached'\)",
                    **pair, **{"faults.events": [_crash("switch2")]})
    assert (error.field, error.value) == ("faults.events[0].target", "switch2")
    refused(r"switch0 to switch3 \(2 pair\(s\)", **{"topology.switching": "pair-dual-attached", "topology.switches": 2,
                                                    "faults.events": [_crash("switch4")]})


def test_switching_is_one_of_three_layouts():
    error = refused(r"topology\.switching = 'pair': must be one of 'single', 'pair-single-attached', "
                    r"'pair-dual-attached'", **{"topology.switching": "pair"})
    assert (error.field, error.value) == ("topology.switching", "pair")
    refused(r"topology\.switching = 2: must be one of", **{"topology.switching": 2})


def test_a_fault_must_happen_within_the_run():
    error = refused(r"faults\.events\[0\]\.at_ms = 20000\.0: must be within the run \(duration_ms is 10000\)",
                    **{"faults.events": [_crash(at_ms=20_000)]})
    assert (error.field, error.value) == ("faults.events[0].at_ms", 20_000.0)


# malformed faults -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [_crash(), "crash leader", 5], ids=["a table", "text", "a number"])
def test_faults_must_be_a_list(value):
    error = refused(r"faults\.events = .*: must be a list of \{at_ms, action, target\} tables", **{"faults.events": value})
    assert error.field == "faults.events"


@pytest.mark.parametrize("fault, field, value, allowed", [
    (5, "faults.events[1]", 5, "must be a table with at_ms, action and target"),
    ({"at_ms": 1.0, "action": "crash"}, "faults.events[1].target", None, "is required"),
    (_crash(when=3), "faults.events[1].when", 3, "is not a fault field; use at_ms, action, target"),
    (_crash() | {"action": "explode"}, "faults.events[1].action", "explode", "must be one of 'crash', 'recover'"),
    (_crash("mainframe"), "faults.events[1].target", "mainframe", "must be 'leader', 'nodeN' or 'switchN'"),
    (_crash("node"), "faults.events[1].target", "node", "must be 'leader', 'nodeN' or 'switchN'"),
    (_crash(at_ms=-1), "faults.events[1].at_ms", -1.0, "must be a number from 0 to"),
    (_crash(at_ms="soon"), "faults.events[1].at_ms", "soon", "must be a number from 0 to"),
], ids=["not a table", "missing key", "unknown key", "bad action", "bad target", "no number", "negative time",
        "text time"])
def test_a_malformed_fault_names_its_position_and_key(fault, field, value, allowed):
    """The second fault is the bad one, so the error must point at [1], not [0]."""
    with pytest.raises(ScenarioError) as caught:
        Scenario(**{"faults.events": [_crash(), fault]})
    error = caught.value
    assert (error.field, error.value) == (field, value)
    assert str(error).startswith(f"{field} = {value!r}: {allowed}")


# files ----------------------------------------------------------------------------------------

def test_bad_toml_syntax_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[topology\nfollowers = 2\n")
    with pytest.raises(ScenarioError, match=r"broken\.toml'?: is not valid TOML: .*line 1") as caught:
        Scenario.load(path)
    assert (caught.value.field, caught.value.value) == ("path", str(path))


def test_bad_json_syntax_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{nope")
    with pytest.raises(ScenarioError, match=r"broken\.json'?: is not valid JSON"):
        Scenario.load(path)


def test_a_missing_file_says_it_cannot_be_read(tmp_path):
    with pytest.raises(ScenarioError, match=r"missing\.toml'?: cannot be read"):
        Scenario.load(tmp_path / "missing.toml")


def test_an_unknown_table_in_a_file_names_the_full_dotted_path_but_not_its_value(tmp_path):
    """The file may not be a scenario at all (a sweep's base_path pointing at the wrong file),
    and its values may be secrets: the key is named, the value never shown."""
    path = tmp_path / "typo.toml"
    path.write_text("[topology]\nfollowers = 2\n\n[topology.extra]\nnodes = 3\n")
    with pytest.raises(ScenarioError, match=r"^topology\.extra\.nodes: is not a scenario field") as caught:
        Scenario.load(path)
    assert caught.value.field == "topology.extra.nodes"


def test_a_misspelt_table_in_a_file_suggests_the_right_field(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text("[topolgy]\nfollowers = 2\n")
    with pytest.raises(ScenarioError, match=r"topolgy\.followers: .*did you mean 'topology\.followers'"):
        Scenario.load(path)


def test_a_bad_value_in_a_file_names_the_field(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[replication]\nack = "semi-sync"\nsemi_sync_k = 5\n')
    with pytest.raises(ScenarioError, match=r"replication\.semi_sync_k = 5: must be at most topology\.followers \(3\)"):
        Scenario.load(path)


# text, as the command line and widgets pass it -------------------------------------------------

@pytest.mark.parametrize("path, text, value", [
    ("topology.followers", "3", 3),
    ("topology.followers", " 5 ", 5),
    ("failover.promote", "true", True),
    ("failover.promote", "false", False),
    ("failover.promote", "off", False),
    ("workload.rate_per_s", "1e3", 1000.0),
    ("workload.write_ratio", "0.5", 0.5),
    ("replication.ack", "sync", "sync"),
])
def test_text_from_the_command_line_is_read_as_the_field_kind(path, text, value):
    got = Scenario.preset("leader-follower").replace(**{path: text}).get(path)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("path, text, value, allowed", [
    ("topology.followers", "abc", "abc", "must be an integer from 0 to 32"),
    ("topology.followers", "2.5", "2.5", "must be an integer from 0 to 32"),
    ("topology.followers", "40", 40, "must be an integer from 0 to 32"),  # read, then out of range
    ("failover.promote", "maybe", "maybe", "must be true or false"),
    ("workload.rate_per_s", "fast", "fast", r"must be a number above 0 to 1e\+07"),
])
def test_bad_text_from_the_command_line_names_field_text_and_range(path, text, value, allowed):
    with pytest.raises(ScenarioError, match=rf"{path} = {value!r}: {allowed}$") as caught:
        Scenario.preset("leader-follower").replace(**{path: text})
    assert (caught.value.field, caught.value.value) == (path, value)
