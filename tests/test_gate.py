"""The regression gate: verdicts, tolerances, sampled runs, JUnit XML, step summary and the `check` command."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from conftest import HANG, child_env
from test_report import SEED_CARD, SUITE, make_model, needs_shared

from evalkit.errors import UserError
from evalkit.report.gate import Tolerances, format_markdown, format_table, junit_xml, load_tolerances, run_gate

REPO = Path(__file__).resolve().parents[1]


def gate(candidate, baseline, tolerance=0.5, **kwargs):
    return run_gate(candidate, baseline, SUITE, Tolerances(tolerance), **kwargs)


@pytest.mark.parametrize("drop, passed", [(0.0, True), (0.3, True), (0.5, True), (0.51, False), (1.0, False)])
def test_a_drop_fails_only_beyond_the_tolerance(drop, passed):
    result = gate(
        make_model("cand", scores={"CovidRetrieval": 80.0 - drop}), make_model("base", scores={"CovidRetrieval": 80.0})
    )
    assert result.passed is passed
    assert [c.task for c in result.failures] == ([] if passed else ["CovidRetrieval"])


def test_missing_task_fails_unless_allowed():
    cand, base = make_model("cand", drop=("STSB",)), make_model("base")
    result = gate(cand, base)
    assert not result.passed and [(c.task, c.status) for c in result.failures] == [("STSB", "missing")]
    assert "FAIL" in format_table(result) and "STSB" in format_table(result)
    assert gate(cand, base, allow_missing=True).passed


def test_only_baseline_tasks_are_checked():
    result = gate(make_model("cand"), make_model("base", drop=("STSB", "BQ")))
    assert result.passed and len(result.checks) == 33


def test_table_shows_regressions_and_improvements():
    cand = make_model("cand", scores={"AFQMC": 58.0, "BQ": 65.0, "ATEC": 60.2})
    text = format_table(gate(cand, make_model("base")))
    lines = text.splitlines()
    assert lines[0].split() == ["status", "task", "type", "baseline", "candidate", "delta", "tolerance"]
    assert lines[1].split() == ["REGRESSED", "AFQMC", "STS", "60.00", "58.00", "-2.00", "0.5"]
    assert lines[2].split()[:2] == ["improved", "BQ"]
    assert "ATEC" not in text  # within tolerance
    assert lines[-1].startswith("FAIL: cand vs base, 35 tasks (1 regressed, 1 improved, 33 ok): AFQMC")


def test_table_lists_the_ten_most_improved_tasks():
    result = gate(
        make_model("cand", scores={s.mteb_task: 61.0 + i / 10 for i, s in enumerate(SUITE.tasks)}), make_model("base")
    )
    rows = format_table(result).splitlines()[1:-2]
    assert len(rows) == 10 and rows[0].split()[1] == SUITE.tasks[-1].mteb_task
    assert "35 improved" in format_table(result)


def test_tolerance_file_task_beats_type_beats_default(tmp_path):
    path = tmp_path / "tol.yaml"
    path.write_text("default: 1.0\nRetrieval: 2\nCovidRetrieval: 0.1\nCMedQAv1: 3  # card name\n")
    tol = load_tolerances(path, SUITE, default=0.5)
    by_name = {s.mteb_task: tol.for_task(s) for s in SUITE.tasks}
    assert (by_name["CovidRetrieval"], by_name["DuRetrieval"], by_name["AFQMC"], by_name["CMedQAv1-reranking"]) == (
        0.1,
        2.0,
        1.0,
        3.0,
    )
    assert load_tolerances(None, SUITE, 0.7).for_task(SUITE.tasks[0]) == 0.7


@pytest.mark.parametrize(
    "text, message",
    [
        ("NoSuchTask: 1\n", "neither a task"),
        ("STS: -1\n", ">= 0"),
        ("STS: lots\n", ">= 0"),
        ("- 1\n", "mapping"),
        ("STS: [1\n", "not valid YAML"),
        ("x: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ],
)
def test_bad_tolerance_files_are_user_errors(tmp_path, text, message):
    path = tmp_path / "tol.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_tolerances(path, SUITE)


def test_sampled_results_compare_only_with_the_same_sample():
    sampled = "limit=100,seed=42"
    assert gate(make_model("cand", sampled=sampled), make_model("base", sampled=sampled)).passed
    with pytest.raises(UserError, match="candidate limit=100,seed=42, baseline full run"):
        gate(make_model("cand", sampled=sampled), make_model("base"))
    with pytest.raises(UserError, match="same --limit and seed"):
        gate(make_model("cand", sampled="limit=50,seed=42"), make_model("base", sampled=sampled))


def test_junit_xml_has_a_case_per_task_and_failures_named():
    result = gate(make_model("cand", scores={"AFQMC": 50.0}, drop=("STSB",)), make_model("base"))
    suite = ET.fromstring(junit_xml(result)).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("35", "2", "0")
    failed = {
        c.get("name"): c.find("failure").get("type") for c in suite.iter("testcase") if c.find("failure") is not None
    }
    assert failed == {"AFQMC": "regressed", "STSB": "missing"}
    allowed = ET.fromstring(junit_xml(gate(make_model("cand", drop=("STSB",)), make_model("base"), allow_missing=True)))
    assert allowed.find("testsuite").get("skipped") == "1"


def test_markdown_summary_escapes_pipes():
    md = format_markdown(gate(make_model("a|b", scores={"AFQMC": 50.0}), make_model("base")))
    assert md.startswith("### ❌ evalkit check") and "a\\|b" in md and "| REGRESSED | AFQMC |" in md


# ---------------------------------------------------------------- the `check` command on real cards


def check(*args: str, summary: Path | None = None) -> subprocess.CompletedProcess:
    """`run_eval.py check ARGS`, with $GITHUB_STEP_SUMMARY set to `summary` only."""
    env = child_env()
    if summary:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    return subprocess.run(
        [sys.executable, "run_eval.py", "check", *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=HANG
    )


def write_card(tmp_path: Path, name: str, change) -> Path:
    """A copy of the seed card in tmp_path, its model-index results passed through `change`."""
    text = SEED_CARD.read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---")[1])
    results = front["model-index"][0]["results"]
    front["model-index"][0]["results"] = change(results)
    path = tmp_path / name / "README.md"
    path.parent.mkdir()
    path.write_text("---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n", encoding="utf-8")
    return path


def lower(dataset_name: str, metric: str, points: float):
    def change(results):
        for result in results:
            if result["dataset"]["name"] == dataset_name:
                for m in result["metrics"]:
                    if m["type"] == metric:
                        m["value"] -= points
        return results

    return change


@needs_shared
def test_check_passes_the_card_against_itself():
    run = check(str(SEED_CARD), "--baseline", str(SEED_CARD))
    assert run.returncode == 0, run.stderr
    assert "PASS" in run.stdout and "35 ok" in run.stdout


@needs_shared
def test_check_passes_a_small_drop_and_fails_a_large_one(tmp_path):
    small = write_card(tmp_path, "small", lower("MTEB CovidRetrieval", "ndcg_at_10", 0.3))
    large = write_card(tmp_path, "large", lower("MTEB CovidRetrieval", "ndcg_at_10", 1.0))
    passed = check(str(small), "--baseline", str(SEED_CARD), "--tolerance", "0.5")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    failed = check(
        str(large), "--baseline", str(SEED_CARD), "--tolerance", "0.5", "--junit", str(tmp_path / "junit.xml")
    )
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.splitlines()[1].split()[:2] == ["REGRESSED", "CovidRetrieval"]
    assert failed.stdout.rstrip().endswith("35 tasks (1 regressed, 34 ok): CovidRetrieval")
    assert 'name="CovidRetrieval"' in (tmp_path / "junit.xml").read_text()


@needs_shared
def test_check_fails_a_candidate_missing_a_task_and_names_it(tmp_path):
    lacking = write_card(tmp_path, "lacking", lambda rs: [r for r in rs if r["dataset"]["name"] != "MTEB T2Retrieval"])
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    run = check(str(lacking), "--baseline", str(SEED_CARD), summary=summary)
    assert run.returncode == 1, run.stderr
    assert run.stdout.splitlines()[1].split()[:2] == ["MISSING", "T2Retrieval"]
    assert summary.read_text().startswith("earlier step\n### ❌ evalkit check")
    assert check(str(lacking), "--baseline", str(SEED_CARD), "--allow-missing").returncode == 0


@needs_shared
def test_check_bad_input_exits_2(tmp_path):
    missing = check(str(tmp_path / "nope"), "--baseline", str(SEED_CARD))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    tol = tmp_path / "tol.yaml"
    tol.write_text("Retrievl: 1\n")
    bad = check(str(SEED_CARD), "--baseline", str(SEED_CARD), "--tolerance-file", str(tol))
    assert bad.returncode == 2 and "'Retrievl'" in bad.stderr
    assert check(str(SEED_CARD), "--baseline", str(SEED_CARD), "--tolerance", "-1").returncode == 2
