"""The evaluation spine end to end: suites -> mteb -> result files, checked against plain mteb."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HANG, REPO, SIX_TASKS, child_env, plain_mteb_scores, result_file, run_sample, shared_path

from evalkit import snapshot
from evalkit.cli import main


@pytest.fixture(scope="module")
def six_run(six_snapshots, tmp_path_factory):
    """One reference-mode evalkit run of all six task types on the parquet snapshots."""
    out = tmp_path_factory.mktemp("out")
    code = run_sample("--data-dir", str(six_snapshots), "--output-dir", str(out), "--no-cache", "--device", "cpu")
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
    meta = json.loads(
        (out / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available" / "model_meta.json").read_text()
    )
    assert meta["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["device"] == "cpu" and meta["dtype"] == "fp32" and meta["batch_size"] == 32
    before = result_file(out, "STSB")
    assert run_sample("--tasks", "STSB,Ocnli", "--data-dir", str(six_snapshots), "--output-dir", str(out)) == 0
    printed = capsys.readouterr().out
    assert printed.count("already done") == 2
    assert result_file(out, "STSB") == before


def test_overwrite_evaluates_again(six_run, six_snapshots, capsys):
    _, out = six_run
    assert run_sample("--tasks", "STSB", "--data-dir", str(six_snapshots), "--output-dir", str(out), "--overwrite") == 0
    assert "already done" not in capsys.readouterr().out


def test_missing_snapshot_is_named_before_anything_runs(six_snapshots, tmp_path, capsys):
    data = tmp_path / "data"
    snapshot.write_splits(
        data / "mteb/STSB",
        {
            "test": [
                {"sentence1": "你好", "sentence2": "您好", "score": 5.0},
                {"sentence1": "下雨了", "sentence2": "天晴了", "score": 1.0},
                {"sentence1": "我饿了", "sentence2": "我想吃饭", "score": 3.5},
            ]
        },
    )
    code = run_sample("--tasks", "STSB,Ocnli", "--data-dir", str(data), "--output-dir", str(tmp_path / "out"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"looked for {data / 'C-MTEB/OCNLI'}" in err
    assert "hf download --repo-type dataset C-MTEB/OCNLI" in err
    assert not (tmp_path / "out").exists()


def test_types_filter_and_unknown_names(six_snapshots, tmp_path, capsys):
    assert run_sample("--tasks", "STSX") == 2
    assert "did you mean STSB" in capsys.readouterr().err
    assert run_sample("--types", "Reranking,sts", "--data-dir", str(six_snapshots), "--output-dir", str(tmp_path)) == 0
    done = sorted(p.stem for p in tmp_path.rglob("*.json") if p.stem not in ("model_meta", "run_summary"))
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
    assert (
        main(
            [
                "run",
                "--model",
                "bundled:minilm",
                "--tasks",
                "STSB",
                "--data-dir",
                str(data),
                "--output-dir",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    written = result_file(tmp_path / "out", "STSB")
    assert list(written["scores"]) == ["test"]
    spearman = written["scores"]["test"][0]["cosine_spearman"]
    # all-MiniLM-L6-v2 is an English model: on Chinese STS-B it is well above chance, far from good.
    assert 0.25 < spearman < 0.6


def test_default_command_runs_offline_from_any_folder(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "run_eval.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=HANG,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = tmp_path / "results" / "sample" / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available"
    assert sorted(p.stem for p in results.glob("*.json")) == sorted([*SIX_TASKS, "model_meta", "run_summary"])
    assert "6 of 6 result(s)" in proc.stdout


ALLOWED_CARD_METRICS = {
    "STS": {f"{f}_{m}" for f in ("cos_sim", "euclidean", "manhattan") for m in ("pearson", "spearman")},
    "PairClassification": {
        f"{f}_{m}"
        for f in ("cos_sim", "dot", "euclidean", "manhattan")
        for m in ("accuracy", "ap", "f1", "precision", "recall")
    }
    | {"max_accuracy", "max_ap", "max_f1"},
    "Classification": {"accuracy", "f1", "ap"},
    "Clustering": {"v_measure"},
    "Reranking": {"map", "mrr"},
    "Retrieval": {
        f"{m}_at_{k}" for m in ("map", "mrr", "ndcg", "precision", "recall") for k in (1, 3, 5, 10, 100, 1000)
    },
}
MTEB_NAME = {"cos_sim": "cosine", "dot": "dot", "euclidean": "euclidean", "manhattan": "manhattan"}


def _expected_from_mteb(task_type: str, card_name: str, mteb_scores: dict) -> float:
    """The card value of one metric, computed here from plain mteb's scores by the issue's mapping."""
    if task_type == "Reranking":
        return 100 * mteb_scores[{"map": "map_at_1000", "mrr": "mrr_at_10"}[card_name]]
    if task_type == "PairClassification" and card_name.startswith("max_"):
        metric = card_name[4:]
        return max(100 * mteb_scores[f"{f}_{metric}"] for f in MTEB_NAME.values())
    for card_prefix, mteb_prefix in MTEB_NAME.items():
        if card_name.startswith(card_prefix + "_"):
            return 100 * mteb_scores[mteb_prefix + card_name[len(card_prefix) :]]
    return 100 * mteb_scores[card_name]


@pytest.mark.parametrize("task_name", sorted(SIX_TASKS))
def test_emitted_card_metrics_are_plain_mteb_times_100(six_run, six_snapshots, minilm, task_name):
    import yaml

    _, out = six_run
    card = yaml.safe_load(
        (out / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available" / "model-index.yaml").read_text()
    )
    (entry,) = [r for r in card["model-index"][0]["results"] if r["dataset"]["name"] == f"MTEB {task_name}"]
    task_type = entry["task"]["type"]
    metrics = {m["type"]: m["value"] for m in entry["metrics"]}
    assert set(metrics) <= ALLOWED_CARD_METRICS[task_type], set(metrics) - ALLOWED_CARD_METRICS[task_type]
    expected_names = set(ALLOWED_CARD_METRICS[task_type])
    if task_type == "Classification":
        expected_names.discard("ap") if task_name != "Waimai" else None
    assert set(metrics) == expected_names
    reference = plain_mteb_scores(minilm, task_name, six_snapshots, SIX_TASKS[task_name][1])
    for name, value in metrics.items():
        assert math.isfinite(value)
        assert value == pytest.approx(_expected_from_mteb(task_type, name, reference), rel=0, abs=1e-12), name


def test_model_options_are_applied_and_recorded(six_snapshots, tmp_path):
    assert (
        run_sample(
            "--tasks",
            "CovidRetrieval",
            "--data-dir",
            str(six_snapshots),
            "--output-dir",
            str(tmp_path),
            "--max-seq-length",
            "16",
            "--batch-size",
            "8",
            "--query-prompt",
            "查询：",
            "--passage-prompt",
            "文档：",
            "--no-cache",
        )
        == 0
    )
    meta = json.loads(
        (tmp_path / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available" / "model_meta.json").read_text()
    )
    assert meta["max_seq_length"] == 16 and meta["batch_size"] == 8
    assert meta["prompts"] == {"query": "查询：", "document": "文档："}
    unprompted = tmp_path / "plain"
    assert (
        run_sample(
            "--tasks", "CovidRetrieval", "--data-dir", str(six_snapshots), "--output-dir", str(unprompted), "--no-cache"
        )
        == 0
    )
    prompted_score = result_file(tmp_path, "CovidRetrieval")["scores"]["dev"][0]["ndcg_at_10"]
    assert prompted_score != result_file(unprompted, "CovidRetrieval")["scores"]["dev"][0]["ndcg_at_10"]


def test_bad_model_options_are_one_line_errors(capsys):
    assert main(["run", "--model", "bundled:minilm", "--device", "cuda:7"]) == 2
    assert "--device cuda:7" in capsys.readouterr().err
    assert main(["run", "--model", "bundled:minilm", "--dtype", "fp8"]) == 2
    assert "--dtype 'fp8'" in capsys.readouterr().err
    assert main(["run", "--model", "bundled:nope"]) == 2
    assert "bundled:minilm" in capsys.readouterr().err


def test_prefetch_without_network_says_so_in_one_line(tmp_path, capsys):
    assert main(["prefetch", "--data-dir", str(tmp_path), "--tasks", "STSB"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "prefetch needs" in err


def test_console_script_is_the_same_cli():
    import shutil

    script = shutil.which("evalkit") or (Path(sys.executable).parent / "evalkit")
    if not Path(script).exists():
        pytest.skip("evalkit is not installed as a package here (pip install -e .)")
    command = [str(script), "tasks", "--suite", "sample"]
    proc = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=HANG)
    assert proc.returncode == 0 and "6 tasks" in proc.stdout
