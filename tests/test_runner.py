"""The evaluation spine end to end: suites -> mteb -> result files, checked against plain mteb."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from conftest import REPO, SIX_TASKS, plain_mteb_scores, result_file, shared_path
from evalkit import snapshot
from evalkit.cli import main


@pytest.fixture(scope="module")
def six_run(six_snapshots, tmp_path_factory):
    """One reference-mode evalkit run of all six task types on the parquet snapshots."""
    out = tmp_path_factory.mktemp("out")
    code = main(
        ["run", "--model", "bundled:minilm", "--suite", "sample", "--data-dir", str(six_snapshots),
         "--output-dir", str(out), "--no-cache", "--device", "cpu"]
    )
    return code, out


@pytest.mark.parametrize("task_name", sorted(SIX_TASKS))
def test_each_type_matches_plain_mteb(six_run, six_snapshots, minilm, task_name):
    code, out = six_run
    assert code == 0
    repo, split = SIX_TASKS[task_name]
    written = result_file(out, task_name)
    assert list(written["scores"]) == [split]
    (ours,) = written["scores"][split]
    reference = plain_mteb_scores(minilm, task_name, six_snapshots, split)
    numeric = {k: v for k, v in reference.items() if isinstance(v, float | int)}
    assert numeric, "mteb returned no numbers"
    for key, value in numeric.items():
        assert ours[key] == value or (math.isnan(value) and math.isnan(ours[key])), key
    assert written["dataset_revision"] == "local"
    assert written["task_name"] == task_name


def test_run_writes_model_meta_and_skips_done_tasks(six_run, six_snapshots, capsys):
    _, out = six_run
    meta = json.loads((out / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available" / "model_meta.json").read_text())
    assert meta["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["device"] == "cpu" and meta["dtype"] == "fp32" and meta["batch_size"] == 32
    before = result_file(out, "STSB")
    assert main(["run", "--model", "bundled:minilm", "--suite", "sample", "--tasks", "STSB,Ocnli",
                 "--data-dir", str(six_snapshots), "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("already done") == 2
    assert result_file(out, "STSB") == before


def test_overwrite_evaluates_again(six_run, six_snapshots, capsys):
    _, out = six_run
    assert main(["run", "--model", "bundled:minilm", "--suite", "sample", "--tasks", "STSB",
                 "--data-dir", str(six_snapshots), "--output-dir", str(out), "--overwrite"]) == 0
    assert "already done" not in capsys.readouterr().out


def test_missing_snapshot_fails_only_that_task(six_snapshots, tmp_path, capsys):
    data = tmp_path / "data"
    snapshot.write_splits(data / "mteb/STSB", {"test": [{"sentence1": "你好", "sentence2": "您好", "score": 5.0},
                                                        {"sentence1": "下雨了", "sentence2": "天晴了", "score": 1.0},
                                                        {"sentence1": "我饿了", "sentence2": "我想吃饭", "score": 3.5}]})
    code = main(["run", "--model", "bundled:minilm", "--suite", "sample", "--tasks", "STSB,Ocnli",
                 "--data-dir", str(data), "--output-dir", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert code == 1
    assert f"looked for {data / 'C-MTEB/OCNLI'}" in printed
    assert "huggingface-cli download --repo-type dataset C-MTEB/OCNLI" in printed
    assert result_file(tmp_path / "out", "STSB")["scores"]["test"]


def test_types_filter_and_unknown_names(six_snapshots, tmp_path, capsys):
    assert main(["run", "--model", "bundled:minilm", "--suite", "sample", "--tasks", "STSX"]) == 2
    assert "did you mean STSB" in capsys.readouterr().err
    assert main(["run", "--model", "bundled:minilm", "--suite", "sample", "--types", "Reranking,sts",
                 "--data-dir", str(six_snapshots), "--output-dir", str(tmp_path)]) == 0
    done = sorted(p.stem for p in tmp_path.rglob("*.json") if p.stem != "model_meta")
    assert done == ["STSB", "T2Reranking"]


def test_tasks_command_lists_repo_ids(capsys):
    assert main(["tasks"]) == 0
    printed = capsys.readouterr().out
    assert "35 tasks" in printed
    for line in ("STSB", "mteb/STSB"), ("CMedQAv1", "mteb/CMedQAv1-reranking"), ("AFQMC", "validation"):
        assert any(all(part in row for part in line) for row in printed.splitlines()), line


def test_real_chinese_stsb_evaluates_test_split_only(tmp_path):
    def rows(name):
        lines = shared_path("data", "stsb-zh", name).read_text(encoding="utf-8").splitlines()
        return [{"sentence1": a, "sentence2": b, "score": float(s)} for a, b, s in (ln.split("\t") for ln in lines)]

    data = tmp_path / "data"
    snapshot.write_splits(data / "mteb/STSB", {"test": rows("test.tsv"), "validation": rows("valid.tsv")})
    assert main(["run", "--model", "bundled:minilm", "--tasks", "STSB", "--data-dir", str(data),
                 "--output-dir", str(tmp_path / "out")]) == 0
    written = result_file(tmp_path / "out", "STSB")
    assert list(written["scores"]) == ["test"]
    spearman = written["scores"]["test"][0]["cosine_spearman"]
    # all-MiniLM-L6-v2 is an English model: on Chinese STS-B it is well above chance, far from good.
    assert 0.25 < spearman < 0.6


def test_default_command_runs_offline_from_any_folder(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "run_eval.py")], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = tmp_path / "results" / "sample" / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available"
    assert sorted(p.stem for p in results.glob("*.json")) == sorted([*SIX_TASKS, "model_meta"])
    assert "6 of 6 task(s)" in proc.stdout
