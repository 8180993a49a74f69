"""Issue 27: what a user sees, pinned by value: the reports' structure, the public API's defaults, the CLI's help.

Each test here fails on one of the survivors of issue 27's mutation campaign (docs/mutation.md lists which).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import inspect
import io
import json
import sys
import xml.etree.ElementTree as ET

import pytest
from test_report import SUITE, make_model

import evalkit
from evalkit.cli import main
from evalkit.report.comparison import build_comparison, build_leaderboard
from evalkit.report.gate import Tolerances, gate_json, run_gate
from evalkit.report.render import CSV_FIELDS, render
from evalkit.suite import TASK_TYPES


def comparison(leaderboard: bool = False):
    """A candidate against a baseline that lacks STSB; AFQMC (the first task) has known intervals."""
    cand = make_model("cand", 60.0, scores={"AFQMC": 70.0})
    base = make_model("base", 58.0, drop=("STSB",))
    comp = build_comparison(cand, [base], SUITE, tolerance=0.5)
    first = comp.tasks[0]
    comp.tasks[0] = dataclasses.replace(first, ci=[(69.0, 70.5), (57.0, 59.0)], delta_ci=[(10.25, 13.75)])
    if leaderboard:
        comp.leaderboard = build_leaderboard(cand, [base, make_model("other", 59.0)], SUITE)
    return comp


def md_cells(lines: list[str]) -> list[list[str]]:
    """The cells of the Markdown table that starts at `lines[0]` (header first, separator left out)."""
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return [rows[0], *rows[2:]]


def md_table(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the Markdown table under `### heading` (header first, separator left out)."""
    lines = markdown[markdown.index(f"### {heading}\n") :].splitlines()[1:]
    return md_cells(lines[next(i for i, line in enumerate(lines) if line.startswith("|")) :])


# ---------------------------------------------------------------- reports: Markdown, CSV, JSON


def test_markdown_tables_have_their_columns_in_order_and_the_half_widths_of_the_intervals():
    markdown = render(comparison(), "md")
    tasks = md_table(markdown, "Tasks")
    assert tasks[0] == ["task", "type", "metric", "cand", "base", "Δ base"]
    assert all(len(row) == len(tasks[0]) for row in tasks)
    assert tasks[1] == ["AFQMC", "STS", "cos_sim_spearman", "70.00 ±0.75", "58.00 ±1.00", "+12.00 ▲ ±1.75"]
    assert tasks[2] == ["ATEC", "STS", "cos_sim_spearman", "60.00", "58.00", "+2.00 ▲"]
    assert ["STSB", "STS", "cos_sim_spearman", "60.00", "–", "–"] in tasks
    assert [row[1] for row in tasks[1:]] == sorted((r[1] for r in tasks[1:]), key=TASK_TYPES.index)
    averages = md_table(markdown, "Averages")
    assert averages[0] == ["", "cand", "base", "Δ base"]
    assert averages[1] == ["c-mteb average", "60.29", "58.00 (34/35)", "+2.29 †"]
    assert [row[0] for row in averages[2:]] == list(TASK_TYPES)


def test_the_leaderboard_has_a_column_per_task_type_of_the_suite():
    comp = comparison(leaderboard=True)
    board = md_table(render(comp, "md"), "Leaderboard")
    assert board[0] == ["rank", "model", "revision", "tasks", "c-mteb average", *TASK_TYPES]
    assert all(len(row) == len(board[0]) for row in board)
    assert [row[:2] for row in board[1:]] == [["1", "cand (candidate)"], ["2", "other"], ["–", "base"]]
    assert board[3][4:6] == ["58.00 (34/35)", "58.00 (7/8)"]  # base lacks STSB: unranked, last, marked


def test_csv_has_its_columns_in_order_and_exact_interval_bounds():
    text = render(comparison(leaderboard=True), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(next(csv.reader(io.StringIO(text)))) == CSV_FIELDS
    assert CSV_FIELDS[:8] == ("section", "name", "type", "model", "role", "score", "delta", "comparable")
    afqmc = [r for r in rows if r["section"] == "task" and r["name"] == "AFQMC"]
    assert [(r["model"], r["role"], r["score"], r["delta"]) for r in afqmc] == [
        ("cand", "candidate", "70.0", ""),
        ("base", "baseline", "58.0", "12.0"),
    ]
    assert [(r["ci_low"], r["ci_high"]) for r in afqmc] == [("69.0", "70.5"), ("57.0", "59.0")]
    assert (afqmc[1]["delta_ci_low"], afqmc[1]["delta_ci_high"]) == ("10.25", "13.75")
    sections = [r["section"] for r in rows]
    assert sections == sorted(sections, key=["task", "type", "average", "leaderboard"].index)
    assert sections.count("leaderboard") == 3 and sections.count("type") == 2 * len(TASK_TYPES)


def test_json_report_keeps_scores_and_intervals_per_model():
    data = json.loads(render(comparison(), "json"))
    assert [m["label"] for m in data["models"]] == ["cand", "base"]
    first = data["tasks"][0]
    assert (first["name"], first["scores"], first["deltas"]) == ("AFQMC", [70.0, 58.0], [12.0])
    assert first["ci"] == [[69.0, 70.5], [57.0, 59.0]] and first["delta_ci"] == [[10.25, 13.75]]


def test_every_report_format_renders_through_render():
    comp = comparison()
    assert next(csv.reader(io.StringIO(render(comp, "csv"))))[:3] == ["section", "name", "type"]
    assert render(comp, "md").startswith("## cand: c-mteb average 60.29")
    assert json.loads(render(comp, "json"))["suite"] == "c-mteb"
    assert render(comp, "html").startswith("<!doctype html>")


# ---------------------------------------------------------------- the HTML report


def _svg(page: str, figure: str) -> ET.Element:
    start = page.index(f'<figure id="{figure}">')
    svg = page[page.index("<svg", start) : page.index("</svg>", start) + len("</svg>")]
    return ET.fromstring(svg)


def test_html_hatches_exactly_the_bars_of_incomplete_averages():
    comp = comparison()
    page = render(comp, "html")
    svg = _svg(page, "chart-averages")
    hatched = [e for e in svg.iter() if "url(#h" in (e.get("style") or "") + (e.get("fill") or "")]
    incomplete = [a for row in (comp.average, *comp.types) for a in row.aggregates if not a.complete]
    assert len(incomplete) == 2  # the baseline's suite and STS averages (it lacks STSB)
    assert len(hatched) == len(incomplete) + 1  # and the legend's "incomplete task set"


def test_html_cells_carry_the_classes_of_their_meaning():
    page = render(comparison(), "html")
    assert '<td class="apart">+2.29 †</td>' in page  # averages not both complete
    assert '<td class="up">+12.00 ▲ ±1.75</td>' in page
    comp = build_comparison(make_model("cand", 58.0), [make_model("base", 60.0)], SUITE, tolerance=0.5)
    page = render(comp, "html")
    assert '<td class="down">-2.00 ▼</td>' in page and 'class="up"' not in page


# ---------------------------------------------------------------- the gate's JSON


def test_check_json_gives_each_task_both_scores_and_the_delta():
    result = run_gate(make_model("cand", 59.0), make_model("base", 60.0), SUITE, Tolerances(0.5))
    data = json.loads(gate_json(result))
    assert (data["passed"], data["candidate"], data["baseline"]) == (False, "cand", "base")
    entry = data["tasks"][0]
    assert list(entry) == [
        "task", "type", "metric", "status", "baseline", "candidate", "delta", "tolerance", "decided_by", "delta_ci",
        "p_value", "paired",
    ]  # fmt: skip
    assert (entry["baseline"], entry["candidate"], entry["delta"], entry["status"]) == (60.0, 59.0, -1.0, "regressed")


# ---------------------------------------------------------------- the public API's defaults

API_DEFAULTS = {
    "evaluate": {
        "tasks": None, "types": None, "suite": "c-mteb", "output_dir": "results", "data_dir": None, "name": None,
        "revision": None, "device": "auto", "dtype": "auto", "batch_size": 32, "max_seq_length": None,
        "query_prompt": None, "passage_prompt": None, "prompts": None, "model_source": "auto",
        "trust_remote_code": False, "model_kwargs": None, "overwrite": False, "cache": True, "cache_dir": None,
        "cache_max_gb": None, "dims": None, "quantize": None, "clipping_margin": None, "limit": None, "seed": 42,
        "save_predictions": False, "workers": None,
        "show_progress": False, "observer": None,
    },
    "evaluate_many": {"ray": None, "ray_cpus_per_worker": 1.0, "observer": None},
    "load_results": {"suite": "c-mteb"},
    "compare": {
        "candidate": None, "baselines": (), "suite": "c-mteb", "leaderboard": None, "tolerance": None, "ci": None,
        "resamples": 1000, "seed": 0, "sweep": None, "pareto": False,
    },
    "audit": {"suite": "c-mteb", "tolerance": None},
    "check": {
        "tolerance": None, "tolerance_file": None, "allow_missing": False, "suite": "c-mteb", "significance": None,
        "resamples": 1000, "seed": 0,
    },
    "model_index": {"suite": "c-mteb", "name": None},
    "update_card": {"table": None},
    "results_table": {"suite": "c-mteb"},
    "eval_results": {"output_dir": None, "suite": "c-mteb", "user": None, "benchmark_repo": None},
    "push": {
        "suite": "c-mteb", "readme": None, "name": None, "create_pr": False, "revision": None, "token": None,
        "dry_run": False, "user": None, "benchmark_repo": None, "commit_message": None,
    },
    "import_card": {"suite": "c-mteb"},
    "list_tasks": {"suite": "c-mteb"},
    "prefetch": {"suite": "c-mteb", "tasks": None, "model": None},
}  # fmt: skip


def test_the_public_functions_keep_their_documented_defaults():
    functions = [name for name in evalkit.__all__ if callable(getattr(evalkit, name))]
    assert functions == list(API_DEFAULTS)
    for name, expected in API_DEFAULTS.items():
        parameters = inspect.signature(getattr(evalkit, name)).parameters.values()
        defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
        assert defaults == expected, name


# ---------------------------------------------------------------- the CLI: program name and --help


@pytest.mark.parametrize("argv0, prog", [("/somewhere/run_eval.py", "run_eval.py"), ("/usr/bin/evalkit", "evalkit")])
def test_usage_names_the_program_typed_whatever_the_arguments(monkeypatch, capsys, argv0, prog):
    monkeypatch.setattr(sys, "argv", [argv0, "run", "-t", "STSB"])
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out.startswith(f"usage: {prog} ")


def test_help_describes_every_command_and_every_option(capsys):
    from evalkit.cli import _all_parsers, build_parser

    with pytest.raises(SystemExit):
        main(["--help"])
    top = " ".join(capsys.readouterr().out.split())
    assert "evalkit: evaluate Chinese embedding models on C-MTEB through mteb, compare them and gate CI." in top
    assert "examples:" in top and "check results/org__model --baseline B the CI regression gate" in top
    parsers = list(_all_parsers(build_parser("evalkit")))
    assert len(parsers) >= 8
    for parser in parsers:  # compared without white space: argparse wraps lines, also after a hyphen
        text = "".join(parser.format_help().split())
        assert parser.description and "".join(parser.description.split()) in text, parser.prog
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, (parser.prog, action.option_strings)
            assert "".join(action.help.split("%(")[0].split()) in text, (parser.prog, action.option_strings)


def test_run_shows_progress_bars_on_a_terminal_and_never_in_a_log(monkeypatch, capsys):
    seen = []

    def evaluate_many(models, **options):
        seen.append(options["show_progress"])
        return []

    monkeypatch.setattr(evalkit, "evaluate_many", evaluate_many)
    for terminal in (True, False):
        monkeypatch.setattr(sys.stderr, "isatty", lambda terminal=terminal: terminal, raising=False)
        main(["run", "-m", "bundled:minilm", "--suite", "sample"])
    assert seen == [True, False]


# ---------------------------------------------------------------- run internals a user meets again on a rerun


def test_a_live_runs_temporary_files_are_kept_and_a_killed_ones_removed(tmp_path):
    import os
    import time

    from evalkit.results.files import remove_stale_temporaries

    live, stale = tmp_path / ".STSB.json.1.tmp", tmp_path / ".Ocnli.json.2.tmp"
    live.write_text("{")
    stale.write_text("{")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert live.exists() and not stale.exists()


def test_batch_size_auto_doubles_up_to_4096_and_no_further():
    from types import SimpleNamespace

    from evalkit.run.encode import MAX_BATCH, _grow

    model = SimpleNamespace(options=SimpleNamespace(batch_size=1024))
    roomy = lambda: (0, 1, 10**12)  # noqa: E731 - a GPU with memory to spare
    sizes = []
    for _ in range(5):
        if _grow(model, roomy):
            sizes.append(model.options.batch_size)
    assert MAX_BATCH == 4096 and sizes == [2048, 4096] and model.options.batch_size == 4096
    assert not _grow(SimpleNamespace(options=SimpleNamespace(batch_size=64)), None)  # not on a GPU: as given


def test_a_rerun_with_another_batch_size_is_the_same_model_but_another_max_length_is_not(tmp_path):
    from evalkit.run.lazy import _facts_key
    from evalkit.run.models import ModelOptions, Resolution

    found = Resolution(str(tmp_path), "org/m", is_hub=False)
    key = _facts_key(found, "r1", "auto", ModelOptions(batch_size=32), None)
    assert _facts_key(found, "r1", "auto", ModelOptions(batch_size=256, device="cpu"), None) == key
    assert _facts_key(found, "r1", "auto", ModelOptions(batch_size=32, max_seq_length=128), None) != key
