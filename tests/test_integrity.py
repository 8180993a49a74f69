"""Issue 15: nothing wrong reaches a card or a gate; user files are never changed or deleted; bad input is one line.

Each test follows a reproduction of the issue (the numbers in the names are its items). Runs of the model, the
embedding cache and the property-based corruption test are in `test_integrity_runs.py`.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from conftest import HANG, REPO, child_env
from test_gate import gate
from test_report import SEED_CARD, SUITE, make_model, needs_shared

import evalkit
from evalkit.cli import main
from evalkit.errors import OptionError, UserError
from evalkit.report.comparison import build_comparison
from evalkit.report.gate import format_markdown, junit_xml
from evalkit.report.render import render, render_csv
from evalkit.text import md_escape

STSB = SUITE.by_mteb_name["STSB"]


def card_text(name: str = "my-model", values: tuple = (80.5,), extra: str = "", newline: str = "\n") -> str:
    """A model card whose model-index lists STSB once per value (cos_sim_spearman), after a `license` key."""
    card = STSB.card
    dataset = {"type": card.type, "name": card.name, "config": card.config, "split": card.split, "revision": "None"}
    results = [
        {"task": {"type": "STS"}, "dataset": dataset, "metrics": [{"type": "cos_sim_spearman", "value": value}]}
        for value in values
    ]
    front = yaml.safe_dump({"model-index": [{"name": name, "results": results}]}, sort_keys=False)
    return f"---\nlicense: mit\n{extra}{front}---\n# My model\n".replace("\n", newline)


def write_card(path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(card_text(**kwargs).encode())
    return path


def one_error_line(argv: list[str], capsys) -> str:
    """Run the CLI in this process, expecting exit status 2 and one `error: ...` line on stderr, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def cli(*args: str) -> subprocess.CompletedProcess:
    """`run_eval.py ARGS` in a subprocess (for inputs that could hang or exhaust memory)."""
    return subprocess.run(
        [sys.executable, "run_eval.py", *args], cwd=REPO, capture_output=True, text=True, env=child_env(), timeout=HANG
    )


def imported_stsb(tmp_path: Path, value: float = 80.5, name: str = "m") -> Path:
    """A results folder holding STSB as mteb result JSON (imported from a one-task card)."""
    card = write_card(tmp_path / f"card-{name}-{value}.md", name=name, values=(value,))
    (folder,) = evalkit.import_card(card, tmp_path / f"imported-{name}-{value}", suite=SUITE)
    return folder


# ---------------------------------------------------------------- 2: `card emit --update` keeps bytes


def test_2_update_keeps_crlf_line_endings(tmp_path, capsys):
    readme = write_card(tmp_path / "README.md", values=(10.0,), newline="\r\n")
    source = write_card(tmp_path / "src" / "README.md", values=(90.0,))
    assert main(["card", "emit", str(source), "--update", str(readme)]) == 0
    data = readme.read_bytes()
    assert b"90" in data and data.count(b"\r\n") == data.count(b"\n")  # every line still ends in CRLF
    assert data.endswith(b"# My model\r\n")


def test_2_update_keeps_the_mode(tmp_path):
    readme = write_card(tmp_path / "README.md", values=(10.0,))
    readme.chmod(0o664)
    source = write_card(tmp_path / "src" / "README.md", values=(90.0,))
    assert main(["card", "emit", str(source), "--update", str(readme)]) == 0
    assert readme.stat().st_mode & 0o777 == 0o664


def test_2_update_of_a_symlink_updates_its_target(tmp_path):
    target = write_card(tmp_path / "cards" / "README.md", values=(10.0,))
    link = tmp_path / "README.md"
    link.symlink_to(target)
    source = write_card(tmp_path / "src" / "README.md", values=(90.0,))
    assert main(["card", "emit", str(source), "--update", str(link)]) == 0
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert "value: 90" in target.read_text()


# ---------------------------------------------------------------- 3: `card import` never merges two cards


@needs_shared
def test_3_a_second_card_with_the_same_name_is_refused(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["card", "import", str(SEED_CARD), "--output-dir", str(out)]) == 0
    other = write_card(tmp_path / "other" / "README.md", name="zpoint_large_embedding_zh", values=(10.0,))
    line = one_error_line(["card", "import", str(other), "--output-dir", str(out)], capsys)
    assert "already holds results imported from" in line and str(SEED_CARD) in line
    average = evalkit.compare(out / "zpoint_large_embedding_zh").average.aggregates[0]
    assert (average.n_tasks, round(average.score, 2)) == (35, 71.88)  # the seed's own average, unmixed
    assert main(["card", "import", str(SEED_CARD), "--output-dir", str(out)]) == 0  # the same card again is fine


def test_3_two_entries_of_one_card_that_map_to_one_folder_are_refused(tmp_path, capsys):
    one, two = card_text(name="."), card_text(name="..")
    entries = yaml.safe_load(one.split("---")[1])["model-index"] + yaml.safe_load(two.split("---")[1])["model-index"]
    card = tmp_path / "README.md"
    card.write_text("---\n" + yaml.safe_dump({"model-index": entries}, sort_keys=False) + "---\n")
    line = one_error_line(["card", "import", str(card), "--output-dir", str(tmp_path / "o")], capsys)
    assert "'.' and '..' would both go to" in line
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- 5: NaN never passes the gate


def test_5_a_nan_baseline_on_a_card_fails_a_candidate_of_minus_99(tmp_path, capsys):
    baseline = write_card(tmp_path / "base.md", values=(math.nan,))
    candidate = write_card(tmp_path / "cand.md", values=(-99.0,))
    assert ".nan" in baseline.read_text()
    assert main(["check", str(candidate), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "FAIL" in out and "STSB" in out


def test_5_a_nan_baseline_in_a_result_file_fails_the_gate(tmp_path, capsys):
    folder = imported_stsb(tmp_path)
    path = folder / "STSB.json"
    data = json.loads(path.read_text())
    data["scores"]["test"][0]["cosine_spearman"] = math.nan
    path.write_text(json.dumps(data))
    candidate = write_card(tmp_path / "cand.md", values=(-99.0,))
    assert main(["check", str(candidate), "--baseline", str(folder)]) == 1
    assert "baseline has no finite cos_sim_spearman" in junit_xml(evalkit.check(candidate, baseline=folder))


def test_5_a_nan_candidate_fails_even_where_missing_tasks_are_allowed():
    candidate = make_model("cand", scores={"STSB": math.nan})
    candidate.tasks["STSB"].metrics.pop("cos_sim_spearman")  # as the reader leaves a NaN score: absent
    result = gate(candidate, make_model("base"), allow_missing=True)
    assert not result.passed and [c.task for c in result.failures] == ["STSB"]
    assert result.failures[0].status == "invalid"


# ---------------------------------------------------------------- 6: revisions merge by date, never alphabetically


def _two_revisions(tmp_path: Path, dates: tuple[float | None, float | None]) -> Path:
    """`model/0aaa_old/STSB.json` (90 points) and `model/f123_new/STSB.json` (10 points), with these dates."""
    model = tmp_path / "org__model"
    for (revision, value), date in zip((("0aaa_old", 90.0), ("f123_new", 10.0)), dates):
        folder = model / revision
        shutil.copytree(imported_stsb(tmp_path, value), folder)
        (folder / "model_meta.json").unlink()
        data = json.loads((folder / "STSB.json").read_text())
        data["date"] = date
        (folder / "STSB.json").write_text(json.dumps(data))
    return model


def test_6_the_newest_revision_is_gated(tmp_path, capsys):
    model = _two_revisions(tmp_path, (1_700_000_000.0, 1_750_000_000.0))
    baseline = write_card(tmp_path / "base.md", values=(50.0,))
    assert main(["check", str(model), "--baseline", str(baseline)]) == 1  # f123_new's 10 points, not 0aaa_old's 90
    assert "REGRESSED" in capsys.readouterr().out
    assert evalkit.load_results(model).tasks["STSB"].revision == "f123_new"


def test_6_undated_conflicting_revisions_are_refused_naming_both(tmp_path, capsys):
    model = _two_revisions(tmp_path, (None, None))
    baseline = write_card(tmp_path / "base.md", values=(50.0,))
    line = one_error_line(["check", str(model), "--baseline", str(baseline)], capsys)
    assert "0aaa_old" in line and "f123_new" in line


@needs_shared
def test_6_the_report_says_which_revision_each_score_came_from(tmp_path, capsys):
    (card,) = evalkit.import_card(SEED_CARD, tmp_path / "imported")
    model = tmp_path / "org__model"
    for revision, names in (("rev_a", ("STSB", "AFQMC")), ("rev_b", ("Ocnli", "Waimai"))):
        (model / revision).mkdir(parents=True)
        for name in names:
            shutil.copy(card / f"{name}.json", model / revision / f"{name}.json")
    assert main(["compare", str(model), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "merges 2 revisions" in out and "from rev_a" in out and "from rev_b" in out
    rows = {r.mteb_task: r.revisions[0] for r in evalkit.compare(model).tasks if r.scores[0] is not None}
    assert rows == {"STSB": "rev_a", "AFQMC": "rev_a", "Ocnli": "rev_b", "Waimai": "rev_b"}


# ---------------------------------------------------------------- 7: sampled results keep their mark


def _sampled_copy(tmp_path: Path) -> Path:
    """STSB.json of a `--limit` run, copied into a folder without its model_meta.json."""
    folder = imported_stsb(tmp_path)
    data = json.loads((folder / "STSB.json").read_text()) | {"sampled": "limit=100,seed=42"}
    copy = tmp_path / "copied" / "org__model" / "rev"
    copy.mkdir(parents=True)
    (copy / "STSB.json").write_text(json.dumps(data))
    return copy


def test_7_copied_sampled_results_never_reach_a_card(tmp_path, capsys):
    line = one_error_line(["card", "emit", str(_sampled_copy(tmp_path))], capsys)
    assert "sampled result (limit=100,seed=42)" in line


def test_7_copied_sampled_results_are_not_gated_against_a_full_baseline(tmp_path, capsys):
    baseline = write_card(tmp_path / "base.md")
    line = one_error_line(["check", str(_sampled_copy(tmp_path)), "--baseline", str(baseline)], capsys)
    assert "cannot compare sampled with full results" in line


# ---------------------------------------------------------------- 8 (reading side): one folder, one identity


def test_8_a_folder_mixing_model_identities_is_refused(tmp_path, capsys):
    folder = imported_stsb(tmp_path)
    for task, identity in (("STSB", "a" * 32), ("BQ", "b" * 32)):
        data = json.loads((folder / "STSB.json").read_text()) | {"model_identity": identity, "task_name": task}
        (folder / f"{task}.json").write_text(json.dumps(data))
    line = one_error_line(["card", "emit", str(folder)], capsys)
    assert "mixes results of 2 model identities" in line


# ---------------------------------------------------------------- 9: a task listed twice on a card


def test_9_a_card_listing_a_task_twice_names_both_lines(tmp_path, capsys):
    card = write_card(tmp_path / "README.md", values=(10.0, 90.0))
    line = one_error_line(["card", "emit", str(card)], capsys)
    first, second = (i + 1 for i, text in enumerate(card.read_text().splitlines()) if text.startswith("  - task:"))
    assert f"README.md:{second}:" in line and f"README.md:{first}" in line and "STSB is listed twice" in line


# ---------------------------------------------------------------- 10, 11: bounded input, regular files only

LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n" for i in range(10))


def test_10_billion_laughs_in_a_card_or_tolerance_file_is_one_line(tmp_path):
    assert len(LAUGHS) < 1024
    card = tmp_path / "README.md"
    card.write_text(f"---\n{LAUGHS}{card_text().split('---')[1].lstrip()}---\n")
    tolerances = tmp_path / "tol.yaml"
    tolerances.write_text(LAUGHS)
    base = write_card(tmp_path / "base.md")
    for args in (
        ["card", "emit", str(card)],
        ["check", str(base), "--baseline", str(base), "--tolerance-file", str(tolerances)],
    ):
        run = cli(*args)
        assert run.returncode == 2, run.stderr
        assert run.stderr.count("\n") == 1 and "once its aliases are expanded" in run.stderr


def test_10_deep_nesting_is_one_line(tmp_path, capsys):
    card = tmp_path / "README.md"
    card.write_text("---\nx: " + "[" * 5000 + "]" * 5000 + "\n---\n")
    assert "nested" in one_error_line(["card", "emit", str(card)], capsys)


def test_11_a_result_file_linked_to_dev_zero_is_one_line(tmp_path):
    folder = tmp_path / "org__model" / "rev"
    folder.mkdir(parents=True)
    (folder / "STSB.json").symlink_to("/dev/zero")
    run = cli("compare", str(folder))
    assert run.returncode == 2 and "STSB.json: cannot read (not a regular file)" in run.stderr, run.stderr


def test_11_a_fifo_result_file_does_not_hang_compare(tmp_path):
    folder = tmp_path / "org__model" / "rev"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "STSB.json")
    run = cli("compare", str(folder))
    assert run.returncode == 2 and "not a regular file" in run.stderr, run.stderr


def test_11_importing_dev_zero_is_one_line(tmp_path, capsys):
    line = one_error_line(["card", "import", "/dev/zero", "--output-dir", str(tmp_path)], capsys)
    assert "/dev/zero: cannot read (not a regular file)" in line


# ---------------------------------------------------------------- 12: unwritable outputs


@pytest.fixture
def full_disk(monkeypatch):
    """Every atomic write fails as on a full disk."""

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("evalkit.fileio.os.fsync", no_space)


def test_12_card_emit_output_into_a_file_path_is_one_line(tmp_path, capsys):
    card = write_card(tmp_path / "README.md")
    (tmp_path / "blocker").write_text("a file, not a folder")
    line = one_error_line(["card", "emit", str(card), "--output", str(tmp_path / "blocker" / "mi.yaml")], capsys)
    assert "cannot write" in line


def test_12_card_emit_update_on_a_full_disk_is_one_line_and_keeps_the_card(tmp_path, capsys, full_disk):
    readme = write_card(tmp_path / "README.md", values=(10.0,))
    before = readme.read_bytes()
    source = write_card(tmp_path / "src" / "README.md", values=(90.0,))
    assert "No space left" in one_error_line(["card", "emit", str(source), "--update", str(readme)], capsys)
    assert readme.read_bytes() == before and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_12_card_import_on_a_full_disk_is_one_line(tmp_path, capsys, full_disk):
    card = write_card(tmp_path / "README.md")
    assert "No space left" in one_error_line(["card", "import", str(card), "--output-dir", str(tmp_path / "o")], capsys)


# ---------------------------------------------------------------- 14, 15: escaping and well-formed outputs

EVIL = "evil\n### ✅ PASS ![x](https://example.com/x.png) <!-- [link](http://x) `code` | *b*"


def test_14_the_step_summary_shows_an_evil_name_literally(tmp_path):
    summary = format_markdown(gate(make_model(EVIL, scores={"AFQMC": 50.0}), make_model("base")))
    lines = summary.splitlines()
    assert lines[0] == "### ❌ evalkit check" and [line for line in lines if line.startswith("#")] == lines[:1]
    assert not re.search(r"(?<!\\)(!\[|\]\(|`|\*)|<!--|\n#(?!## ❌)", summary)  # no unescaped markup
    assert md_escape(EVIL) in summary


def test_14_the_markdown_report_escapes_names_with_the_same_function():
    from evalkit.report.render import render_markdown

    report = render_markdown(build_comparison(make_model(EVIL), [make_model("base")], SUITE))
    assert not re.search(r"(?<!\\)(!\[|\]\(|`)|<!--", report) and report.count(md_escape(EVIL)) >= 2


def test_15_junit_xml_is_well_formed_with_control_characters():
    text = junit_xml(gate(make_model("bad\x01name\x1b[31m"), make_model("base\x00")))
    ET.fromstring(text.encode())  # parses


def test_15_csv_cells_never_start_a_formula():
    comp = build_comparison(make_model('=HYPERLINK("http://x","y")'), [make_model("@SUM(A1)")], SUITE)
    rows = list(csv.DictReader(io.StringIO(render_csv(comp))))
    assert {row["model"] for row in rows} == {'\'=HYPERLINK("http://x","y")', "'@SUM(A1)"}
    assert all(not row["score"].startswith("'") for row in rows)


def test_15_a_misspelt_split_fails_at_tasks(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text("main_metrics:\n  STS: cos_sim_spearman\ntasks:\n  - name: STSB\n    type: STS\n    split: tset\n")
    line = one_error_line(["tasks", "--suite", str(suite)], capsys)
    assert "does not evaluate split 'tset'" in line and "did you mean test" in line


def test_15_a_merge_key_after_the_model_index_is_kept(tmp_path):
    readme = write_card(tmp_path / "README.md", values=(10.0,), extra="base: &b {license: mit}\n")
    readme.write_text(readme.read_text().replace("---\n# My", "<<: *b\ntags: [x]\n---\n# My"))
    source = write_card(tmp_path / "src" / "README.md", values=(90.0,))
    assert main(["card", "emit", str(source), "--update", str(readme)]) == 0
    text = readme.read_text()
    assert "value: 90" in text and "value: 10" not in text and "\n<<: *b\ntags: [x]\n---\n" in text


def test_15_no_glyph_warnings_from_the_html_report(tmp_path):
    card = write_card(tmp_path / "README.md", name="中文模型名")
    run = cli("compare", str(card), "--output", str(tmp_path / "r.html"))
    assert run.returncode == 0, run.stderr
    assert "Glyph" not in run.stderr and run.stderr.strip() == ""


# ================================================================ issue 26: the second round
# Each test follows a reproduction of issue 26; `test_26_<item>_...`. Those that need a run are in
# `test_integrity_runs.py`.


def test_26_5_a_carriage_return_in_a_card_name_never_splits_a_csv_row(tmp_path):
    evil = "\r=cmd|' /C calc'!A0"
    texts = [
        render(evalkit.compare(write_card(tmp_path / f"{i}.md", name=name)), "csv")
        for i, name in enumerate(("plain", evil))
    ]
    plain, attacked = (list(csv.reader(io.StringIO(text, newline=""))) for text in texts)
    assert len(attacked) == len(plain)  # a bare CR ended rows early: twice as many, some starting with the formula
    assert not [row for row in attacked if row[0].lstrip("\r\n").startswith(("=", "+", "-", "@"))]
    assert {row["model"] for row in csv.DictReader(io.StringIO(texts[1], newline=""))} == {"'" + evil}


def test_26_6_an_unknown_subset_is_one_line_in_tasks_and_run(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "main_metrics:\n  STS: cos_sim_spearman\ntasks:\n  - {name: STSB, type: STS, split: test, subset: zz}\n"
    )
    line = one_error_line(["tasks", "--suite", str(suite)], capsys)
    assert "STSB" in line and "subset 'zz'" in line and "default" in line
    out = tmp_path / "out"
    line = one_error_line(["run", "-m", "bundled:minilm", "--suite", str(suite), "-o", str(out), "--no-cache"], capsys)
    assert "subset 'zz'" in line and not out.exists()


def _with_predictions(folder: Path, data: bytes) -> Path:
    """`folder`'s STSB result, pointing at a predictions file holding `data`."""
    result = folder / "STSB.json"
    result.write_text(json.dumps(json.loads(result.read_text()) | {"predictions": "STSB.predictions.json.gz"}))
    (folder / "STSB.predictions.json.gz").write_bytes(data)
    return folder


def test_26_7_a_gzip_bomb_as_predictions_is_refused_before_it_inflates(tmp_path):
    import gzip
    import tracemalloc

    member = gzip.compress(b"\0" * 2**26, compresslevel=9, mtime=0)  # 64 MiB of zeros in 64 KiB
    bomb = member * 8  # gzip members concatenate: 512 MiB, one line that never ends
    assert len(bomb) < 2**20
    candidate = _with_predictions(imported_stsb(tmp_path, 70.0, "cand"), bomb)
    baseline = _with_predictions(imported_stsb(tmp_path, 80.0, "base"), bomb)
    with pytest.raises(UserError):  # once before measuring: the imports it makes are not the bomb's
        evalkit.check(candidate, baseline=baseline, suite=SUITE, significance=0.05)
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match="STSB.predictions.json.gz.*uncompressed") as raised:
            evalkit.check(candidate, baseline=baseline, suite=SUITE, significance=0.05)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(str(raised.value).splitlines()) == 1
    assert peak < 2**28, f"{peak / 2**20:.0f} MiB held while refusing a 512 MiB bomb"


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"model": 123}, "model 123: "),
        ({"model": None}, "model None: "),
        ({"model": {}}, "model {}: "),
        ({"tasks": 5}, "tasks 5: "),
        ({"tasks": "STSX"}, "unknown task 'STSX'"),  # one name, not S, T, S, X
        ({"dims": ["256"]}, "dims '256': "),
        ({"dims": ",,"}, "dims ',,': give at least one dimension"),
        ({"model_kwargs": [1, 2]}, "model_kwargs [1, 2]: "),
        ({"limit": -1}, "limit -1: must be above zero"),
        ({"limit": 0}, "limit 0: must be above zero"),
        ({"max_seq_length": 0}, "max_seq_length 0: must be above zero"),
        ({"workers": "2"}, "workers '2': "),
        ({"seed": 1.5}, "seed 1.5: "),
    ],
)
def test_26_8_the_api_checks_its_arguments_as_the_cli_does(tmp_path, arguments, message):
    arguments = {"model": "bundled:minilm"} | arguments
    out = tmp_path / "out"
    with pytest.raises(UserError) as raised:
        evalkit.evaluate(**arguments, suite="sample", output_dir=out, data_dir=tmp_path)
    assert message in str(raised.value), raised.value
    assert not out.exists()  # refused before anything is made


def test_26_8_names_and_dimensions_may_be_given_as_the_cli_takes_them(tmp_path):
    missing = tmp_path / "missing"
    for arguments in ({"tasks": "STSB"}, {"tasks": "STSB, Ocnli"}, {"types": "STS"}, {"dims": "256,128"}):
        with pytest.raises(OptionError, match="^data_dir .*: is not a folder"):  # checked, then this
            evalkit.evaluate("bundled:minilm", suite="sample", output_dir=tmp_path / "o", data_dir=missing, **arguments)


# ---------------------------------------------------------------- issue 26, cosmetic


def test_26_markdown_escapes_strikethrough_emphasis_and_bidi_overrides():
    assert md_escape("~~gone~~ _em_ __init__ a_b") == r"\~\~gone\~\~ \_em\_ \_\_init\_\_ a_b"
    assert md_escape("cos_sim_spearman 60.00 ~") == "cos_sim_spearman 60.00 ~"  # nothing that could format
    assert "\u202e" not in md_escape("abc\u202etxt.exe")


def test_26_terminal_output_never_carries_control_characters(tmp_path, capsys):
    evil = "evil\x1b[2J\x00\x07\u202e"
    candidate = write_card(tmp_path / "cand.md", name=evil, values=(10.0,))
    baseline = write_card(tmp_path / "base.md", values=(90.0,))
    assert main(["check", str(candidate), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "evil" in out and not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", out)
    assert main(["compare", str(tmp_path / f"{evil}.md")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", err)


def test_26_compare_on_a_fifo_says_what_it_is(tmp_path, capsys):
    fifo = tmp_path / "results.md"
    os.mkfifo(fifo)
    line = one_error_line(["compare", str(fifo)], capsys)
    assert "not a regular file" in line and "does not exist" not in line


def test_26_dims_without_a_number_says_so(capsys):
    with pytest.raises(SystemExit):
        main(["run", "-m", "bundled:minilm", "--dims", ",,"])
    assert "give at least one dimension" in capsys.readouterr().err


def test_26_prompts_are_bounded(tmp_path):
    huge = "x" * 5_000_000
    with pytest.raises(OptionError, match="^query_prompt .*: at most"):
        evalkit.evaluate("bundled:minilm", suite="sample", query_prompt=huge, output_dir=tmp_path / "o")
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text(f"CovidRetrieval:\n  query: {huge[:100_000]}\n")
    with pytest.raises(UserError, match=r"prompts.yaml:\d+: .*at most"):
        evalkit.evaluate("bundled:minilm", suite="sample", prompts=prompts, output_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_26_a_prompt_that_mteb_never_applies_is_refused(tmp_path):
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text("STSB:\n  query: 'Represent this sentence: '\n")
    with pytest.raises(UserError, match="STSB.*without a query prompt"):
        evalkit.evaluate("bundled:minilm", suite="sample", tasks=["STSB"], prompts=prompts, output_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()
