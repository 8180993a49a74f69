"""Mutation testing of the modules that produce numbers and verdicts (see docs/mutation.md).

    python tools/mutate.py                    # every module in MODULES
    python tools/mutate.py gate sampling      # some of them
    python tools/mutate.py gate --show-killed

Each mutant changes one AST node of one module (a comparison, an arithmetic or boolean operator, a number, a
condition negated, a call statement removed, ...). The module's fast tests run against it in a forked child of a
process that has already imported the heavy dependencies, inside a scratch copy of the repository (so `run_eval.py`
subprocesses see the mutant too), and only the tests whose execution reached the mutated lines run. A mutant is
killed when a test fails or the run times out. Mutants listed in docs/mutation.md as equivalent (by their id) are
left out of the score. Exit status: 0 when every module scores at least --min-score, else 1.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "mutation.md"
# module name -> (source file, the fast tests that cover it: test files or node ids)
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "metrics": ("evalkit/metrics.py", ("tests/test_metrics.py", "tests/test_verdicts.py", "tests/test_ingest.py")),
    "card": (
        "evalkit/results/card.py",
        (
            "tests/test_verdicts.py",
            "tests/test_card.py",
            "tests/test_integrity.py::test_3_a_second_card_with_the_same_name_is_refused",
        ),
    ),
    "read": (
        "evalkit/results/read.py",
        (
            "tests/test_verdicts.py",
            "tests/test_ingest.py",
            "tests/test_card.py",
            "tests/test_integrity.py",
            "tests/test_report.py::test_merge_revisions_prefers_runs_over_card_conversions",
        ),
    ),
    "gate": (
        "evalkit/report/gate.py",
        (
            "tests/test_verdicts.py",
            "tests/test_gate.py",
            "tests/test_integrity.py",
            "tests/test_conventions.py::test_check_annotates_each_regressed_task_on_github_actions",
            "tests/test_conventions.py::test_annotations_escape_workflow_command_syntax",
        ),
    ),
    "sampling": ("evalkit/run/sampling.py", ("tests/test_sampling.py",)),
    "cache": (
        "evalkit/run/cache.py",
        (
            "tests/test_cache_store.py",
            "tests/test_integrity_runs.py::test_1_a_folder_that_is_not_a_cache_is_refused_and_kept",
            "tests/test_integrity_runs.py::test_1_eviction_deletes_only_shards",
        ),
    ),
    "registry": (
        "evalkit/run/registry.py",
        (
            "tests/test_cache_store.py",
            "tests/test_registry.py::test_cache_keys_hold_the_exact_prompt_or_instruction",
            "tests/test_registry.py::test_registry_models_load_in_the_registrys_or_the_given_dtype_with_their_prompts",
            "tests/test_registry.py::test_bad_models_are_one_line_and_exit_2",
            "tests/test_registry.py::test_a_registry_cross_encoder_refuses_other_tasks_before_loading",
            "tests/test_registry.py::test_registry_loads_pass_the_loaders_own_options_and_only_those",
            "tests/test_registry.py::test_a_registry_model_that_fails_to_load_is_one_line",
            "tests/test_registry.py::test_a_registry_loader_that_takes_no_dtype_refuses_one",
        ),
    ),
}
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
COPIED = ("evalkit", "tests", "tasks", "run_eval.py", "pyproject.toml")
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


@dataclass
class Mutant:
    id: str
    line: int
    end_line: int
    function: str
    before: str
    after: str
    source: str


def _variants(node: ast.AST) -> list[ast.AST]:
    """The mutated copies of one node (shallow: children are shared with the original tree)."""
    out = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in COMPARE_SWAP:
                new = copy.copy(node)
                new.ops = [*node.ops[:i], COMPARE_SWAP[type(op)](), *node.ops[i + 1 :]]
                out.append(new)
    elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAP:
        new = copy.copy(node)
        new.op = BINOP_SWAP[type(node.op)]()
        out.append(new)
    elif isinstance(node, ast.AugAssign) and type(node.op) in BINOP_SWAP:
        new = copy.copy(node)
        new.op = BINOP_SWAP[type(node.op)]()
        out.append(new)
    elif isinstance(node, ast.BoolOp):
        new = copy.copy(node)
        new.op = BOOLOP_SWAP[type(node.op)]()
        out.append(new)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        out.append(node.operand)
    elif isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)) and node.value is not None:
        if isinstance(node.value, bool):
            out.append(ast.Constant(not node.value))
        elif isinstance(node.value, (int, float)):
            out.append(ast.Constant(node.value + 1))
    elif isinstance(node, (ast.If, ast.While, ast.IfExp)) and not _negated_elsewhere(node.test):
        new = copy.copy(node)
        new.test = ast.UnaryOp(ast.Not(), node.test)
        out.append(new)
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        out.append(ast.Pass())
    elif isinstance(node, ast.Return) and node.value is not None:
        out.append(ast.Return(ast.Constant(None)))
    elif isinstance(node, ast.Break):
        out.append(ast.Continue())
    elif isinstance(node, ast.Continue):
        out.append(ast.Break())
    return out


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
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        for number, variant in enumerate(_variants(node)):
            fresh = ast.parse(text)
            target = list(ast.walk(fresh))[index]
            _replace(fresh, target, _variants(target)[number])
            before, after = ast.unparse(node).split("\n")[0], ast.unparse(variant).split("\n")[0]
            key = f"{module}|{owners[id(node)]}|{before}|{after}"
            seen[key] = seen.get(key, 0) + 1
            digest = hashlib.sha1(f"{key}|{seen[key]}".encode()).hexdigest()[:8]
            out.append(
                Mutant(
                    f"{module}-{digest}",
                    node.lineno,
                    node.end_lineno or node.lineno,
                    owners[id(node)],
                    before,
                    after,
                    ast.unparse(ast.fix_missing_locations(fresh)),
                )
            )
    return out


def _dedupe(found: list[Mutant], original: str) -> list[Mutant]:
    """One mutant per distinct mutated source (`if not x` negated and `not` removed are the same program)."""
    seen, out = {ast.unparse(ast.parse(original))}, []
    for mutant in found:
        if mutant.source not in seen:
            seen.add(mutant.source)
            out.append(mutant)
    return out


class _Trace:
    """A pytest plugin recording, per test, the lines of one file that ran ("<import>" outside any test) and its
    seconds (its fixtures' setup included)."""

    def __init__(self, filename: str) -> None:
        self.filename, self.current, self.lines, self.seconds = filename, "<import>", {}, {}
        self.started = 0.0

    def _call(self, frame, event, arg):
        return self._line if frame.f_code.co_filename == self.filename else None

    def _line(self, frame, event, arg):
        if event == "line":
            self.lines.setdefault(self.current, set()).add(frame.f_lineno)
        return self._line

    def start(self) -> None:
        import threading

        sys.settrace(self._call)
        threading.settrace(self._call)

    def pytest_runtest_protocol(self, item, nextitem):
        self.current, self.started = item.nodeid, time.perf_counter()

    def pytest_runtest_logfinish(self, nodeid, location):
        self.seconds[nodeid] = time.perf_counter() - self.started
        self.current = "<import>"


class _Select:
    """A pytest plugin keeping only the tests named (node ids), in the order given."""

    def __init__(self, nodeids: list[str]) -> None:
        self.order = {nodeid: i for i, nodeid in enumerate(nodeids)}

    @pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture
    def pytest_collection_modifyitems(self, config, items):
        items[:] = sorted((item for item in items if item.nodeid in self.order), key=lambda i: self.order[i.nodeid])


def _fork_pytest(root: Path, tests: tuple[str, ...], plugin, timeout: float) -> tuple[int | None, float]:
    """Run pytest on `tests` in a forked child inside `root`; (exit status or None on timeout, seconds)."""
    start = time.perf_counter()
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
                    f"{test}\t{plugin.seconds.get(test, 0):.3f}\t{' '.join(map(str, sorted(hit)))}"
                    for test, hit in plugin.lines.items()
                )
                (root / "trace.txt").write_text("\n".join(lines))
            os._exit(int(code))
        except BaseException:
            os._exit(3)
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), time.perf_counter() - start
        if time.perf_counter() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None, time.perf_counter() - start
        time.sleep(0.05)


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the forked test runs): the wall time on a quiet
    machine, near enough, whatever else shares the CPUs."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _within(test: str, entry: str) -> bool:
    """Whether a test's node id is `entry` of MODULES (a test file or a test's node id) or one of its tests."""
    return test == entry or test.startswith((f"{entry}::", f"{entry}["))


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


def equivalent_ids() -> set[str]:
    """The ids of the mutants docs/mutation.md lists as equivalent (in its "Equivalent mutants" section only)."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    section = text.partition("\n## Equivalent mutants\n")[2].partition("\n## ")[0]
    return set(EQUIVALENT.findall(section))


def run_module(module: str, root: Path, equivalent: set[str], show_killed: bool, only: set[str]) -> float:
    """Mutate one module, printing each survivor and the score; returns the score (percent)."""
    relative, tests = MODULES[module]
    target = root / relative
    original = target.read_text(encoding="utf-8")
    found = [m for m in _dedupe(mutants(module, target), original) if not only or m.id in only]
    trace = _Trace(str(target))
    code, seconds = _fork_pytest(root, tests, trace, 1800)
    if code != 0:
        raise SystemExit(f"{module}: the tests fail without a mutant (pytest exit status {code})")
    covered: dict[str, set[int]] = {}
    cost: dict[str, float] = {}
    for line in (root / "trace.txt").read_text().splitlines():
        test, took, numbers = line.split("\t")
        covered[test], cost[test] = {int(n) for n in numbers.split()}, float(took)
    at_import = covered.pop("<import>", set())
    counts = {"killed": 0, "timeout": 0, "survived": 0, "equivalent": 0}
    start, cpu = time.perf_counter(), _cpu_seconds()
    print(f"{module}: {len(found)} mutants of {relative}, tests {' '.join(tests)} ({seconds:.0f} s traced)", flush=True)
    try:
        for mutant in found:
            lines = set(range(mutant.line, mutant.end_line + 1))
            if not any(lines & hit for hit in covered.values()):
                # CPython traces no line of a `continue` or `break` that an `if` jumps through: its `if` line counts
                lines.add(mutant.line - 1)
            selected = _order(
                set(covered) if lines & at_import else {t for t, hit in covered.items() if lines & hit}, cost
            )
            code = 0  # no test reaches it
            if selected:
                _write_source(target, mutant.source)
                files = tuple(f for f in tests if any(_within(test, f) for test in selected))
                code, _ = _fork_pytest(root, files, _Select(selected), 2 * sum(cost[t] for t in selected) + 30)
                _write_source(target, original)
            verdict = "timeout" if code is None else "survived" if code in (0, 5) else "killed"
            if verdict == "survived" and mutant.id in equivalent:
                verdict = "equivalent"
            counts[verdict] += 1
            if verdict == "survived" or (show_killed and verdict != "equivalent"):
                unreached = "" if selected else "  (no test reaches it)"
                print(
                    f"  {verdict:9} {mutant.id}  line {mutant.line} in {mutant.function}: "
                    f"{mutant.before}  ->  {mutant.after}{unreached}",
                    flush=True,
                )
    finally:
        _write_source(target, original)
    scored = len(found) - counts["equivalent"]
    score = 100 * (counts["killed"] + counts["timeout"]) / scored if scored else 100.0
    tally = ", ".join(f"{n} {k}" for k, n in counts.items())
    wall, cpu = (time.perf_counter() - start + seconds) / 60, (_cpu_seconds() - cpu) / 60
    print(f"{module}: {score:.1f}% ({tally}; {wall:.1f} min, {cpu:.1f} min of CPU after the traced run)", flush=True)
    return score


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"modules to mutate: {', '.join(MODULES)} (all)")
    parser.add_argument("--show-killed", action="store_true", help="list the killed mutants too")
    parser.add_argument("--mutant", action="append", default=[], metavar="ID", help="run only these mutants")
    parser.add_argument(
        "--listed",
        nargs="?",
        const="16",
        choices=("16", "27"),
        help="check the survivors issue 16 (the default) or issue 27 listed instead",
    )
    parser.add_argument("--min-score", type=float, default=90.0, help="the score each module must reach (percent)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; choose from {', '.join(MODULES)}")
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the scratch copy may keep bytecode (see `_write_source`)
    sys.dont_write_bytecode = False
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `finally` removes the scratch copy
    for name in PREIMPORTS:  # imported once here, shared by every forked test run
        __import__(name)
    root = _scratch()
    equivalent = equivalent_ids()
    start = time.perf_counter()
    try:
        if args.listed:
            return 0 if run_listed(root, LISTED if args.listed == "16" else LISTED_27) else 1
        only = set(args.mutant)
        modules = args.modules or [m for m in MODULES if not only or any(i.startswith(f"{m}-") for i in only)]
        scores = {m: run_module(m, root, equivalent, args.show_killed, only) for m in modules}
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)
    print(f"{time.perf_counter() - start:.0f} s: " + ", ".join(f"{m} {s:.1f}%" for m, s in scores.items()))
    return 0 if all(s >= args.min_score for s in scores.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
