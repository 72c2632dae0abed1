"""Files and values a hostile (or unlucky) user gives end in one ScenarioError naming what is
wrong, quickly: never a hang, a raw traceback or a silently different scenario (issue 11).
"""

import json
import os

import numpy as np
import pytest

from replab import Scenario, ScenarioError
from replab.config.files import MAX_FILE_BYTES
from replab.experiments.sweep import load_spec


def write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


@pytest.fixture(autouse=True)
def _no_hang(no_hang):
    with no_hang(60):
        yield


def refusal(call) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("name, content, words", [
    ("binary.toml", b"\xff\xfe\x00junk", "is not UTF-8 text (byte 0xff at offset 0)"),
    ("list.json", "[1, 2]", "must hold a table of fields at the top, not a list"),
    ("null.json", "null", "not null"),
    ("zero.json", "0", "not a number"),
    ("text.json", '"leader-follower"', "not text"),
    ("empty-list.json", "[]", "not a list"),
    ("twice.json", '{"seed": 1, "seed": 2}', "the key 'seed' is given twice"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nests tables or arrays more than 32 deep"),
    ("deep-arrays.toml", "seed = " + "[" * 100_000 + "]" * 100_000, "nests tables or arrays more than 32 deep"),
    ("deep-tables.toml", "seed = " + "{a = " * 5_000 + "1" + "}" * 5_000, "more than 32 deep"),
    ("dotted.toml", ".".join(["a"] * 50_000) + " = 1", "nests keys more than 32 deep (line 1)"),
    ("scenario.yaml", "seed: 1", "must be a .toml or .json file (by its suffix), not .yaml"),
    ("huge.json", json.dumps({"description": "x" * (MAX_FILE_BYTES + 10)}), "is larger than 2 MB"),
])
def test_a_file_that_is_not_a_scenario_is_refused_naming_the_file(tmp_path, name, content, words):
    path = write(tmp_path, name, content)

    error = refusal(lambda: Scenario.load(path))

    assert error.field == "path" and error.value == path
    assert words in str(error)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "scenario.toml"
    os.mkfifo(fifo)

    error = refusal(lambda: Scenario.load(fifo))

    assert "is not a regular file (a FIFO)" in str(error)


def test_a_device_or_a_directory_is_refused(tmp_path):
    (tmp_path / "zero.toml").symlink_to("/dev/zero")  # reading it would never end
    (tmp_path / "folder.toml").mkdir()

    assert "(a character device)" in str(refusal(lambda: Scenario.load(tmp_path / "zero.toml")))
    assert "(a directory)" in str(refusal(lambda: Scenario.load(tmp_path / "folder.toml")))


@pytest.mark.parametrize("text, field, words", [
    ('duration_ms = "1000"', "duration_ms", "must be a number in a file, not text in quotes"),
    ('[failover]\npromote = "yes"', "failover.promote", "must be true or false in a file"),
    ('[topology]\nfollowers = "2"', "topology.followers", "must be an integer in a file"),
    ('[dns]\nweights = "[1, 2]"', "dns.weights", "must be a list in a file"),
])
def test_a_typed_file_gives_numbers_and_booleans_as_such_not_as_text(tmp_path, text, field, words):
    """Text is read as a field's kind only from --set and widgets, where everything is text."""
    error = refusal(lambda: Scenario.load(write(tmp_path, "typed.toml", text)))

    assert error.field == field and words in str(error)


def test_a_file_of_secrets_is_named_by_its_key_never_its_value(tmp_path):
    path = write(tmp_path, "credentials.toml", 'aws_secret_access_key = "hunter2"\n')

    error = refusal(lambda: Scenario.load(path))

    assert str(error) == "aws_secret_access_key: is not a scenario field; see Scenario.fields()"
    assert error.value is None


def test_a_sweep_specs_base_path_is_read_as_safely_and_never_echoes_a_value(tmp_path):
    write(tmp_path, "credentials.toml", 'token = "hunter2"\n')
    write(tmp_path, "binary.toml", b"\xff\xfe")
    secret = write(tmp_path, "a.toml", 'base_path = "credentials.toml"\n')
    binary = write(tmp_path, "b.toml", 'base_path = "binary.toml"\n')
    unknown = write(tmp_path, "c.toml", 'base = "leader-follower"\npassword = "hunter2"\n')

    assert "hunter2" not in str(refusal(lambda: load_spec(secret)))
    assert "token: is not a scenario field" in str(refusal(lambda: load_spec(secret)))
    assert "is not UTF-8 text" in str(refusal(lambda: load_spec(binary)))
    assert str(refusal(lambda: load_spec(unknown))).startswith("password: is not a sweep spec key")


@pytest.mark.parametrize("value, words", [
    ("\x1b[31mRED\x1b[0m", "it holds a control character, U+001B"),
    ("two\nlines", "it holds a control character, U+000A"),
    ("\ud800", "it holds a lone surrogate, U+D800"),
    ("x" * 50_000, "must be at most 1,000 characters (it has 50,000)"),
])
def test_a_description_is_one_printable_line(value, words):
    error = refusal(lambda: Scenario(description=value))

    assert error.field == "description" and words in str(error)
    assert len(str(error)) < 400, "the message shows a long value cut short"


@pytest.mark.parametrize("call, field, words", [
    (lambda: Scenario([1, 2]), "scenario", "must be a table (dict) of dotted fields"),
    (lambda: Scenario("topology.followers=2"), "scenario", "must be a table"),
    (lambda: Scenario.load(123), "path", "must be a file path"),
    (lambda: Scenario.load(None), "path", "must be a file path"),
    (lambda: Scenario.preset(["leader-follower"]), "preset", "must be one of"),
    (lambda: Scenario({1: 2}), "1", "field names are text"),
    (lambda: Scenario(duration_ms=10**400), "duration_ms", "must be a number above 0"),
    (lambda: Scenario(**{"dns.weights": iter([1.0, 2.0])}), "dns.weights", "must be a list of numbers"),
    (lambda: Scenario(**{"faults.events": [[[[]]]]}), "faults.events[0]", "must be a table with at_ms"),
    (lambda: Scenario(**{"faults.events": [{"at_ms": 1, "action": "crash", "target": "node" + "9" * 5000}]}),
     "faults.events[0].target", "must be 'leader', 'nodeN'"),
    (lambda: Scenario(**{"topology.followers": np.bool_(True)}), "topology.followers", "must be an integer"),
])
def test_the_python_api_refuses_odd_values_with_a_scenario_error(call, field, words):
    error = refusal(call)

    assert error.field == field and words in str(error)


def test_a_deeply_nested_table_from_python_is_refused_not_a_recursion_error():
    tree: dict = {}
    for _ in range(10_000):
        tree = {"a": tree}

    assert "tables nested more than 32 deep" in str(refusal(lambda: Scenario(tree)))


def test_numpy_scalars_are_accepted_as_the_numbers_and_booleans_they_are():
    scenario = Scenario(**{"failover.promote": np.bool_(False), "topology.followers": np.int64(2),
                           "duration_ms": np.float32(500.0)})

    assert scenario.failover.promote is False and scenario.topology.followers == 2
    assert scenario.duration_ms == 500.0
