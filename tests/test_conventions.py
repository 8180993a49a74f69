"""Meeting users where they come from: mteb / lm-eval style flags, benchmark names, the closing table of `run`,
PR-ready reports, hub hints, quiet libraries, a plausible embedded demo and a README that stands on its own."""

from __future__ import annotations

import dataclasses
import http.server
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import HANG, REPO, SIX_TASKS, child_env, run_sample, shared_path
from test_report import SUITE, make_model

import evalkit
from evalkit.cli import build_parser, main
from evalkit.cli.run import summary_table
from evalkit.report.comparison import build_comparison
from evalkit.report.gate import Tolerances, github_annotations, run_gate
from evalkit.report.html import render_html
from evalkit.report.render import render_markdown
from evalkit.run.runner import RunReport, TaskOutcome
from evalkit.suite import TASK_TYPES, _benchmark_task, load_suite

# ---------------------------------------------------------------- flags


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "-m", "M", "-t", "STSB", "Ocnli", "-o", "out"],
        ["run", "--model", "M", "--tasks", "STSB,Ocnli", "--output-folder", "out"],
        ["run", "-m", "M", "-t", "STSB", "-t", "Ocnli", "--output-dir", "out"],
    ],
)
def test_mteb_and_lm_eval_spellings_mean_the_same(argv):
    args = build_parser().parse_args(argv)
    assert (args.model, args.tasks, args.output_dir) == (["M"], ["STSB", "Ocnli"], Path("out"))


def test_task_types_benchmark_and_debug_anywhere():
    args = build_parser().parse_args(["run", "-m", "M", "--task-types", "STS", "Retrieval", "-b", "MTEB(cmn, v1)"])
    assert (args.types, args.suite, args.debug) == (["STS", "Retrieval"], "MTEB(cmn, v1)", False)
    for argv in (["--debug", "compare", "x"], ["compare", "x", "--debug"], ["-v", "check", "x", "--baseline", "y"]):
        assert build_parser().parse_args(argv).debug is True
    assert build_parser().parse_args(["card", "emit", "x", "-v"]).debug is True


def test_version_and_program_name(monkeypatch, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip().endswith(f"{evalkit.__version__} (mteb {__import__('mteb').__version__})")
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/evalkit"])
    assert build_parser().prog == "evalkit"
    assert build_parser().format_help().startswith("usage: evalkit ")
    monkeypatch.setattr(sys, "argv", ["run_eval.py"])
    assert build_parser().prog == "run_eval.py"


def test_debug_after_the_command_shows_the_traceback(capsys):
    assert main(["run", "-m", "bundled:minilm", "--suite", "sample", "-t", "STSX"]) == 2
    with pytest.raises(Exception, match="unknown task 'STSX'"):
        main(["run", "-m", "bundled:minilm", "--suite", "sample", "-t", "STSX", "--debug"])


def test_space_separated_tasks_run(six_snapshots, tmp_path, capsys):
    assert run_sample("-t", "STSB", "Ocnli", "--data-dir", str(six_snapshots), "-o", str(tmp_path)) == 0
    done = sorted(p.stem for p in tmp_path.rglob("*.json") if p.stem not in ("model_meta", "run_summary"))
    assert done == ["Ocnli", "STSB"]


# ---------------------------------------------------------------- mteb benchmark names


def test_cmn_benchmark_is_a_suite_of_the_cards_tasks():
    suite = load_suite("MTEB(cmn, v1)")
    import mteb

    names = [t.metadata.name for t in mteb.get_benchmark("MTEB(cmn, v1)").tasks]
    assert [t.mteb_task for t in suite.tasks] == names and len(names) == 31
    assert all(t == SUITE.by_mteb_name[t.mteb_task] for t in suite.tasks)  # the card's split, subset and block
    assert suite.main_metrics == SUITE.main_metrics and suite.name == "MTEB(cmn, v1)"


def test_a_benchmark_task_outside_c_mteb_takes_mtebs_metadata():
    import mteb

    spec = _benchmark_task("B", mteb.get_task("SciFact"))
    assert (spec.mteb_task, spec.type, spec.split, spec.subset) == ("SciFact", "Retrieval", "test", "default")
    assert (spec.card.type, spec.card.name) == ("mteb/scifact", "MTEB SciFact")


def test_split_stats_are_mtebs_for_the_cards_split_and_subset():
    import json

    import mteb

    from evalkit.suite import split_stats

    by_name = {t.name: t for t in SUITE.tasks}
    for name in ("STSB", "MassiveIntentClassification", "T2Retrieval"):
        spec = by_name[name]
        raw = json.loads(Path(mteb.get_task(spec.mteb_task).metadata.descriptive_stat_path).read_text())[spec.split]
        expected = raw["hf_subset_descriptive_stats"][spec.subset] if spec.subset != "default" else raw
        assert split_stats(spec) == expected
    massive = by_name["MassiveIntentClassification"]
    whole = mteb.get_task(massive.mteb_task).metadata.descriptive_stats[massive.split]["num_samples"]
    assert split_stats(massive)["num_samples"] < whole  # zh-CN alone, not all 51 languages
    with pytest.raises(evalkit.errors.UserError, match="subset 'zz'"):
        split_stats(dataclasses.replace(by_name["STS22"], subset="zz"))


def test_benchmark_names_in_commands(capsys):
    assert main(["tasks", "-b", "MTEB(cmn, v1)"]) == 0
    assert "31 tasks in mteb benchmark MTEB(cmn, v1)" in capsys.readouterr().out
    assert main(["tasks", "--benchmark", "MTEB(cmn v1)"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean MTEB(cmn, v1)" in err
    assert main(["tasks", "-b", "MTEB(Europe, v1)"]) == 2
    assert "is of type BitextMining" in capsys.readouterr().err


# ---------------------------------------------------------------- the closing table of `run`


def outcome(name: str, status: str, score: float | None = None, error: str = "") -> TaskOutcome:
    spec = load_suite("sample").by_mteb_name[name]
    metric = load_suite("sample").main_metrics[spec.type]
    return TaskOutcome(spec, status, None, metric, score, 1.0, error)


def test_closing_table_has_type_and_suite_averages_and_wrapped_failures():
    reason = "the dataset file is corrupt: " + "x" * 200
    report = RunReport(
        [outcome("STSB", "done", 70.0), outcome("Waimai", "skipped", 80.0), outcome("Ocnli", "failed", error=reason)],
        suite=load_suite("sample"),
    )
    lines = summary_table(report).splitlines()
    assert max(map(len, lines)) <= 100 and lines[5] == lines[1] and set(lines[1]) == {"-"}
    assert [re.sub(r"\s+", " ", line) for line in lines[6:10]] == [
        "STS average 70.00",
        "Classification average 80.00",
        "sample average 75.00 (2/6)",
        "",
    ]
    assert lines[10].startswith("Ocnli failed: the dataset") and all(line.startswith("    x") for line in lines[11:])
    assert "".join(line.strip() for line in lines[10:]) == f"Ocnli failed: {reason}"


def test_closing_table_averages_are_the_reports(six_snapshots, tmp_path, capsys):
    assert run_sample("--data-dir", str(six_snapshots), "-o", str(tmp_path), "-t", "STSB,Ocnli,Waimai") == 0
    out = capsys.readouterr().out
    comp = evalkit.compare(next(tmp_path.glob("*/*")), suite="sample")
    average = comp.average.aggregates[0]
    assert (average.n_tasks, average.n_expected) == (3, 6)
    assert re.search(rf"^sample average\s+{average.score:.2f} \(3/6\)$", out, re.M)
    for row in comp.types:
        if row.aggregates[0].n_tasks:
            assert re.search(rf"^{row.name} average\s+{row.aggregates[0].score:.2f}$", out, re.M)


# ---------------------------------------------------------------- Markdown, PR comment, GitHub annotations


def regressing_comparison():
    cand = make_model("cand", 60.0, scores={"T2Retrieval": 58.0, "AFQMC": 61.0, "BQ": 60.3})
    return build_comparison(cand, [make_model("base", 60.0)], SUITE, tolerance=0.5)


def test_tasks_are_grouped_by_type_and_marked_beyond_the_tolerance():
    comp = regressing_comparison()
    assert [TASK_TYPES.index(r.type) for r in comp.tasks] == sorted(TASK_TYPES.index(r.type) for r in comp.tasks)
    md = render_markdown(comp)
    assert "| T2Retrieval | Retrieval | ndcg_at_10 | 58.00 | 60.00 | -2.00 ▼ |" in md
    assert "| AFQMC | STS | cos_sim_spearman | 61.00 | 60.00 | +1.00 ▲ |" in md
    assert "| BQ | STS | cos_sim_spearman | 60.30 | 60.00 | +0.30 |" in md
    assert "beyond the tolerance of ±0.5 points" in md


def test_pr_comment_puts_the_verdict_first_and_folds_the_tasks():
    md = render_markdown(regressing_comparison(), pr_comment=True)
    assert md.startswith("## ❌ cand: c-mteb average")
    verdict = "- vs base: ❌ 1 task(s) fell by more than 0.5 points: T2Retrieval (-2.00)"
    assert verdict in md
    assert md.index(verdict) < md.index("### Averages") < md.index("<details><summary>35 tasks, 1 marked ▼</summary>")
    assert md.index("<details>") < md.index("| T2Retrieval |") < md.index("</details>")
    ok = render_markdown(build_comparison(make_model("c"), [make_model("b")], SUITE, 0.5), pr_comment=True)
    assert ok.startswith("## ✅ c:") and "- vs b: ✅ no task fell by more than 0.5 points" in ok


def test_compare_pr_comment_is_markdown_only(monkeypatch, capsys):
    monkeypatch.setattr("evalkit.results.read.read_scores", lambda path, suite: [make_model(Path(path).name)])
    assert main(["compare", "cand", "base", "--pr-comment", "--tolerance", "1"]) == 0
    assert "no task fell by more than 1 points" in capsys.readouterr().out
    assert main(["compare", "cand", "base", "--pr-comment", "--format", "html"]) == 2
    assert "--pr-comment writes Markdown" in capsys.readouterr().err


def test_check_annotates_each_regressed_task_on_github_actions(monkeypatch, capsys):
    models = {"cand": make_model("cand", scores={"T2Retrieval": 58.0}, drop=("BQ",)), "base": make_model("base")}
    monkeypatch.setattr("evalkit.results.read.read_scores", lambda path, suite: [models[Path(path).name]])
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert main(["check", "cand", "--baseline", "base"]) == 1
    assert "::error" not in capsys.readouterr().out
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["check", "cand", "--baseline", "base"]) == 1
    annotations = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
    assert annotations == [
        "::error title=evalkit check%3A T2Retrieval regressed::T2Retrieval ndcg_at_10 fell from 60.00 (base) to "
        "58.00 (cand): -2.00 points, tolerance 0.5",
        "::error title=evalkit check%3A BQ missing::BQ is missing from cand (baseline base: cos_sim_spearman 60.00)",
    ]


def test_annotations_escape_workflow_command_syntax():
    result = run_gate(make_model("a%b\nc", scores={"BQ": 50.0}), make_model("base"), SUITE, Tolerances(0.5))
    (line,) = github_annotations(result)
    assert "\n" not in line and "a%25b%0Ac" in line


# ---------------------------------------------------------------- HTML charts


def test_html_delta_chart_shades_the_tolerance_and_averages_axis_is_zoomed():
    page = render_html(regressing_comparison())
    deltas = page[page.index('<figure id="chart-deltas">') : page.index("</figure>", page.index("chart-deltas"))]
    assert "shaded: ±0.5 tolerance" in deltas
    labels = re.findall(r"<text[^>]*>([A-Za-z0-9-]+)</text>", deltas)
    assert [t for t in labels if t in TASK_TYPES] == list(TASK_TYPES)  # group labels in type order
    averages = page[page.index('<figure id="chart-averages">') :]
    assert "axis from 55 (not 0)" in averages


# ---------------------------------------------------------------- hub hints and prefetch


def _prefetch(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "run_eval.py"), "prefetch", "--data-dir", str(tmp_path), "-t", "STSB"],
        capture_output=True,
        text=True,
        env=child_env(offline=False, HF_HUB_DISABLE_XET="1", **env),
        timeout=HANG,
    )


def test_prefetch_fails_fast_in_one_line_when_the_hub_is_unreachable(tmp_path):
    proc = _prefetch({"HF_ENDPOINT": "http://127.0.0.1:9"}, tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot reach the Hugging Face hub at http://127.0.0.1:9" in proc.stderr


def test_prefetch_goes_through_the_configured_proxy(tmp_path):
    seen = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.path)
            self.send_error(503, "proxy says no")

        def do_HEAD(self):  # noqa: N802
            self.do_GET()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"HF_ENDPOINT": "http://hub.evalkit.invalid", "HTTP_PROXY": f"http://127.0.0.1:{server.server_port}"}
        proc = _prefetch(env, tmp_path)
    finally:
        server.shutdown()
    assert any(path.startswith("http://hub.evalkit.invalid/api/datasets/mteb/STSB") for path in seen)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot reach the Hugging Face hub at http://hub.evalkit.invalid" in proc.stderr and "503" in proc.stderr


# ---------------------------------------------------------------- warnings


def test_library_warnings_stay_out_of_compare_unless_debug():
    stella = shared_path("reference-results", "dunzhang__stella-mrl-large-zh-v3.5-1792d")
    leaderboard = stella.parent
    command = [sys.executable, str(REPO / "run_eval.py"), "compare", str(stella), "--leaderboard", str(leaderboard)]
    quiet = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=HANG)
    assert quiet.returncode == 0 and quiet.stderr == ""
    loud = subprocess.run([*command, "--debug"], capture_output=True, text=True, env=child_env(), timeout=HANG)
    assert "Main score map_at_1000 not found" in loud.stderr


# ---------------------------------------------------------------- the embedded demo and the README


def test_demo_scores_are_plausible_and_it_says_what_next(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    scores = evalkit.load_results(tmp_path / "results" / "sample", suite="sample")
    main_scores = {t: scores.main_score(t, SUITE.main_metrics) for t in SIX_TASKS}
    assert all(v is not None and v > 20 for v in main_scores.values()), main_scores
    assert main_scores["STSB"] > 40  # natural pairs: the English MiniLM still ranks them sensibly
    assert "That was the demo" in out and "run -m YOUR_MODEL -b 'MTEB(cmn, v1)'" in out


def test_readme_stands_on_its_own():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "hf download iampanda/zpoint_large_embedding_zh README.md --local-dir zpoint" in readme
    assert "huggingface-cli" not in readme and "hf download --repo-type dataset <repo id>" in readme
    paragraphs = readme.split("\n\n")
    for paragraph in (p for p in paragraphs if "../shared" in p):  # it says so, and offers real snapshots instead
        assert "this repository" in paragraph and "--data-dir" in paragraph, paragraph
    assert "--data-dir D" in (REPO / "benchmarks" / "benchmark.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", [[], ["run"], ["tasks"], ["prefetch"], ["compare"], ["check"], ["card", "emit"]])
def test_every_help_explains_the_debug_flag_and_suites(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "-v, --debug" in out
    assert "MTEB(cmn, v1)" in out


# ---------------------------------------------------------------- the suite itself


def test_every_subprocess_of_a_test_gets_the_cleaned_environment():
    """No test's subprocess inherits the caller's offline, proxy or GitHub variables (TRANSFORMERS_OFFLINE=1, a
    proxy): each passes `env=child_env(...)` (or a variable holding it)."""
    import ast

    loose = []
    for path in sorted((REPO / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            call = node if isinstance(node, ast.Call) else None
            if call and ast.unparse(call.func) in ("subprocess.run", "subprocess.Popen"):
                env = next((k.value for k in call.keywords if k.arg == "env"), None)
                if env is None or ("child_env" not in ast.unparse(env) and not isinstance(env, ast.Name)):
                    loose.append(f"{path.name}:{call.lineno}")
    assert not loose, loose
