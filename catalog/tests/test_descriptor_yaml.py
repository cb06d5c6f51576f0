"""portal.lib.yaml_safe: values, positions, and refusal of unsafe input."""

import math
import time
import tracemalloc
from pathlib import Path

import pytest

from portal.lib.yaml_safe import YamlError, load_all, load_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_it_returns_values_and_1_based_marks_per_document():
    docs = load_all("a: 1\nspec:\n  owner: team\n  list:\n    - x\n    - y: z\n---\nb: two\n")
    assert [d.value for d in docs] == [
        {"a": 1, "spec": {"owner": "team", "list": ["x", {"y": "z"}]}},
        {"b": "two"},
    ]
    first = docs[0]
    assert first.marks[("spec", "owner")] == (3, 3)
    assert first.marks[("spec", "list", 1)] == (6, 7)
    assert first.marks[("spec", "list", 1, "y")] == (6, 7)
    assert docs[1].marks[()] == (8, 1)
    # A missing field falls back to its closest ancestor.
    assert first.mark(("spec", "missing", "deeper")) == (2, 1)
    assert docs[1].mark(("nothing",)) == (8, 1)


def test_it_resolves_plain_scalars_with_yaml_1_2_core_rules():
    (doc,) = load_all(
        "a: [yes, on, 2024-01-01, 0x1F, 0o17, 1_000, 12, -3.5, .inf, ~, null, TRUE, '7', 1e3]"
    )
    a = doc.value["a"]
    assert a[:9] == ["yes", "on", "2024-01-01", 31, 15, "1_000", 12, -3.5, math.inf]
    assert a[9:] == [None, None, True, "7", 1000.0]


def test_it_keeps_keys_as_strings_and_honours_explicit_core_tags():
    (doc,) = load_all("1: one\ntrue: t\nx: !!str 5\ny: !!int '6'\n")
    assert doc.value == {"1": "one", "true": "t", "x": "5", "y": 6}


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("a: &x 1\nb: *x\n", "anchors and aliases", 1),
        ("a: 1\nb: !!python/object/apply:os.system ['ls']\n", "not allowed", 2),
        ("a: !custom x\n", "not allowed", 1),
        ("a: !!binary aGVsbG8=\n", "not allowed", 1),
        ("s: !!set {a, b}\n", "not allowed", 1),
        ("base: 1\n<<: {a: 1}\n", "merge keys", 2),
        ("a: 1\nb: 2\na: 3\n", "duplicate mapping key 'a'", 3),
        ("? [a, b]\n: c\n", "mapping keys must be scalars", 1),
        ("a: !!int abc\n", "does not match its tag", 1),
        ("a:\n  b: [1, 2\n", "YAML syntax error", 3),
    ],
)
def test_it_refuses_unsafe_or_invalid_yaml_with_a_line(text, message, line):
    with pytest.raises(YamlError) as info:
        load_all(text)
    assert message in info.value.message
    assert info.value.line == line


def test_it_refuses_the_billion_laughs_quickly_and_with_little_memory():
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(YamlError) as info:
        load_file(EXAMPLES / "billion-laughs.yaml")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "anchors and aliases" in info.value.message
    assert (info.value.line, info.value.column) == (2, 4)
    assert elapsed < 1.0
    assert peak < 100 * 1024 * 1024


def test_it_enforces_size_document_node_and_depth_limits():
    with pytest.raises(YamlError, match="larger than the 100 byte limit"):
        load_all("a: " + "x" * 200, max_bytes=100)
    with pytest.raises(YamlError, match="more than 3 YAML documents") as info:
        load_all("a: 1\n---\nb: 2\n---\nc: 3\n---\nd: 4\n", max_documents=3)
    assert info.value.line == 6  # the "---" that starts the fourth document
    with pytest.raises(YamlError, match="more than 10 YAML nodes"):
        load_all("[" + ",".join(["1"] * 20) + "]", max_nodes=10)
    with pytest.raises(YamlError, match="nesting deeper than 64"):
        load_all("[" * 200 + "]" * 200)
    with pytest.raises(YamlError):  # libyaml itself stops absurd flow nesting
        load_all("[" * 100_000 + "]" * 100_000)


def test_it_refuses_a_large_file_before_reading_it_all(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 2048)
    with pytest.raises(YamlError, match="larger than"):
        load_file(big, max_bytes=1024)
    assert load_file(big, max_bytes=4096)[0].value["a"] == "x" * 2048


def test_it_handles_empty_streams_and_empty_documents():
    assert load_all("") == []
    docs = load_all("---\n---\na: 1\n")
    assert [d.value for d in docs] == [None, {"a": 1}]
