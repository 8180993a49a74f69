"""Mutation testing of every module of evalkit/ (see docs/mutation.md).

    python tools/mutate.py                    # every module, at most 20 mutants of each (seed 0)
    python tools/mutate.py gate report_rows   # some of them
    python tools/mutate.py gate --per-module 0 --show-killed   # every mutant of one module
    python tools/mutate.py --seed 7 --per-module 30

Each mutant changes one AST node of one module: the tool's own kinds (a comparison, an arithmetic or boolean
operator, a number, a condition negated, a call statement removed, ...) and those of issue 27's campaign (a
statement, `raise` or `if` body deleted, an entry of a literal table or a keyword argument dropped, two arguments
swapped, an index or slice bound off by one, `any`/`all`, `min`/`max`, `sorted()` removed or reversed, a default or
a string key changed). One traced run of the test suite (`suite_tests`) records which tests reach each line, in
the tests' subprocesses too; a mutant then runs in a forked child of a process that has already imported the heavy
dependencies, inside a scratch copy of the repository (so `run_eval.py` subprocesses see the mutant too), with only
the tests that reach its lines, quickest first, up to --budget traced seconds of them.
A mutant is killed when a test fails or the run times out. Mutants listed in docs/mutation.md as equivalent (by
their id) are left out of the score and printed with the reason given there. Exit status: 0 when every module
scores at least --min-score, else 1.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "mutation.md"
# The names of the first campaign's modules (their ids and the equivalents listed keep them); every other module is
# named by `_module_name`.
NAMES = {
    "evalkit/metrics.py": "metrics",
    "evalkit/results/card.py": "card",
    "evalkit/results/read.py": "read",
    "evalkit/report/gate.py": "gate",
    "evalkit/run/sampling.py": "sampling",
    "evalkit/run/cache.py": "cache",
    "evalkit/run/registry.py": "registry",
}
# Every module is mutated against the whole test suite but these files: the wheel builds (test_package.py), the
# browser (test_report_browser.py) and this tool's own tests. A mutant runs only the tests that reach its lines,
# quickest first, up to --budget traced seconds of them.
LEFT_OUT = ("tests/test_package.py", "tests/test_report_browser.py", "tests/test_mutate.py")


def suite_tests() -> tuple[str, ...]:
    """The test files every module is mutated against."""
    found = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "tests").glob("test_*.py"))
    return tuple(t for t in found if t not in LEFT_OUT)


def _module_name(relative: str) -> str:
    """A module's name in ids and on the command line: its path under evalkit/ joined by `_` (`report_rows`),
    a package's `__init__` by the package's name, evalkit's own `api`, `__main__` `main`."""
    parts = Path(relative).with_suffix("").parts[1:]
    if parts == ("__init__",):
        return "api"
    return "_".join(part.strip("_") for part in parts if part != "__init__")


def every_module() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every module of evalkit/: its name -> (its file, the tests it is mutated against)."""
    tests, out = suite_tests(), {}
    for path in sorted((REPO / "evalkit").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if "__pycache__" not in relative:
            out[NAMES.get(relative) or _module_name(relative)] = (relative, tests)
    return out


PER_MODULE = 20  # the default sample of mutants per module (docs/mutation.md: the campaign's time)
PREIMPORTS = (
    "numpy",
    "yaml",
    "pytest",
    "hypothesis",
    "huggingface_hub",
    "datasets",
    "torch",
    "sentence_transformers",
    "mteb",
)
COPIED = ("evalkit", "tests", "tasks", "benchmarks", "tools", "run_eval.py", "pyproject.toml", "README.md")
EQUIVALENT = re.compile(r"`(\w+-[0-9a-f]{8})`")

V, S, C = "tests/test_verdicts.py::", "tests/test_sampling.py::", "tests/test_cache_store.py::"
# The survivors issue 16 lists, as (what, file, code, mutated code, the test that must fail): `--listed`.
LISTED: tuple[tuple[str, str, str, str, str], ...] = (
    ("gate: tolerances never looked up per task or type", "evalkit/report/gate.py", "tolerances.for_task(s)",
     "tolerances.default", f"{V}test_type_and_task_tolerances_apply_through_the_gate"),
    ("gate: DEFAULT_TOLERANCE 0.5 -> 5.0", "evalkit/report/gate.py", "DEFAULT_TOLERANCE = 0.5",
     "DEFAULT_TOLERANCE = 5.0", f"{V}test_without_tolerance_a_one_point_drop_fails_and_a_small_one_passes"),
    ("gate: no finiteness check", "evalkit/report/gate.py", "math.isfinite(value) and value >= 0", "value >= 0",
     f"{V}test_a_tolerance_that_is_not_a_finite_number_of_points_exits_2"),
    ("gate: a full candidate against a sampled baseline", "evalkit/report/gate.py",
     "if cand is not None and cand.sampled != base.sampled:",
     "if cand is not None and cand.sampled and cand.sampled != base.sampled:",
     f"{V}test_sampled_and_full_results_are_never_compared_either_way"),
    ("gate: a baseline without main scores", "evalkit/report/gate.py",
     "if self.baseline is None or (self.candidate is None and self.candidate_has_task):",
     "if self.candidate is None and self.candidate_has_task:",
     f"{V}test_a_baseline_without_main_scores_is_refused_not_passed"),
    ("gate: a boundary 0.01 wide (0.505 passes at 0.5)", "evalkit/report/comparison.py", "EPSILON = 1e-9",
     "EPSILON = 0.01", f"{V}test_the_tolerance_boundary_is_exact"),
    ("gate: no float allowance (64.01 -> 63.51 fails)", "evalkit/report/comparison.py", "EPSILON = 1e-9",
     "EPSILON = 0", f"{V}test_the_tolerance_boundary_is_exact"),
    ("gate: per-task tolerances by card name only", "evalkit/report/gate.py",
     "for key in (spec.mteb_task, spec.name):", "for key in (spec.name,):",
     f"{V}test_type_and_task_tolerances_apply_through_the_gate"),
    ("gate: --tolerance 0 refused", "evalkit/report/gate.py", "math.isfinite(value) and value >= 0",
     "math.isfinite(value) and value > 0", f"{V}test_the_tolerance_boundary_is_exact"),
    ("gate: regressions in suite order", "evalkit/report/gate.py",
     'regressed = sorted(result.with_status("regressed"), key=lambda c: c.delta)',
     'regressed = result.with_status("regressed")', f"{V}test_regressions_are_listed_worst_first"),
    ("card: --update says updated but never writes", "evalkit/results/card.py",
     "    write_text_atomic(readme, new)\n    return True", "    return True",
     f"{V}test_card_emit_update_writes_the_readme"),
    ("card: the org/ prefix kept in the model-index name", "evalkit/results/card.py",
     'name or model.name.split("/")[-1]', "name or model.name",
     f"{V}test_the_model_index_is_named_without_the_org_unless_named"),
    ("card: import of a card without suite tasks succeeds", "evalkit/results/card.py", "    if not models:\n",
     "    if models is None:\n", f"{V}test_a_card_without_suite_tasks_exits_2"),
    ("card: org/m written to m/external", "evalkit/results/card.py", 'model.name.replace("/", "__")',
     'model.name.split("/")[-1]', f"{V}test_import_writes_org_model_external_with_mteb_2_keys"),
    ("ingest: the card's config unchecked", "evalkit/results/read.py",
     "if same_dataset and (split, config) == (card.split, card.config):", "if same_dataset and split == card.split:",
     f"{V}test_only_the_suites_config_of_a_multilingual_dataset_is_read"),
    ("ingest: an old CMedQAv1.json wins", "evalkit/results/read.py",
     "if task in suite.by_mteb_name and (task not in files or stem == task):", "if task in suite.by_mteb_name:",
     f"{V}test_a_1x_file_of_a_renamed_task_never_beats_the_current_one"),
    ("ingest: a card's BOM", "evalkit/results/read.py", 'read_text(path, encoding="utf-8-sig")', "read_text(path)",
     f"{V}test_a_renamed_dataset_of_the_same_type_is_still_read_and_a_bom_is_no_matter"),
    ("ingest: a renamed dataset of the same type", "evalkit/results/read.py",
     'dataset.get("name") == card.name or dataset.get("type") == card.type', 'dataset.get("name") == card.name',
     f"{V}test_a_renamed_dataset_of_the_same_type_is_still_read_and_a_bom_is_no_matter"),
    ("metrics: `if value:` drops 0.0", "evalkit/metrics.py", "        if value is not None:\n",
     "        if value:\n", f"{V}test_a_score_of_zero_is_a_score"),
    ("metrics: legacy keys first (cos_sim_* into 2.x JSON)", "evalkit/metrics.py",
     'dict.fromkeys((new + n, f"{card_prefix}_{n}"))', 'dict.fromkeys((f"{card_prefix}_{n}", new + n))',
     f"{V}test_import_writes_org_model_external_with_mteb_2_keys"),
    ("metrics: max_* only over two functions or more", "evalkit/metrics.py", "            if values:\n",
     "            if len(values) > 1:\n", f"{V}test_pair_maxima_over_a_single_similarity_function"),
    ("sampling: DISTRACTORS_PER_QUERY 0", "evalkit/run/sampling.py", "DISTRACTORS_PER_QUERY = 10",
     "DISTRACTORS_PER_QUERY = 0", f"{S}test_retrieval_adds_ten_unjudged_documents_per_sampled_query"),
    ("sampling: queries whose qrels are all 0", "evalkit/run/sampling.py",
     "if any(score > 0 for score in qrels.get(q, {}).values())", "if q in qrels",
     f"{S}test_queries_without_a_relevant_document_are_never_sampled"),
    ("sampling: a cluster label of one sentence", "evalkit/run/sampling.py", "rng, per_label=2)", "rng, per_label=1)",
     f"{S}test_every_clustering_label_kept_has_at_least_two_sentences"),
    ("sampling: duplicate and never-drawn rows", "evalkit/run/sampling.py", "rng.sample(range(len(rows)), n)",
     "rng.choices(range(len(rows)), k=n)", f"{S}test_sampled_rows_are_distinct_rows_of_the_data"),
    ("cache: the prompt left out of the key", "evalkit/run/cache.py",
     "head.update(f\"\\0{prompt_type.value if prompt_type else ''}\\0{prompt}\\0\".encode())",
     "head.update(f\"\\0{prompt_type.value if prompt_type else ''}\\0\\0\".encode())",
     f"{C}test_an_embedding_made_under_one_prompt_is_never_served_under_another"),
    ("cache: the prompt type left out of the key", "evalkit/run/cache.py",
     "head.update(f\"\\0{prompt_type.value if prompt_type else ''}\\0{prompt}\\0\".encode())",
     'head.update(f"\\0\\0{prompt}\\0".encode())',
     f"{C}test_an_embedding_made_under_one_prompt_is_never_served_under_another"),
    ("cache: --batch-size ignored by the cached encoder", "evalkit/run/cache.py",
     'batch_size = kwargs.get("batch_size", 32)', "batch_size = 32",
     f"{C}test_the_batch_size_and_the_device_pool_reach_the_model"),
    ("cache: the halved batch never reaches the model", "evalkit/run/jobs.py",
     'encode_kwargs={"batch_size": options.batch_size,', 'encode_kwargs={"batch_size": 32,',
     f"{C}test_a_cached_run_encodes_with_the_batch_size_and_halves_it_on_out_of_memory"),
    ("cache: the device pool never reaches encode", "evalkit/run/cache.py", "**{**kwargs, **self.encode_kwargs()},",
     "**kwargs,", f"{C}test_the_batch_size_and_the_device_pool_reach_the_model"),
    ("cache: eviction deletes all but the newest shard", "evalkit/run/cache.py",
     "                if total <= self.max_bytes:\n                    break\n", "",
     f"{C}test_eviction_keeps_exactly_the_newest_shards_that_fit"),
    ("cache: a corrupt .npy under valid keys raises", "evalkit/run/cache.py",
     "            except BadShard as exc:\n                self._forget(shard)\n",
     "            except BadShard as exc:\n                raise\n",
     f"{C}test_a_damaged_shard_is_encoded_again_not_a_crash"),
    ("cache: keys of texts cut to 64 characters", "evalkit/run/cache.py",
     'digest.update(text.encode("utf-8", "surrogatepass"))',
     'digest.update(text[:64].encode("utf-8", "surrogatepass"))',
     f"{C}test_long_texts_sharing_a_prefix_keep_their_own_embeddings"),
)  # fmt: skip

P, R = "tests/test_pinned.py::", "tests/test_registry.py::"
# The survivors issue 27 lists (another campaign's operators), each with the test written for it: `--listed 27`.
LISTED_27: tuple[tuple[str, str, str, str, str], ...] = (
    ("gate: check --json task entries lose the candidate's score", "evalkit/report/gate.py",
     '"baseline": self.baseline, "candidate": self.candidate, "delta"', '"baseline": self.baseline, "delta"',
     f"{P}test_check_json_gives_each_task_both_scores_and_the_delta"),
    ("card: main_score(...)[1] -> [0]", "evalkit/results/card.py", "suite.main_metrics)[1] is None",
     "suite.main_metrics)[0] is None", f"{V}test_card_emit_refuses_a_task_without_its_main_metric"),
    ("card: model-index entries in suite order", "evalkit/results/card.py",
     "for spec in sorted(suite.tasks, key=lambda s: (s.name, s.card.config)):", "for spec in suite.tasks:",
     f"{V}test_the_model_index_lists_tasks_in_name_order_not_suite_order"),
    ("registry: the offline check ignores the pinned revision", "evalkit/run/registry.py",
     "snapshot_download(name, revision=revision, local_files_only=True)",
     "snapshot_download(name, local_files_only=True)",
     f"{R}test_offline_a_registry_model_cached_only_at_another_revision_is_refused"),
    ("registry: a load failure's last line", "evalkit/run/registry.py",
     "through mteb's registry: {str(exc).splitlines()[0]}", "through mteb's registry: {str(exc).splitlines()[-1]}",
     f"{R}test_a_registry_load_failure_shows_the_first_line_of_the_error"),
    ("registry: an instruct model's prompts under a wrong key", "evalkit/run/registry.py",
     '"prompts_dict": dict(model.prompts_dict or {})', '"prompts": dict(model.prompts_dict or {})',
     f"{R}test_registry_models_load_in_the_registrys_or_the_given_dtype_with_their_prompts"),
    ("comparison: any -> all, no per-type leaderboard columns", "evalkit/report/comparison.py",
     "if any(s.type == t for s in suite.tasks)", "if all(s.type == t for s in suite.tasks)",
     f"{P}test_the_leaderboard_has_a_column_per_task_type_of_the_suite"),
    ("rows: every ±h prints ±0.00", "evalkit/report/rows.py", "(ci[i][1] - ci[i][0]) / 2", "(ci[i][1] - ci[i][1]) / 2",
     f"{P}test_markdown_tables_have_their_columns_in_order_and_the_half_widths_of_the_intervals"),
    ("rows: the task table's header gains a Δ column", "evalkit/report/rows.py",
     '"metric", *(m.label for m in comp.models), *(f"Δ {m.label}" for m in comp.models[1:])]',
     '"metric", *(m.label for m in comp.models), *(f"Δ {m.label}" for m in comp.models[0:])]',
     f"{P}test_markdown_tables_have_their_columns_in_order_and_the_half_widths_of_the_intervals"),
    ("render: csv dropped from the renderers", "evalkit/report/render.py", '"csv": render_csv, ', "",
     f"{P}test_every_report_format_renders_through_render"),
    ("bootstrap: precision dropped from the retrieval measures", "evalkit/report/bootstrap.py",
     '"recall": ("recall", "Recall"),\n                      "precision": ("P", "P")}',
     '"recall": ("recall", "Recall")}',
     "tests/test_bootstrap.py::test_every_retrieval_metric_a_suite_may_choose_gets_its_sample"),
    ("html: every bar of the averages chart hatched", "evalkit/report/html.py",
     "if agg.score is not None and not agg.complete:", "if agg.score is not None or not agg.complete:",
     f"{P}test_html_hatches_exactly_the_bars_of_incomplete_averages"),
    ("API: check(resamples=0) by default", "evalkit/__init__.py",
     "significance: float | None = None,\n    resamples: int = 1000,",
     "significance: float | None = None,\n    resamples: int = 0,",
     f"{P}test_the_public_functions_keep_their_documented_defaults"),
    ("cli: sys.argv[-1] for the program name", "evalkit/cli/__init__.py", "Path(sys.argv[0]).name",
     "Path(sys.argv[-1]).name", f"{P}test_usage_names_the_program_typed_whatever_the_arguments"),
    ("cli: card emit --update also prints the model-index", "evalkit/cli/card.py",
     "if not args.output and not args.update:", "if not args.output:", f"{V}test_card_emit_update_writes_the_readme"),
    ("files: older_than=0 deletes a live run's temporary files", "evalkit/results/files.py",
     "older_than: float = 600.0", "older_than: float = 0",
     f"{P}test_a_live_runs_temporary_files_are_kept_and_a_killed_ones_removed"),
    ("encode: --batch-size auto doubles past 4096", "evalkit/run/encode.py",
     "if probe is None or model.options.batch_size * 2 > MAX_BATCH:", "if probe is None:",
     f"{P}test_batch_size_auto_doubles_up_to_4096_and_no_further"),
    ("lazy: another --batch-size counts as other options", "evalkit/run/lazy.py",
     'if k not in ("device", "batch_size")', 'if k not in ("device",)',
     f"{P}test_a_rerun_with_another_batch_size_is_the_same_model_but_another_max_length_is_not"),
    ("cli: progress bars never shown on a terminal", "evalkit/cli/run.py", "show_progress=sys.stderr.isatty(),",
     "show_progress=False,", f"{P}test_run_shows_progress_bars_on_a_terminal_and_never_in_a_log"),
    ("cli: --help loses every description", "evalkit/cli/options.py",
     '        "description": textwrap.fill(text, min(100, shutil.get_terminal_size().columns - 2)),\n', "",
     f"{P}test_help_describes_every_command_and_every_option"),
)  # fmt: skip

COMPARE_SWAP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div}
BOOLOP_SWAP = {ast.And: ast.Or, ast.Or: ast.And}
BUILTIN_SWAP = {"any": "all", "all": "any", "min": "max", "max": "min"}


@dataclass
class Mutant:
    id: str
    line: int
    end_line: int
    function: str
    kind: str  # the operator's name
    before: str
    after: str
    source: str


def _with(node: ast.AST, **fields) -> ast.AST:
    """A shallow copy of `node` with some fields replaced."""
    new = copy.copy(node)
    for name, value in fields.items():
        setattr(new, name, value)
    return new


def _compare(node: ast.AST) -> list[ast.AST]:
    """`<` to `<=`, `==` to `!=`, `in` to `not in`, `is` to `is not` (and back), one operator at a time."""
    out = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in COMPARE_SWAP:
                new = copy.copy(node)
                new.ops = [*node.ops[:i], COMPARE_SWAP[type(op)](), *node.ops[i + 1 :]]
                out.append(new)
    return out


def _arithmetic(node: ast.AST) -> list[ast.AST]:
    """`+` to `-`, `*` to `/`, `//` to `/` (also in `+=`)."""
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BINOP_SWAP:
        new = copy.copy(node)
        new.op = BINOP_SWAP[type(node.op)]()
        return [new]
    return []


def _boolean(node: ast.AST) -> list[ast.AST]:
    """`and` to `or` and back."""
    if isinstance(node, ast.BoolOp):
        new = copy.copy(node)
        new.op = BOOLOP_SWAP[type(node.op)]()
        return [new]
    return []


def _unary(node: ast.AST) -> list[ast.AST]:
    """A `not` or a unary minus removed."""
    return [node.operand] if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)) else []


def _number(node: ast.AST) -> list[ast.AST]:
    """A number plus one, `True` to `False` and back."""
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return [ast.Constant(not node.value)]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return [ast.Constant(node.value + 1)]
    return []


def _condition(node: ast.AST) -> list[ast.AST]:
    """The condition of an `if`, `while` or conditional expression negated."""
    if isinstance(node, (ast.If, ast.While, ast.IfExp)) and not _negated_elsewhere(node.test):
        new = copy.copy(node)
        new.test = ast.UnaryOp(ast.Not(), node.test)
        return [new]
    return []


def _call_statement(node: ast.AST) -> list[ast.AST]:
    """A call statement removed."""
    return [ast.Pass()] if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) else []


def _return_none(node: ast.AST) -> list[ast.AST]:
    """`return x` to `return None`."""
    return [ast.Return(ast.Constant(None))] if isinstance(node, ast.Return) and node.value is not None else []


def _jump(node: ast.AST) -> list[ast.AST]:
    """`break` to `continue` and back."""
    if isinstance(node, ast.Break):
        return [ast.Continue()]
    return [ast.Break()] if isinstance(node, ast.Continue) else []


def _delete_statement(node: ast.AST) -> list[ast.AST]:
    """An assignment, `raise`, `assert`, `del` or loop removed (calls: `_call_statement`; returns: `_return_none`)."""
    deletable = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Raise, ast.Assert, ast.Delete, ast.For, ast.With)
    if isinstance(node, ast.AnnAssign) and node.value is None:
        return []
    return [ast.Pass()] if isinstance(node, deletable) else []


def _delete_if_body(node: ast.AST) -> list[ast.AST]:
    """The body of an `if` removed (its `else` kept)."""
    if not isinstance(node, ast.If) or ast.unparse(node.test) == "TYPE_CHECKING" or node.body == [ast.Pass()]:
        return []
    new = copy.copy(node)
    new.body = [ast.Pass()]
    return [new]


def _literal(node: ast.AST) -> bool:
    """Whether a node is a constant or a tuple of constants (an entry of a literal table)."""
    if isinstance(node, ast.Tuple):
        return all(_literal(e) for e in node.elts)
    return isinstance(node, ast.Constant) or (isinstance(node, ast.UnaryOp) and _literal(node.operand))


def _drop_entry(node: ast.AST) -> list[ast.AST]:
    """One entry of a literal table dropped: a dict entry under a constant key, an element of a list, tuple or set
    of literals (two entries or more)."""
    out: list[ast.AST] = []
    if isinstance(node, ast.Dict) and len(node.keys) > 1 and all(isinstance(k, ast.Constant) for k in node.keys):
        for i in range(len(node.keys)):
            out.append(ast.Dict(node.keys[:i] + node.keys[i + 1 :], node.values[:i] + node.values[i + 1 :]))
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)) and isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
        if len(node.elts) > 1 and all(_literal(e) for e in node.elts):
            out += [_with(node, elts=node.elts[:i] + node.elts[i + 1 :]) for i in range(len(node.elts))]
    return out


def _drop_keyword(node: ast.AST) -> list[ast.AST]:
    """One keyword argument of a call dropped."""
    if not isinstance(node, ast.Call):
        return []
    keywords = node.keywords
    return [_with(node, keywords=keywords[:i] + keywords[i + 1 :]) for i, k in enumerate(keywords) if k.arg is not None]


def _swap_arguments(node: ast.AST) -> list[ast.AST]:
    """Two neighbouring positional arguments of a call swapped."""
    out = []
    if isinstance(node, ast.Call) and not any(isinstance(a, ast.Starred) for a in node.args):
        for i in range(len(node.args) - 1):
            if ast.dump(node.args[i]) != ast.dump(node.args[i + 1]):
                new = copy.copy(node)
                new.args = [*node.args[:i], node.args[i + 1], node.args[i], *node.args[i + 2 :]]
                out.append(new)
    return out


def _shifted(bound: ast.expr, by: int) -> ast.expr:
    """`bound` plus `by` (folded when it is a whole number)."""
    value = bound.value if isinstance(bound, ast.Constant) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return ast.Constant(value + by)
    return ast.BinOp(bound, ast.Add() if by > 0 else ast.Sub(), ast.Constant(abs(by)))


def _off_by_one(node: ast.AST) -> list[ast.AST]:
    """A constant index, or a bound of a slice, one lower and one higher."""
    out: list[ast.AST] = []
    if not isinstance(node, ast.Subscript):
        return out
    index = node.slice
    negative = isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub)
    number = index.operand if negative else index
    if isinstance(number, ast.Constant) and type(number.value) is int:
        for by in (-1, 1):
            new = copy.copy(node)
            new.slice = ast.Constant((-number.value if negative else number.value) + by)
            out.append(new)
    elif isinstance(index, ast.Slice):
        for field in ("lower", "upper"):
            bound = getattr(index, field)
            if bound is not None:
                for by in (-1, 1):
                    new, cut = copy.copy(node), copy.copy(index)
                    setattr(cut, field, _shifted(bound, by))
                    new.slice = cut
                    out.append(new)
    return out


def _builtin(node: ast.AST) -> list[ast.AST]:
    """`any` to `all`, `min` to `max` and back."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BUILTIN_SWAP:
        new = copy.copy(node)
        new.func = ast.Name(BUILTIN_SWAP[node.func.id], ast.Load())
        return [new]
    return []


def _remove_sorted(node: ast.AST) -> list[ast.AST]:
    """`sorted(x, ...)` to `x`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sorted" and node.args:
        return [node.args[0]]
    return []


def _reverse_sort(node: ast.AST) -> list[ast.AST]:
    """`sorted(...)` or `.sort(...)` in the other order (`reverse=` added, or negated)."""
    func = getattr(node, "func", None)
    if not isinstance(node, ast.Call) or not (
        (isinstance(func, ast.Name) and func.id == "sorted")
        or (isinstance(func, ast.Attribute) and func.attr == "sort")
    ):
        return []
    new = copy.copy(node)
    others = [k for k in node.keywords if k.arg != "reverse"]
    given = [k.value for k in node.keywords if k.arg == "reverse"]
    flag = ast.UnaryOp(ast.Not(), given[0]) if given else ast.Constant(True)
    new.keywords = [*others, ast.keyword("reverse", flag)]
    return [new]


def _other_value(value: ast.expr) -> ast.expr:
    """Another default: `not` a bool, 0 for a number (1 for 0), "" for a string ("x" for ""), else None."""
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        return ast.Constant(not value.value)
    if isinstance(value, ast.Constant) and isinstance(value.value, (int, float)):
        return ast.Constant(0 if value.value else 1)
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return ast.Constant("" if value.value else "x")
    return ast.Constant(None)


def _change_default(node: ast.AST) -> list[ast.AST]:
    """The default of one parameter of a function changed (see `_other_value`); a default of None is left alone."""
    out: list[ast.AST] = []
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return out
    for field in ("defaults", "kw_defaults"):
        values = getattr(node.args, field)
        for i, value in enumerate(values):
            if value is None or (isinstance(value, ast.Constant) and value.value is None):
                continue
            new, args = copy.copy(node), copy.copy(node.args)
            setattr(args, field, [*values[:i], _other_value(value), *values[i + 1 :]])
            new.args = args
            out.append(new)
    return out


def _change_string_key(node: ast.AST) -> list[ast.AST]:
    """A string key changed (suffixed with `_`): in `x["key"]`, in `.get("key")`/`.pop`/`.setdefault`, or a key of a
    dict display."""
    key = lambda k: isinstance(k, ast.Constant) and isinstance(k.value, str)  # noqa: E731
    out: list[ast.AST] = []
    if isinstance(node, ast.Subscript) and key(node.slice):
        new = copy.copy(node)
        new.slice = ast.Constant(node.slice.value + "_")
        out.append(new)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args and key(node.args[0]):
        if node.func.attr in ("get", "pop", "setdefault"):
            new = copy.copy(node)
            new.args = [ast.Constant(node.args[0].value + "_"), *node.args[1:]]
            out.append(new)
    elif isinstance(node, ast.Dict):
        for i, k in enumerate(node.keys):
            if key(k):
                keys = [*node.keys[:i], ast.Constant(k.value + "_"), *node.keys[i + 1 :]]
                out.append(ast.Dict(keys, node.values))
    return out


# Each mutation operator: one AST node in, its mutated copies out (shallow: children shared with the original tree).
# The tool's own first, then the kinds of issue 27's campaign: mutants are made in that order, so that the ids of
# the first (listed as equivalent in docs/mutation.md) stay as they were where a later kind makes the same program.
Operator = Callable[[ast.AST], list[ast.AST]]
OWN_OPERATORS: tuple[Operator, ...] = (
    _compare,
    _arithmetic,
    _boolean,
    _unary,
    _number,
    _condition,
    _call_statement,
    _return_none,
    _jump,
)
CAMPAIGN_OPERATORS: tuple[Operator, ...] = (
    _delete_statement,
    _delete_if_body,
    _drop_entry,
    _drop_keyword,
    _swap_arguments,
    _off_by_one,
    _builtin,
    _remove_sorted,
    _reverse_sort,
    _change_default,
    _change_string_key,
)


def _negated_elsewhere(test: ast.expr) -> bool:
    """Whether negating `test` gives a mutant that removing its `not` or swapping its operator gives already."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return True
    exact = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)
    return isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], exact)


def _replace(tree: ast.AST, target: ast.AST, replacement: ast.AST) -> None:
    """Put `replacement` where `target` is in `tree`."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, ast.copy_location(replacement, target))
                return
            if isinstance(value, list) and any(v is target for v in value):
                value[[v is target for v in value].index(True)] = ast.copy_location(replacement, target)
                return
    raise ValueError("node not in tree")


def _skipped(tree: ast.Module) -> set[int]:
    """Nodes never mutated: docstrings, type annotations, logging calls and `__future__` imports."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            skip.add(id(body[0]))
        for annotation in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if annotation is not None:
                skip.update(id(n) for n in ast.walk(annotation))
        if isinstance(node, ast.Expr) and "logger." in ast.unparse(node):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _owners(tree: ast.Module) -> dict[int, str]:
    """The innermost function or class name of every node."""
    owners: dict[int, str] = {}

    def visit(node: ast.AST, owner: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            owner = node.name
        owners[id(node)] = owner
        for child in ast.iter_child_nodes(node):
            visit(child, owner)

    visit(tree, "<module>")
    return owners


def mutants(module: str, path: Path) -> list[Mutant]:
    """Every mutant of one source file, each with a stable id (module, function, before, after, occurrence)."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    skip, owners = _skipped(tree), _owners(tree)
    out, seen = [], {}
    nodes = [(i, node) for i, node in enumerate(ast.walk(tree)) if id(node) not in skip and hasattr(node, "lineno")]
    for operators, (index, node) in itertools.product((OWN_OPERATORS, CAMPAIGN_OPERATORS), nodes):
        variants = [(operator, number, v) for operator in operators for number, v in enumerate(operator(node))]
        for operator, number, variant in variants:
            fresh = ast.parse(text)
            target = list(ast.walk(fresh))[index]
            _replace(fresh, target, operator(target)[number])
            before, after = _first_difference(ast.unparse(node), ast.unparse(variant))
            key = f"{module}|{owners[id(node)]}|{before}|{after}"
            seen[key] = seen.get(key, 0) + 1
            digest = hashlib.sha1(f"{key}|{seen[key]}".encode()).hexdigest()[:8]
            out.append(
                Mutant(
                    f"{module}-{digest}",
                    node.lineno,
                    node.end_lineno or node.lineno,
                    owners[id(node)],
                    operator.__name__.strip("_"),
                    before,
                    after,
                    ast.unparse(ast.fix_missing_locations(fresh)),
                )
            )
    return out


def _first_difference(before: str, after: str) -> tuple[str, str]:
    """The first line where two pieces of code differ (the first lines if none does), each stripped."""
    pairs = list(zip(before.split("\n"), after.split("\n"))) or [("", "")]
    differing = [(b, a) for b, a in pairs if b != a]
    b, a = differing[0] if differing else pairs[0]
    return b.strip(), a.strip()


def _dedupe(found: list[Mutant], original: str) -> list[Mutant]:
    """One mutant per distinct mutated source (`if not x` negated and `not` removed are the same program)."""
    seen, out = {ast.unparse(ast.parse(original))}, []
    for mutant in found:
        if mutant.source not in seen:
            seen.add(mutant.source)
            out.append(mutant)
    return out


# The tracer of the tests' subprocesses (`run_eval.py` runs, worker processes), installed as their
# `sitecustomize` during the traced run only: it records the lines of the traced files that a process runs and
# writes them at its exit, under the test that is current then (a file the plugin rewrites at each test).
_SUBPROCESS_TRACER = """
import os
import sys
import threading


def _start(folder, files):
    import multiprocessing.util as util

    hit = {}

    def line(frame, event, arg):
        if event == "line":
            hit.setdefault(frame.f_code.co_filename, set()).add(frame.f_lineno)
        return line

    def call(frame, event, arg):
        return line if frame.f_code.co_filename in files else None

    def dump():
        with open(os.path.join(folder, "current")) as f:
            test = f.read()
        with open(os.path.join(folder, f"{os.getpid()}.tsv"), "a") as f:
            f.writelines(f"{file}\\t{test}\\t{' '.join(map(str, lines))}\\n" for file, lines in hit.items())
        hit.clear()

    class Holder:  # multiprocessing clears a child's exit handlers: registered again after each fork
        def again(self):
            util.Finalize(None, dump, exitpriority=-100)

    global _holder
    _holder = Holder()
    _holder.again()
    util.register_after_fork(_holder, Holder.again)
    sys.settrace(call)
    threading.settrace(call)


if os.environ.get("EVALKIT_MUTATE_TRACE"):
    _start(os.environ["EVALKIT_MUTATE_TRACE"], set(os.environ["EVALKIT_MUTATE_FILES"].split(os.pathsep)))
"""


class _Trace:
    """A pytest plugin recording, per test, the lines of some files that ran ("<import>" outside any test) and its
    seconds (its fixtures' setup included); in the tests' subprocesses too, through `_SUBPROCESS_TRACER` (lines a
    subprocess ran before the first test count as "<import>")."""

    def __init__(self, filenames: set[str], folder: Path) -> None:
        self.filenames, self.current, self.lines, self.seconds = filenames, "<import>", {}, {}
        self.started = 0.0
        self.folder = folder

    def _call(self, frame, event, arg):
        return self._line if frame.f_code.co_filename in self.filenames else None

    def _line(self, frame, event, arg):
        if event == "line":
            key = (frame.f_code.co_filename, self.current)
            self.lines.setdefault(key, set()).add(frame.f_lineno)
        return self._line

    def _set_current(self, test: str) -> None:
        self.current = test
        (self.folder / "current").write_text(test)

    def start(self) -> None:
        """Trace this process, and every Python subprocess started from here on."""
        import threading

        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.tsv"):  # another traced run's
            old.unlink()
        (self.folder / "sitecustomize.py").write_text(_SUBPROCESS_TRACER)
        self._set_current("<import>")
        os.environ.update(
            EVALKIT_MUTATE_TRACE=str(self.folder),
            EVALKIT_MUTATE_FILES=os.pathsep.join(sorted(self.filenames)),
            PYTHONPATH=os.pathsep.join([str(self.folder), os.environ.get("PYTHONPATH", "")]),
        )
        sys.settrace(self._call)
        threading.settrace(self._call)

    def rows(self) -> list[tuple[str, str, set[int]]]:
        """(file, test, lines) of this process and of every subprocess that wrote its lines."""
        found = [(file, test, hit) for (file, test), hit in self.lines.items()]
        for dump in self.folder.glob("*.tsv"):
            for row in dump.read_text().splitlines():
                file, test, numbers = row.split("\t")
                found.append((file, test, {int(n) for n in numbers.split()}))
        return found

    def pytest_runtest_protocol(self, item, nextitem):
        self.started = time.perf_counter()
        self._set_current(item.nodeid)
        # again for each test: CPython drops a trace function that raised, as in a test that reaches the recursion
        # limit (`test_10_deep_nesting_is_one_line`), and every later test would go untraced
        sys.settrace(self._call)

    def pytest_runtest_logfinish(self, nodeid, location):
        self.seconds[nodeid] = time.perf_counter() - self.started
        self._set_current("<import>")


class _Select:
    """A pytest plugin keeping only the tests named (node ids), in the order given."""

    def __init__(self, nodeids: list[str]) -> None:
        self.order = {nodeid: i for i, nodeid in enumerate(nodeids)}

    @pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture
    def pytest_collection_modifyitems(self, config, items):
        items[:] = sorted((item for item in items if item.nodeid in self.order), key=lambda i: self.order[i.nodeid])


def _spawn_pytest(root: Path, tests: tuple[str, ...], plugin) -> int:
    """Start pytest on `tests` in a forked child inside `root`; its pid (its own process group)."""
    pid = os.fork()
    if pid == 0:  # the child: its own process group, so that a timeout also ends its subprocesses
        try:
            os.setpgid(0, 0)
            os.chdir(root)
            sys.path.insert(0, str(root))
            os.environ.update(PYTHONPATH=str(root), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            if isinstance(plugin, _Trace):
                plugin.start()
            # without the plugins that gc.collect() a large heap at exit or load entry points at start
            options = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:unraisableexception"]
            code = pytest.main([*options, *tests], plugins=[plugin] if plugin else [])
            if isinstance(plugin, _Trace):
                sys.settrace(None)
                lines = (
                    f"{file}\t{test}\t{plugin.seconds.get(test, 0):.3f}\t{' '.join(map(str, sorted(hit)))}"
                    for file, test, hit in plugin.rows()
                )
                (root / "trace.txt").write_text("\n".join(lines))
            os._exit(int(code))
        except BaseException:
            os._exit(3)
    return pid


def _poll(pid: int, deadline: float) -> tuple[bool, int | None]:
    """(finished, exit status or None on timeout) of a child started by `_spawn_pytest`, killed past `deadline`."""
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        return True, os.waitstatus_to_exitcode(status)
    if time.perf_counter() > deadline:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return True, None
    return False, None


def _fork_pytest(root: Path, tests: tuple[str, ...], plugin, timeout: float) -> tuple[int | None, float]:
    """Run pytest on `tests` in a forked child inside `root`; (exit status or None on timeout, seconds)."""
    start = time.perf_counter()
    pid = _spawn_pytest(root, tests, plugin)
    while True:
        finished, code = _poll(pid, start + timeout)
        if finished:
            return code, time.perf_counter() - start
        time.sleep(0.05)


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the forked test runs): the wall time on a quiet
    machine, near enough, whatever else shares the CPUs."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _within(test: str, entry: str) -> bool:
    """Whether a test's node id is `entry` of MODULES (a test file or a test's node id) or one of its tests."""
    return test == entry or test.startswith((f"{entry}::", f"{entry}["))


def _within_budget(tests: list[str], cost: dict[str, float], budget: float) -> list[str]:
    """The first of `tests` whose traced seconds add up to at most `budget` (the first one always)."""
    total = 0.0
    for count, test in enumerate(tests):
        total += cost[test]
        if count and total > budget:
            return tests[:count]
    return tests


def _order(tests: set[str], cost: dict[str, float]) -> list[str]:
    """The tests quickest first, so that a mutant is caught early, each file's tests kept together (a module's
    fixtures are set up once): files by their quickest test, then tests by their traced seconds."""
    files: dict[str, float] = {}
    for test in tests:
        file = test.split("::")[0]
        files[file] = min(files.get(file, cost[test]), cost[test])
    return sorted(tests, key=lambda t: (files[t.split("::")[0]], t.split("::")[0], cost[t]))


def _scratch() -> Path:
    """A copy of the repository's code, tests and suites beside a link to ../shared (bytecode of tests is kept)."""
    base = Path(tempfile.mkdtemp(prefix="evalkit-mutate-"))
    root = base / "repo"
    root.mkdir()
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    if (REPO.parent / "shared").exists():
        (base / "shared").symlink_to((REPO.parent / "shared").resolve())
    return root


def _write_source(path: Path, source: str) -> None:
    """Write a module and drop its cached bytecode (a pyc checks mtime in whole seconds: it could look current)."""
    path.write_text(source, encoding="utf-8")
    for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        cached.unlink()


def equivalent_ids() -> dict[str, str]:
    """The mutants docs/mutation.md lists as equivalent (in its "Equivalent mutants" section only), each with its
    entry there (the reason), on one line."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    section = text.partition("\n## Equivalent mutants\n")[2].partition("\n## ")[0]
    out = {}
    for entry in re.split(r"\n(?=- )", section):
        reason = " ".join(entry.removeprefix("- ").split())
        out.update(dict.fromkeys(EQUIVALENT.findall(entry), reason))
    return out


@dataclass
class Coverage:
    """What one traced run of some tests found: per file, the lines each test ran; each test's seconds."""

    lines: dict[str, dict[str, set[int]]]
    cost: dict[str, float]
    seconds: float


def _saved_trace(root: Path, tests: tuple[str, ...], relatives: list[str]) -> Path:
    """Where the trace of these tests over these files is kept, named by them and by every byte of the copy."""
    digest = hashlib.sha256("\n".join([*tests, "", *relatives]).encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        if path.name != "trace.txt":
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return Path(tempfile.gettempdir()) / f"evalkit-mutate-trace-{digest.hexdigest()[:16]}.json"


def trace(root: Path, tests: tuple[str, ...], relatives: list[str]) -> Coverage:
    """Run `tests` once without a mutant, recording which lines of the files `relatives` each test runs; kept, and
    read back while neither the tests nor the code changed."""
    saved = _saved_trace(root, tests, relatives)
    if saved.is_file():
        found = json.loads(saved.read_text())
        lines = {f: {t: set(hit) for t, hit in by_test.items()} for f, by_test in found["lines"].items()}
        print(f"the tests and the code are those traced in {saved}", flush=True)
        return Coverage(lines, found["cost"], found["seconds"])
    files = {str(root / relative): relative for relative in relatives}
    code, seconds = _fork_pytest(root, tests, _Trace(set(files), root.parent / "subtrace"), 1800)
    if code != 0:
        raise SystemExit(f"{' '.join(tests)}: the tests fail without a mutant (pytest exit status {code})")
    lines: dict[str, dict[str, set[int]]] = {relative: {} for relative in relatives}
    cost: dict[str, float] = {}
    for row in (root / "trace.txt").read_text().splitlines():
        file, test, took, numbers = row.split("\t")
        if file not in files:  # a subprocess's copy of the file elsewhere
            continue
        lines[files[file]].setdefault(test, set()).update(int(n) for n in numbers.split())
        if test != "<import>":
            cost[test] = float(took)
    found = {"lines": {f: {t: sorted(hit) for t, hit in by.items()} for f, by in lines.items()}, "cost": cost}
    saved.write_text(json.dumps({**found, "seconds": seconds}))
    print(f"traced {len(tests)} test files: {seconds:.0f} s (kept in {saved})", flush=True)
    return Coverage(lines, cost, seconds)


def sample(found: list[Mutant], module: str, per_module: int, seed: int) -> list[Mutant]:
    """At most `per_module` of a module's mutants (0: all), drawn by a generator seeded with the seed and the
    module's name, in source order."""
    if not per_module or len(found) <= per_module:
        return found
    chosen = set(random.Random(f"{seed}:{module}").sample(range(len(found)), per_module))
    return [m for i, m in enumerate(found) if i in chosen]


def run_module(
    module: str, roots: list[Path], coverage: Coverage | None, equivalent: dict[str, str], options: argparse.Namespace
) -> dict[str, float]:
    """Mutate one module, a mutant in each scratch copy of `roots` at a time, printing each survivor, equivalent
    (with why) and the tally; returns the tally."""
    relative, tests = every_module()[module]
    original = (roots[0] / relative).read_text(encoding="utf-8")
    every = _dedupe(mutants(module, roots[0] / relative), original)
    only = set(options.mutant)
    found = [m for m in every if m.id in only] if only else sample(every, module, options.per_module, options.seed)
    covered = dict(coverage.lines[relative]) if coverage else {}
    cost = coverage.cost if coverage else {}
    at_import = covered.pop("<import>", set())
    counts = {"killed": 0, "timeout": 0, "survived": 0, "equivalent": 0}
    start, cpu = time.perf_counter(), _cpu_seconds()
    print(f"{module}: {len(found)} of {len(every)} mutants of {relative}", flush=True)

    def judge(mutant: Mutant, code: int | None, reached: bool) -> None:
        verdict = "timeout" if code is None else "survived" if code in (0, 5) else "killed"
        if verdict == "survived" and mutant.id in equivalent:
            verdict = "equivalent"
        counts[verdict] += 1
        if verdict in ("survived", "equivalent") or options.show_killed:
            unreached = "" if reached else "  (no test reaches it)"
            why = f"\n      equivalent: {equivalent[mutant.id]}" if verdict == "equivalent" else ""
            print(
                f"  {verdict:10} {mutant.id}  line {mutant.line} in {mutant.function}, {mutant.kind}: "
                f"{mutant.before}  ->  {mutant.after}{unreached}{why}",
                flush=True,
            )

    free, running = list(roots), {}  # pid -> (mutant, its scratch copy, deadline)

    def reap(block: bool) -> None:
        """Judge the runs that finished; with `block`, wait until one has."""
        while True:
            for pid, (mutant, root, deadline) in list(running.items()):
                finished, code = _poll(pid, deadline)
                if finished:
                    del running[pid]
                    _write_source(root / relative, original)
                    free.append(root)
                    judge(mutant, code, True)
            if not block or len(running) < len(roots):
                return
            time.sleep(0.05)

    try:
        for mutant in found:
            lines = set(range(mutant.line, mutant.end_line + 1))
            if not any(lines & hit for hit in covered.values()):
                # CPython traces no line of a `continue` or `break` that an `if` jumps through: its `if` line counts
                lines.add(mutant.line - 1)
            selected = _within_budget(
                _order(set(covered) if lines & at_import else {t for t, hit in covered.items() if lines & hit}, cost),
                cost,
                options.budget,
            )
            if options.against:  # the tests named, whatever they reach
                run, plugin, timeout = tuple(options.against), None, 1800.0
            elif selected:
                run = tuple(f for f in tests if any(_within(test, f) for test in selected))
                plugin, timeout = _Select(selected), (2 * sum(cost[t] for t in selected) + 30) * len(roots)
            else:
                judge(mutant, 0, False)
                continue
            reap(block=True)
            root = free.pop()
            _write_source(root / relative, mutant.source)
            running[_spawn_pytest(root, run, plugin)] = (mutant, root, time.perf_counter() + timeout)
        while running:
            reap(block=False)
            time.sleep(0.05)
    finally:
        for pid in running:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        for root in roots:
            _write_source(root / relative, original)
    scored = len(found) - counts["equivalent"]
    score = 100 * (counts["killed"] + counts["timeout"]) / scored if scored else 100.0
    tally = ", ".join(f"{n} {k}" for k, n in counts.items())
    wall, cpu = (time.perf_counter() - start) / 60, (_cpu_seconds() - cpu) / 60
    print(f"{module}: {score:.1f}% ({tally}; {wall:.1f} min, {cpu:.1f} min of CPU after the traced run)", flush=True)
    return {"mutants": len(every), "sampled": len(found), **counts, "score": score, "minutes": wall}


def run_listed(root: Path, listed: tuple[tuple[str, str, str, str, str], ...]) -> bool:
    """Apply each listed survivor and run the test written for it; True when every test fails."""
    caught = 0
    for what, relative, before, after, test in listed:
        path = root / relative
        original = path.read_text(encoding="utf-8")
        if original.count(before) != 1:
            print(f"  NOT FOUND  {what}: {before!r} is not once in {relative}", flush=True)
            continue
        _write_source(path, original.replace(before, after))
        try:
            code, seconds = _fork_pytest(root, (test,), None, 600)
        finally:
            _write_source(path, original)
        verdict = "killed" if code not in (0, 5) else "SURVIVED"
        caught += verdict == "killed"
        print(f"  {verdict:9} {what}  ({test.split('::')[-1]}, {seconds:.0f} s)", flush=True)
    print(f"listed survivors: {caught} of {len(listed)} killed", flush=True)
    return caught == len(listed)


def _summary(results: dict[str, dict[str, float]], seed: int, per_module: int) -> str:
    """The campaign's table, one row per module (Markdown, as docs/mutation.md shows it)."""
    sampled = f"at most {per_module} mutants per module, seed {seed}" if per_module else "every mutant"
    rows = [
        f"{sampled}:",
        "| module | mutants (run of all) | killed | timeout | survived | equivalent | score | minutes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for module, r in results.items():
        rows.append(
            f"| {module} | {r['sampled']:.0f} of {r['mutants']:.0f} | {r['killed']:.0f} | {r['timeout']:.0f} "
            f"| {r['survived']:.0f} | {r['equivalent']:.0f} | {r['score']:.1f}% | {r['minutes']:.1f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    modules_known = every_module()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "modules", nargs="*", metavar="MODULE", help="modules to mutate (all): " + ", ".join(modules_known)
    )
    parser.add_argument("--show-killed", action="store_true", help="list the killed mutants too")
    parser.add_argument("--mutant", action="append", default=[], metavar="ID", help="run only these mutants")
    parser.add_argument(
        "--per-module",
        type=int,
        default=PER_MODULE,
        metavar="N",
        help=f"mutate at most N mutants of each module, drawn with --seed (default {PER_MODULE}; 0: every mutant)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the seed of the sample of mutants (default 0)")
    parser.add_argument(
        "--listed",
        nargs="?",
        const="16",
        choices=("16", "27"),
        help="check the survivors issue 16 (the default) or issue 27 listed instead",
    )
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="TEST",
        help="run the mutants against these tests (files or node ids) without tracing the suite: to check that a "
        "new test kills a survivor (with --mutant)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="the traced seconds of tests a mutant runs at most, its quickest reaching tests first (default 60)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        help="mutants run at once, each in its own scratch copy (default: one per CPU core)",
    )
    parser.add_argument("--min-score", type=float, default=90.0, help="the score each module must reach (percent)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in modules_known]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; choose from {', '.join(modules_known)}")
    if args.per_module < 0:
        parser.error("--per-module must be 0 (every mutant) or more")
    if args.jobs < 1:
        parser.error("--jobs must be 1 or more")
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the scratch copy may keep bytecode (see `_write_source`)
    sys.dont_write_bytecode = False
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `finally` removes the scratch copies
    for name in PREIMPORTS:  # imported once here, shared by every forked test run
        __import__(name)
    roots = [_scratch() for _ in range(args.jobs)]
    root = roots[0]
    equivalent = equivalent_ids()
    start = time.perf_counter()
    results: dict[str, dict[str, float]] = {}
    try:
        if args.listed:
            return 0 if run_listed(root, LISTED if args.listed == "16" else LISTED_27) else 1
        only = set(args.mutant)
        chosen = args.modules or [m for m in modules_known if not only or any(i.startswith(f"{m}-") for i in only)]
        # one traced run of every module's lines, whichever are mutated, so that it is kept for the next run too
        coverage = None if args.against else trace(root, suite_tests(), [f for f, _ in modules_known.values()])
        for module in chosen:
            results[module] = run_module(module, roots, coverage, equivalent, args)
    finally:
        for scratch in roots:
            shutil.rmtree(scratch.parent, ignore_errors=True)
    print(_summary(results, args.seed, 0 if only else args.per_module))
    print(f"{time.perf_counter() - start:.0f} s in all")
    return 0 if all(r["score"] >= args.min_score for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
