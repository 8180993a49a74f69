"""Issue 27, the report package: what a user reads in a report, an audit or a gate's output, pinned by value.

Each test here fails on survivors of `tools/mutate.py` in `evalkit/report/` (docs/mutation.md lists which).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from test_audit import NAME as AUDITED
from test_audit import PROMPTS, write_run
from test_audit import REVISION as AUDITED_REVISION
from test_audit import SCORES as AUDIT_SCORES
from test_leaderboard import BENCHMARK, CANDIDATE, build_candidate, build_folder
from test_pinned import md_cells
from test_report import SUITE, make_model

import evalkit
from evalkit.report.audit import render_audit_markdown
from evalkit.report.comparison import build_comparison, build_leaderboard
from evalkit.report.html import HIGHLIGHT, NEGATIVE, POSITIVE, WITHIN
from evalkit.report.pareto import build_pareto
from evalkit.report.render import render, render_markdown
from evalkit.results.predictions import KEY as PREDICTIONS_KEY
from evalkit.results.predictions import predictions_file, write_predictions
from evalkit.text import md_escape


def notes(markdown: str) -> list[str]:
    """The notes under a Markdown report's tables (each an italic line), as written."""
    lines = [line.rstrip() for line in markdown.splitlines()]
    return [line[1:-1] for line in lines if line.startswith("_") and line.endswith("_")]


def with_revisions(model, revisions: dict[str, str]):
    """`model` with the tasks named read from other revision folders."""
    tasks = {t: dataclasses.replace(s, revision=revisions.get(t, "aaa")) for t, s in model.tasks.items()}
    return dataclasses.replace(model, tasks=tasks)


# ---------------------------------------------------------------- the Markdown report's notes and verdicts


def test_a_model_merged_from_several_revisions_says_which_task_came_from_which():
    keep = ("AFQMC", "ATEC", "Waimai")
    cand = make_model("cand", 60.0, drop=tuple(s.mteb_task for s in SUITE.tasks if s.mteb_task not in keep))
    cand = with_revisions(cand, {"ATEC": "bbb"})
    base = with_revisions(make_model("base", 60.0), {})
    md = render_markdown(build_comparison(cand, [base], SUITE, tolerance=0.5))
    merged = [note for note in notes(md) if "merges" in note]
    assert merged == [md_escape("cand merges 2 revisions: AFQMC, Waimai from aaa; ATEC from bbb.")]


def test_a_comparison_explains_its_deltas_and_marks_and_a_lone_model_does_not():
    comp = build_comparison(make_model("cand", 61.0), [make_model("base", 60.0)], SUITE, tolerance=0.5)
    assert notes(render_markdown(comp))[:3] == [
        md_escape("(n/N): average over only n of the N tasks; not comparable with a complete average."),
        md_escape("Δ: cand minus the baseline; † marks a delta between averages that are not both complete."),
        md_escape("▼ ▲: a task's delta beyond the tolerance of ±0.5 points."),
    ]
    alone = notes(render_markdown(build_comparison(make_model("cand", 61.0), [], SUITE, tolerance=0.5)))
    assert alone == [md_escape("(n/N): average over only n of the N tasks; not comparable with a complete average.")]


def test_the_pull_request_verdict_names_the_tolerance_even_when_it_is_zero():
    cand = make_model("cand", 60.0, scores={"AFQMC": 59.5}, drop=("STSB",))
    comp = build_comparison(cand, [make_model("base", 60.0)], SUITE, tolerance=0.0)
    md = render_markdown(comp, pr_comment=True)
    verdict = next(line for line in md.splitlines() if line.startswith("- vs base"))
    average = comp.average.deltas[0]
    assert verdict == "- " + md_escape(
        f"vs base: ❌ 1 task(s) fell by more than 0 points: AFQMC (-0.50); c-mteb average {average:+.2f} †; "
        "missing: STSB"
    )
    assert md.startswith("## ❌ cand")
    comp = build_comparison(make_model("cand", 60.0), [make_model("base", 60.0)], SUITE, tolerance=0.0)
    verdict = next(line for line in render_markdown(comp, pr_comment=True).splitlines() if line.startswith("- vs"))
    assert verdict == "- " + md_escape("vs base: ✅ no task fell by more than 0 points; c-mteb average +0.00")


def test_the_leaderboard_shortens_commit_hashes_and_keeps_other_revision_names():
    commit = "0123456789abcdef0123456789abcdef01234567"
    branch = "release-candidate-with-a-forty-char-name"  # 40 characters, some of them hex digits
    assert len(branch) == 40
    cand = make_model("cand", 61.0, revision=commit)
    others = [make_model("other", 60.0, revision=branch), make_model("third", 59.0, revision=f"{commit}+main")]
    comp = build_comparison(cand, [], SUITE, tolerance=0.5)
    comp.leaderboard = build_leaderboard(cand, others, SUITE)
    lines = render_markdown(comp).splitlines()
    start = lines.index("### Leaderboard")
    table = [line for line in lines[start:] if line.startswith("| ")][1:]
    revisions = [[cell.strip() for cell in line.strip("|").split("|")][2] for line in table]
    assert revisions == ["0123456789ab", md_escape(branch), "0123456789ab+main"]


# ---------------------------------------------------------------- audit


def md_rows(markdown: str, first_header: str) -> list[list[str]]:
    """The cells of the Markdown table whose header starts with `| first_header |` (separator left out)."""
    lines = markdown.splitlines()
    return md_cells(lines[next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |")) :])


def mteb_meta(folder: Path, **loader_kwargs) -> None:
    """Replace a results folder's model_meta.json with mteb's form: the settings under `loader_kwargs`."""
    meta = {"name": AUDITED, "revision": AUDITED_REVISION, "loader_kwargs": loader_kwargs}
    (folder / "model_meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def test_audit_names_each_sides_settings_alike_whichever_way_model_meta_json_writes_them(tmp_path):
    run = write_run(tmp_path / "run")
    published = write_run(tmp_path / "published")
    reordered = dict(reversed(PROMPTS.items()))  # the same prompts, written in another order
    mteb_meta(published, model_kwargs={"torch_dtype": "half"}, model_prompts=reordered, max_seq_length=512)
    audit = evalkit.audit(run, against=published)
    prompts = json.dumps(PROMPTS, sort_keys=True, ensure_ascii=False)
    assert [(d.what, d.run, d.published) for d in audit.settings] == [
        ("model revision", AUDITED_REVISION, AUDITED_REVISION),
        ("prompts", prompts, prompts),
        ("dtype", "fp16", "fp16"),
        ("max length", "512", "512"),
    ]
    assert audit.verdict == "reproduced" and not any("model_meta.json" in reason for reason in audit.reasons)

    mteb_meta(published, model_kwargs={"torch_dtype": "torch.bfloat16"}, model_prompts=PROMPTS)
    audit = evalkit.audit(run, against=published)
    assert [(d.what, d.run, d.published) for d in audit.settings if d.what == "dtype"] == [("dtype", "fp16", "bf16")]
    assert audit.verdict == "reproduced" and audit.reasons[-1] == "model_meta.json differs in: dtype"
    settings = md_rows(render_audit_markdown(audit), "setting")
    assert settings[0] == ["setting", "run", "published", ""]
    assert ["dtype", "fp16", "bf16", "≠"] in settings and ["max length", "512", "–", ""] in settings


def test_the_audit_table_gives_each_tasks_scores_delta_status_and_differences(tmp_path):
    run = write_run(tmp_path / "run")
    changed = dict(AUDIT_SCORES, T2Retrieval=("ndcg_at_10", "dev", 0.80))
    published = write_run(tmp_path / "published", changed, version="1.12.75")
    table = md_rows(render_audit_markdown(evalkit.audit(run, against=published)), "task")
    assert table[0] == ["task", "type", "metric", "run", "published", "Δ", "status", "differences"]
    assert all(len(row) == len(table[0]) for row in table)
    assert next(row for row in table if row[0] == "T2Retrieval") == [
        "T2Retrieval", "Retrieval", "ndcg_at_10", "83.00", "80.00", "+3.00", "differs",
        md_escape("mteb version: 2.26.24 → 1.12.75"),
    ]  # fmt: skip


def test_a_change_of_exactly_the_results_repositorys_epsilon_is_the_same_score(tmp_path):
    # 0.001 on mteb's scale, with the float allowance: 0.00100000001 - 0 is exactly that many points.
    for run_score, status in ((0.00100000001, "same"), (0.0010000000100000002, "within tolerance")):
        folder = tmp_path / str(run_score)
        run = write_run(folder / "run", {"AFQMC": ("cosine_spearman", "validation", run_score)})
        published = write_run(folder / "published", {"AFQMC": ("cosine_spearman", "validation", 0.0)})
        (task,) = evalkit.audit(run, against=published).tasks
        assert task.status == status


def test_an_audit_that_compares_nothing_says_why(tmp_path):
    run = write_run(tmp_path / "run", {"AFQMC": AUDIT_SCORES["AFQMC"]})
    published = write_run(tmp_path / "published", {"TNews": AUDIT_SCORES["TNews"]})
    audit = evalkit.audit(run, against=published)
    assert (audit.verdict, audit.reasons) == ("not comparable", ["no task has a main score on both sides"])

    sampled = write_run(tmp_path / "sampled")
    meta = json.loads((sampled / "model_meta.json").read_text(encoding="utf-8")) | {"sampled": "limit=100,seed=42"}
    (sampled / "model_meta.json").write_text(json.dumps(meta), encoding="utf-8")
    audit = evalkit.audit(sampled, against=write_run(tmp_path / "full"))
    assert audit.verdict == "not comparable"
    assert audit.reasons == ["the run is a `run --limit` sample (limit=100,seed=42); audit a full run"]


# ---------------------------------------------------------------- the benchmark view (`-b`)


def test_a_benchmark_leaderboard_names_exactly_the_results_it_has_no_value_for_in_a_set_order(tmp_path):
    board = build_folder(tmp_path / "results")
    comp = evalkit.compare(build_candidate(tmp_path / "candidate"), suite=BENCHMARK, leaderboard=board)
    no_map = "the result the leaderboard keeps has no map_at_1000"
    one_split = "validation only; the leaderboard averages test and validation"
    assert {row.name: row.gaps for row in comp.leaderboard} == {
        CANDIDATE: {},
        "intfloat/multilingual-e5-base": {},
        "TencentBAC/Conan-embedding-v1": {"CMedQAv1-reranking": no_map, "MultilingualSentiment": one_split},
        "BAAI/bge-small-zh": {"T2Reranking": no_map, "CMedQAv1-reranking": no_map, "MultilingualSentiment": one_split},
    }
    note = next(n for n in notes(render_markdown(comp)) if n.startswith("No official value"))
    assert note == md_escape(
        f"No official value although the folder holds a result: TencentBAC/Conan-embedding-v1: CMedQAv1-reranking "
        f"({no_map}), MultilingualSentiment ({one_split}); BAAI/bge-small-zh: CMedQAv1-reranking ({no_map}), "
        f"MultilingualSentiment ({one_split}), T2Reranking ({no_map})."
    )  # the same text on every run: tasks in name order


def sts_with_predictions(folder: Path, task: str = "AFQMC", split: str = "validation") -> float:
    """A results folder holding one STS task with its per-pair predictions (`run --save-predictions`'s form);
    its main score, the Spearman correlation of those predictions, on mteb's 0-1 scale."""
    from scipy.stats import spearmanr

    gold = [float(i % 7) for i in range(40)]
    cosine = [(i * 37 % 41) / 41 + 0.1 * g for i, g in enumerate(gold)]
    score = float(spearmanr(gold, cosine)[0])
    write_run(folder, {task: ("cosine_spearman", split, score)})
    result = folder / f"{task}.json"
    data = json.loads(result.read_text(encoding="utf-8"))
    data[PREDICTIONS_KEY] = predictions_file(result).name
    result.write_text(json.dumps(data), encoding="utf-8")
    write_predictions(predictions_file(result), {"type": "STS", "gold": gold, "scores": {"cosine_scores": cosine}})
    return score


def test_a_benchmark_view_gives_intervals_from_the_predictions_that_recompute_its_value(tmp_path):
    score = sts_with_predictions(tmp_path / "model")
    comp = evalkit.compare(tmp_path / "model", suite=BENCHMARK, ci=95, resamples=50)
    (afqmc,) = [row for row in comp.tasks if row.mteb_task == "AFQMC"]
    assert afqmc.scores == [pytest.approx(100 * score, abs=1e-9)] and afqmc.metric == "cosine_spearman"
    (low, high) = afqmc.ci[0]
    assert low < 100 * score < high
    assert comp.intervals.without == []


# ---------------------------------------------------------------- the model card's results table


def test_the_cards_results_table_lists_each_task_then_its_types_average_and_the_suites_last(tmp_path):
    folder = write_run(tmp_path / "model", {t: v for t, v in AUDIT_SCORES.items() if t != "CLSClusteringS2S"})
    assert evalkit.results_table(folder) == "\n".join(
        [
            "### Results on c-mteb",
            "",
            "Main score of each task on the 0-100 scale, and the average of each task type (written by evalkit "
            "from the mteb results).",
            "",
            "| Task type | Task | Metric | Score |",
            "|---|---|---|---|",
            "| STS | AFQMC | cos_sim_spearman | 61.00 |",
            "| STS | average |  | 61.00 (1/8) |",
            "| PairClassification | Cmnli | cos_sim_ap | 85.00 |",
            "| PairClassification | average |  | 85.00 (1/2) |",
            "| Classification | TNews | accuracy | 52.00 |",
            "| Classification | average |  | 52.00 (1/9) |",
            "| Reranking | T2Reranking | map | 66.00 |",
            "| Reranking | average |  | 66.00 (1/4) |",
            "| Retrieval | T2Retrieval | ndcg_at_10 | 83.00 |",
            "| Retrieval | average |  | 83.00 (1/8) |",
            "| all | c-mteb average |  | 69.40 (5/35) |",
        ]
    )  # no Clustering row: the model has no clustering task


# ---------------------------------------------------------------- the leaderboard's notes, the JSON text


def test_the_leaderboard_note_names_ten_models_without_an_official_value_and_counts_the_rest():
    cand = make_model("cand", 61.0)
    others = [make_model(f"m{k:02}", 60.0 - k) for k in range(12)]
    comp = build_comparison(cand, [], SUITE, tolerance=0.5)
    board = build_leaderboard(cand, others, SUITE)
    comp.leaderboard = [row if row.candidate else dataclasses.replace(row, gaps={"AFQMC": "why"}) for row in board]
    (note,) = [n for n in notes(render_markdown(comp)) if n.startswith("No official value")]
    listed = "; ".join(f"m{k:02}: AFQMC (why)" for k in range(10))
    assert note == md_escape(
        f"No official value although the folder holds a result: {listed}; and 2 more model(s) (JSON lists them)."
    )
    comp.leaderboard = comp.leaderboard[:11]  # the candidate and ten models: every one named
    (note,) = [n for n in notes(render_markdown(comp)) if n.startswith("No official value")]
    assert note.endswith(md_escape("m09: AFQMC (why).")) and "more model" not in note


def test_the_json_report_is_indented_two_spaces_keeps_chinese_text_and_ends_with_a_newline():
    comp = build_comparison(make_model("模型", 61.0), [make_model("base", 60.0)], SUITE, tolerance=0.5)
    text = render(comp, "json")
    assert text.startswith('{\n  "suite": "c-mteb",\n  "suite_path": ') and text.endswith("}\n")
    assert '"label": "模型"' in text


# ---------------------------------------------------------------- the HTML report's charts


def figure(page: str, name: str) -> str:
    """The SVG of one chart of an HTML report (text stays text in it)."""
    start = page.index(f'<figure id="{name}">')
    return page[start : page.index("</figure>", start)]


def svg_texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_html_charts_colour_each_delta_by_its_verdict_and_bar_only_ranked_models():
    cand = make_model("cand", 60.0, scores={"AFQMC": 58.0, "ATEC": 62.0})
    base = make_model("base", 60.0, drop=("STSB",))
    comp = build_comparison(cand, [base], SUITE, tolerance=0.5)
    comp.leaderboard = build_leaderboard(cand, [base, make_model("other", 59.0)], SUITE)  # base: unranked
    page = render(comp, "html")
    deltas = figure(page, "chart-deltas")
    colours = [deltas.count(f"fill: {colour}") for colour in (NEGATIVE, POSITIVE, WITHIN)]
    assert colours == [1, 1, len(comp.tasks) - 2]  # AFQMC fell, ATEC rose, the rest within ±0.5 (STSB: n/a)
    assert svg_texts(deltas).count(" n/a") == 1
    board = svg_texts(figure(page, "chart-leaderboard"))
    assert [t for t in board if ". " in t] == ["1. cand", "2. other"] and [" 60.00", " 59.00"] == board[-2:]


def test_the_pareto_chart_draws_each_panels_front_and_the_intervals_of_its_points():
    cand = dataclasses.replace(make_model("cand", 60.0), embed_dim=256, precision="int8")
    base = dataclasses.replace(make_model("base", 61.0), embed_dim=1024, precision="float32")
    comp = build_comparison(cand, [base], SUITE, tolerance=0.5)
    comp.pareto = build_pareto(comp)
    plain = figure(render(comp, "html"), "chart-pareto")
    assert plain.count(f"stroke: {HIGHLIGHT}") == len(comp.pareto) + 1  # a front line per panel, and the legend's
    comp.average = dataclasses.replace(comp.average, ci=[(59.0, 61.0), (60.0, 62.0)])
    comp.pareto = build_pareto(comp)
    with_intervals = figure(render(comp, "html"), "chart-pareto")
    assert "stroke: #222222" not in plain and "stroke: #222222" in with_intervals  # the error bars


def test_the_quality_per_byte_notes_name_the_models_not_placed_and_only_those():
    cand = dataclasses.replace(make_model("cand", 60.0), embed_dim=256, precision="int8")
    unsized = make_model("unsized", 61.0)  # its results record no embedding size
    comp = build_comparison(cand, [unsized], SUITE, tolerance=0.5)
    comp.pareto = build_pareto(comp)
    placed = "Not placed (no embedding size in the results): unsized."
    assert md_escape(placed) in notes(render_markdown(comp))
    comp = build_comparison(cand, [dataclasses.replace(unsized, embed_dim=1024, precision="float32")], SUITE)
    comp.pareto = build_pareto(comp)
    assert not [n for n in notes(render_markdown(comp)) if n.startswith("Not placed")]


def test_the_averages_chart_axis_runs_from_a_multiple_of_5_below_the_scores_to_above_the_highest():
    from evalkit.report.html import _zoom

    assert _zoom([58.0, 61.0]) == (55.0, 62.0)  # half-point gaps show; the tallest bar and its label fit
    assert _zoom([5.0, 90.0]) == (0.0, 102.75)  # near 0: from 0
    assert _zoom([]) == (0.0, 105.0)
