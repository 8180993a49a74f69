"""tools/mutate.py itself: each operator kind makes the mutants it names, the sample is seeded, every module of
evalkit/ is covered by test files that exist."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mutate():
    spec = importlib.util.spec_from_file_location("mutate", REPO / "tools" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutate"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("mutate", None)


def mutated(mutate, operator: str, source: str) -> list[str]:
    """Every program one operator makes of `source`, in the order the tool makes them."""
    function = getattr(mutate, operator)
    out = []
    for index, node in enumerate(ast.walk(ast.parse(source))):
        for number in range(len(function(node))):
            fresh = ast.parse(source)
            target = list(ast.walk(fresh))[index]
            mutate._replace(fresh, target, function(target)[number])
            out.append(ast.unparse(ast.fix_missing_locations(fresh)))
    return out


@pytest.mark.parametrize(
    ("operator", "source", "expected"),
    [
        ("_delete_statement", "x = 1\nraise ValueError(x)", ["pass\nraise ValueError(x)", "x = 1\npass"]),
        ("_delete_statement", "f(x)\nreturn x", []),  # the tool's own kinds remove calls and returns
        ("_delete_if_body", "if a:\n    b = 1\nelse:\n    b = 2", ["if a:\n    pass\nelse:\n    b = 2"]),
        ("_drop_entry", "t = {'a': 1, 'b': 2}", ["t = {'b': 2}", "t = {'a': 1}"]),
        (
            "_drop_entry",
            "k = ('x', ('y', 1))",
            ["k = (('y', 1),)", "k = ('x',)", "k = ('x', (1,))", "k = ('x', ('y',))"],
        ),
        ("_drop_entry", "a, b = (f(), 2)", []),  # neither a literal table nor a target
        ("_drop_keyword", "f(a, b=1, c=2)", ["f(a, c=2)", "f(a, b=1)"]),
        ("_swap_arguments", "f(a, b, c)", ["f(b, a, c)", "f(a, c, b)"]),
        ("_off_by_one", "x[1]", ["x[0]", "x[2]"]),
        ("_off_by_one", "x[-1]", ["x[-2]", "x[0]"]),
        ("_off_by_one", "x[1:n]", ["x[0:n]", "x[2:n]", "x[1:n - 1]", "x[1:n + 1]"]),
        ("_builtin", "any(v) and min(w)", ["all(v) and min(w)", "any(v) and max(w)"]),
        ("_remove_sorted", "y = sorted(v, key=k)", ["y = v"]),
        ("_reverse_sort", "sorted(v)", ["sorted(v, reverse=True)"]),
        ("_reverse_sort", "v.sort(key=k, reverse=r)", ["v.sort(key=k, reverse=not r)"]),
        (
            "_change_default",
            "def f(a, b=3, *, c='x', d=None):\n    pass",
            ["def f(a, b=0, *, c='x', d=None):\n    pass", "def f(a, b=3, *, c='', d=None):\n    pass"],
        ),
        ("_change_string_key", "d['k']", ["d['k_']"]),
        ("_change_string_key", "d.get('k', 0)", ["d.get('k_', 0)"]),
        ("_change_string_key", "{'k': 1, 2: 'v'}", ["{'k_': 1, 2: 'v'}"]),
    ],
)
def test_each_operator_kind_makes_the_mutants_it_names(mutate, operator, source, expected):
    assert mutated(mutate, operator, source) == expected


def test_a_mutant_is_described_by_its_kind_and_the_first_line_it_changes(mutate, tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f(a):\n    if a:\n        a = 2\n    return a\n")
    found = mutate._dedupe(mutate.mutants("m", path), path.read_text())
    body = [m for m in found if m.source == "def f(a):\n    if a:\n        pass\n    return a"]
    described = [(m.function, m.kind, m.line, m.before, m.after) for m in body]
    assert described == [("f", "delete_if_body", 2, "a = 2", "pass")]


def test_the_sample_is_seeded_per_module_and_in_source_order(mutate):
    found = [mutate.Mutant(f"m-{i:08x}", i, i, "f", "number", "", "", "") for i in range(50)]
    first = mutate.sample(found, "rows", 10, seed=1)
    assert first == mutate.sample(found, "rows", 10, seed=1)
    assert len(first) == 10 and [m.line for m in first] == sorted(m.line for m in first)
    assert first != mutate.sample(found, "rows", 10, seed=2)
    assert mutate.sample(found, "rows", 0, seed=1) == found


def test_every_module_of_evalkit_is_mutated_against_test_files_that_exist(mutate):
    modules = mutate.every_module()
    paths = sorted(path for path, _ in modules.values())
    assert paths == sorted(p.relative_to(REPO).as_posix() for p in (REPO / "evalkit").rglob("*.py"))
    assert len(set(modules)) == len(paths)
    for _, tests in modules.values():
        assert all((REPO / test.split("::")[0]).is_file() for test in tests)
