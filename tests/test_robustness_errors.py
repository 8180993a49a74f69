"""Issue 6: user mistakes are one clear line with exit status 2; untrusted files run nothing and write nowhere else."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import HANG, REPO, child_env

from evalkit.cli import main
from evalkit.results import files as results
from evalkit.suite import load_suite

SUITE = load_suite("c-mteb")
STSB = SUITE.by_mteb_name["STSB"]
GOOD_TASK = "  - name: STSB\n    type: STS\n    split: test\n"
METRICS = "main_metrics:\n  STS: cos_sim_spearman\n"


def _card(name: str = "my-model", value: object = 80.5, extra: str = "") -> str:
    """A model card with one C-MTEB result (STSB)."""
    card = STSB.card
    dataset = {"type": card.type, "name": card.name, "config": card.config, "split": card.split, "revision": "None"}
    result = {"task": {"type": "STS"}, "dataset": dataset, "metrics": [{"type": "cos_sim_spearman", "value": value}]}
    front = yaml.safe_dump({"model-index": [{"name": name, "results": [result]}]}, sort_keys=False)
    return f"---\nlicense: mit\n{extra}{front}---\n# My model\n"


def _one_error_line(argv: list[str], capsys) -> str:
    """Run the CLI, expecting exit status 2 and exactly one `error: ...` line on stderr, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


SUITE_MISTAKES = [
    # (suite text, the line the error names, what it says); METRICS is lines 2-3, `tasks:` line 4, GOOD_TASK 5-7
    ("name: x\n" + METRICS + "tasks:\n  - name: STSB\n    split: [test\n", 7, "not valid YAML"),
    ("name: x\n" + METRICS + "tasks:\n" + GOOD_TASK + "    split: dev\n", 8, "duplicate key 'split' (first on line 7)"),
    ("name: x\n" + METRICS + "tasks:\n  - name: STSB\n    type: STS\n    splitt: test\n", 7, "did you mean split"),
    ("name: x\n" + METRICS + "tasks:\n  - name: STSB\n    type: Retreival\n", 6, "did you mean Retrieval?"),
    ("name: x\nmain_metrics:\n  STS: cos_sim_spearmen\ntasks:\n" + GOOD_TASK, 3, "did you mean cos_sim_spearman"),
    ("name: x\nmain_metrics:\n  Retrieval: ndcg_at_10\ntasks:\n" + GOOD_TASK, 2, "no entry for task type STS"),
    ("name: x\n" + METRICS + "tasks:\n  - name: STSB\n    type: STS\n    split: [test]\n", 7, "`split` is a list"),
    ("name: x\n" + METRICS + "tasks:\n" + GOOD_TASK + "    card:\n      revison: abc\n", 9, "did you mean revision?"),
    ("name: x\n" + METRICS + "tasks:\n" + GOOD_TASK + GOOD_TASK, 8, "task STSB is listed twice"),
    ("name: x\n" + METRICS + "taks:\n" + GOOD_TASK, 4, "unknown key 'taks'; did you mean tasks?"),
    ("name: x\n" + METRICS + "tasks: {}\n", 4, "non-empty `tasks` list"),
    ("name: x\n" + METRICS + "tasks:\n" + GOOD_TASK + "    limit: 0\n", 8, "`limit` is a sample size"),
    ("name: x\n" + METRICS + "tasks:\n" + GOOD_TASK + "    limit: many\n", 8, "`limit` is a sample size"),
]


@pytest.mark.parametrize(("text", "line", "message"), SUITE_MISTAKES)
def test_malformed_suite_names_file_line_and_key(tmp_path, capsys, text, line, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    error = _one_error_line(["tasks", "--suite", str(path)], capsys)
    assert error.startswith(f"error: {path}:{line}: ") and message in error


def test_a_suite_that_is_not_utf8_or_not_a_file(tmp_path, capsys):
    (tmp_path / "latin.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert "cannot read suite" in _one_error_line(["tasks", "--suite", str(tmp_path / "latin.yaml")], capsys)
    assert "does not exist" in _one_error_line(["tasks", "--suite", str(tmp_path / "absent.yaml")], capsys)


def test_the_real_entry_point_prints_one_line_and_exits_2(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(SUITE_MISTAKES[1][0], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(REPO / "run_eval.py"), "tasks", "--suite", str(path)],
        capture_output=True, text=True, env=child_env(), timeout=HANG, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: {path}:8: not valid YAML (duplicate key 'split' (first on line 7))"


@pytest.mark.parametrize(
    ("option", "value", "suggestion"),
    [("--tasks", "STSX", "did you mean STSB"), ("--types", "Retreival", "did you mean Retrieval"),
     ("--suite", "sampel", "did you mean sample")],
)  # fmt: skip
def test_unknown_names_suggest_the_closest(tmp_path, capsys, option, value, suggestion):
    argv = [
        "run",
        "--model",
        "bundled:minilm",
        "--suite",
        "sample",
        "--output-dir",
        str(tmp_path / "out"),
        option,
        value,
    ]
    assert suggestion in _one_error_line(argv, capsys)
    assert not (tmp_path / "out").exists()


CARD_MISTAKES = [
    (_card().replace("license: mit\n", "license: [mit\n"), ":3: front matter is not valid YAML"),
    (_card(extra="license: apache-2.0\n"), ":3: front matter is not valid YAML (duplicate key 'license'"),
    ("---\nlicense: mit\n---\n", ":2: the front matter has no `model-index` list"),
    (_card(value="high"), ":15: model-index entry #1, result #1: each metric needs a `type` name and a numeric"),
    (_card(value=10**400), ":15: model-index entry #1, result #1: each metric needs"),
    (
        _card().replace("metrics:\n", "metrics: 80\n").replace("    - type: cos_sim_spearman\n      value: 80.5\n", ""),
        ":14: model-index entry #1, result #1: `metrics` is a list",
    ),
    ("# just a README\n", "no YAML front matter"),
    ("---\nlicense: mit\nmodel-index: !!python/object/apply:os.getcwd []\n---\n", ":3: front matter is not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), CARD_MISTAKES)
def test_malformed_card_is_one_line_and_writes_nothing(tmp_path, capsys, text, message):
    card = tmp_path / "README.md"
    card.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    error = _one_error_line(["card", "import", str(card), "--output-dir", str(out)], capsys)
    assert error.startswith(f"error: {card}") and message in error
    assert not out.exists()
    assert _one_error_line(["compare", str(card)], capsys) == error


def test_a_card_of_bytes_or_a_folder_named_like_one(tmp_path, capsys):
    (tmp_path / "bytes.md").write_bytes(b"---\n\xff\xfe\x00\n---\n")
    assert "cannot read" in _one_error_line(["card", "emit", str(tmp_path / "bytes.md")], capsys)
    (tmp_path / "nul.md").write_text("---\nname: a\x00b\n---\n", encoding="utf-8")
    assert "nul.md:2: front matter is not valid YAML" in _one_error_line(
        ["card", "emit", str(tmp_path / "nul.md")], capsys
    )


def test_update_refuses_a_readme_it_cannot_edit_and_leaves_it(tmp_path, capsys):
    card = tmp_path / "card.md"
    card.write_text(_card(), encoding="utf-8")
    for text in ("---\nlicense: [mit\n---\nbody\n", "---\n{license: mit}\n---\nbody\n", "---\n- a list\n---\n"):
        readme = tmp_path / "README.md"
        readme.write_bytes(text.encode())
        error = _one_error_line(["card", "emit", str(card), "--update", str(readme)], capsys)
        assert error.startswith(f"error: {readme}")
        assert readme.read_bytes() == text.encode()


@pytest.mark.parametrize("content", ["empty", "other files", "only model_meta"])
def test_a_folder_without_results(tmp_path, capsys, content):
    folder = tmp_path / "results"
    folder.mkdir()
    if content == "other files":
        (folder / "notes.txt").write_text("hello")
        (folder / "org__m" / "rev").mkdir(parents=True)
        (folder / "org__m" / "rev" / "NotATask.json").write_text('{"a": 1}')
    elif content == "only model_meta":
        (folder / "org__m" / "rev").mkdir(parents=True)
        (folder / "org__m" / "rev" / "model_meta.json").write_text('{"name": "org/m"}')
    before = _files(tmp_path)
    card = tmp_path / "card.md"
    card.write_text(_card(), encoding="utf-8")
    expected = f"error: {folder}: no results of suite 'c-mteb' found"
    out = tmp_path / "report.md"
    junit = tmp_path / "junit.xml"
    for argv in (
        ["compare", str(folder), "--output", str(out)],
        ["compare", str(card), str(folder), "--output", str(out)],
        ["compare", str(card), "--leaderboard", str(folder), "--output", str(out)],
        ["check", str(folder), "--baseline", str(card), "--junit", str(junit)],
        ["check", str(card), "--baseline", str(folder), "--junit", str(junit)],
        ["card", "emit", str(folder), "--output", str(out)],
    ):
        assert _one_error_line(argv, capsys).startswith(expected), argv
    assert _files(tmp_path) == sorted([*before, card])


def test_a_truncated_result_file_is_named_with_its_line(tmp_path, capsys):
    path = tmp_path / "org__m" / "rev" / "STSB.json"
    path.parent.mkdir(parents=True)
    path.write_text('{\n  "task_name": "STSB",\n  "scores": {"test": [{"main_sc', encoding="utf-8")
    error = _one_error_line(["card", "emit", str(tmp_path)], capsys)
    assert error.startswith(f"error: {path}:3: not valid JSON")
    assert path.read_text(encoding="utf-8").endswith('"main_sc')


@pytest.mark.parametrize("name", ["../../escape", "/tmp/absolute", "..", "a/../../b", "~", ".hidden", "C:\\x", ""])
def test_card_import_writes_only_under_the_output_folder(tmp_path, capsys, name):
    card = tmp_path / "card.md"
    card.write_text(_card(name=name), encoding="utf-8")
    out = tmp_path / "deep" / "out"
    assert main(["card", "import", str(card), "--output-dir", str(out)]) == 0
    written = [p for p in _files(tmp_path) if p != card]
    assert written and all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert all(not part.startswith(".") for p in written for part in p.relative_to(out).parts)
    assert len(list(out.iterdir())) == 1


@pytest.mark.parametrize("name", ["../../escape", "/etc/passwd", "..", ".", "a/../../b", "\\..\\..\\x", "\0", ""])
def test_result_paths_stay_inside_the_output_folder(tmp_path, name):
    folder = results.model_dir(tmp_path, name, name)
    path = results.task_file(folder, name)
    assert path.resolve().parent.parent.parent == tmp_path.resolve()
    assert path.name.endswith(".json") and not path.name.startswith(".")


def test_yaml_is_only_ever_loaded_safely():
    unsafe = re.compile(r"yaml\.(load|load_all|full_load|unsafe_load)\(|Loader=yaml\.(Loader|FullLoader|UnsafeLoader)")
    offenders = [p.name for p in (REPO / "evalkit").glob("*.py") if unsafe.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_yaml_tags_that_would_run_code_are_refused(tmp_path, capsys):
    marker = tmp_path / "was-run"
    tag = f"!!python/object/apply:os.mkdir ['{marker}']"
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: {tag}\n" + METRICS + "tasks:\n" + GOOD_TASK, encoding="utf-8")
    assert "not valid YAML" in _one_error_line(["tasks", "--suite", str(suite)], capsys)
    card = tmp_path / "card.md"
    card.write_text(_card(extra=f"thumbnail: {tag}\n"), encoding="utf-8")
    assert "not valid YAML" in _one_error_line(["compare", str(card)], capsys)
    tolerances = tmp_path / "tolerances.yaml"
    tolerances.write_text(f"STS: {tag}\n", encoding="utf-8")
    check = ["check", str(card.with_name("ok.md")), "--baseline", str(card.with_name("ok.md"))]
    card.with_name("ok.md").write_text(_card(), encoding="utf-8")
    assert "not valid YAML" in _one_error_line([*check, "--tolerance-file", str(tolerances)], capsys)
    assert not marker.exists()


def test_card_content_is_escaped_in_the_html_report(tmp_path):
    card = tmp_path / "card.md"
    card.write_text(_card(name='<script>alert("x")</script><img src=x onerror=1>'), encoding="utf-8")
    page_path = tmp_path / "report.html"
    assert main(["compare", str(card), "--output", str(page_path)]) == 0
    page = page_path.read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
