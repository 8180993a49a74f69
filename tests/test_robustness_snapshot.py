"""Issue 6: a local snapshot whose files change is read afresh, not from the `datasets` cache of the old files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import SAMPLE, plain_mteb_scores, result_file

from evalkit import snapshot
from evalkit.cli import main
from evalkit.run.data import folder_fingerprint, use_local_snapshot

# The cached run may differ from plain mteb at float32 rounding level (see test_cache.DEDUP_TOLERANCE).
TOLERANCE = 0.005
COVID = SAMPLE / "mteb" / "CovidRetrieval"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(data_dir: Path, variant: str) -> None:
    """The sample's STSB and CovidRetrieval rows ("old"), or the same files with other rows ("new").

    "new" reverses the STS gold scores and points every qrel at the next document; the file names stay and every
    file keeps the mtime it had, so neither names, sizes nor mtimes tell the versions apart.
    """
    pairs = _rows(SAMPLE / "mteb" / "STSB" / "data" / "test-00000-of-00001.jsonl")
    corpus = _rows(COVID / "corpus" / "dev-00000-of-00001.jsonl")
    qrels = _rows(COVID / "default" / "dev-00000-of-00001.jsonl")
    if variant == "new":
        ids = [doc["id"] for doc in corpus]
        pairs = [{**p, "score": round(5 - p["score"], 1)} for p in pairs]
        qrels = [{**q, "corpus-id": ids[(ids.index(q["corpus-id"]) + 1) % len(ids)]} for q in qrels]
    before = {p: p.stat().st_mtime_ns for p in data_dir.rglob("*") if p.is_file()}
    snapshot.write_splits(data_dir / "mteb" / "STSB", {"test": pairs})
    queries = _rows(COVID / "queries" / "dev-00000-of-00001.jsonl")
    snapshot.write_retrieval(data_dir / "mteb" / "CovidRetrieval", "dev", corpus, queries, qrels)
    for path, mtime in before.items():
        os.utime(path, ns=(mtime, mtime))


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch) -> Path:
    """A `datasets` cache and an embedding cache of this test's own, so rewritten data reaches no other test."""
    import datasets

    cache = tmp_path / "hf-datasets"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "embeddings"))
    return cache


def _plain(minilm, task: str, data_dir: Path, split: str, cache: Path, monkeypatch) -> float:
    """Plain mteb's main score with an empty `datasets` cache: the truth about the files as they are now."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return plain_mteb_scores(minilm, task, data_dir, split)["main_score"]


def _scores(out: Path) -> dict[str, float]:
    return {
        "STSB": result_file(out, "STSB")["scores"]["test"][0]["main_score"],
        "CovidRetrieval": result_file(out, "CovidRetrieval")["scores"]["dev"][0]["main_score"],
    }


def test_rewritten_snapshot_gives_the_new_score(tmp_path, datasets_cache, minilm, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "out"
    run = ["run", "--model", "bundled:minilm", "--suite", "sample", "--tasks", "STSB,CovidRetrieval",
           "--data-dir", str(data), "--output-dir", str(out), "--overwrite", "--device", "cpu"]  # fmt: skip
    _write(data, "old")
    assert main(run) == 0
    old = _scores(out)
    _write(data, "new")
    assert main(run) == 0
    new = _scores(out)

    for task, split in (("STSB", "test"), ("CovidRetrieval", "dev")):
        reference_new = _plain(minilm, task, data, split, tmp_path / f"plain-new-{task}", monkeypatch)
        assert new[task] == pytest.approx(reference_new, abs=TOLERANCE), task
        assert abs(new[task] - old[task]) > 10 * TOLERANCE, task
    _write(data, "old")
    for task, split in (("STSB", "test"), ("CovidRetrieval", "dev")):
        reference_old = _plain(minilm, task, data, split, tmp_path / f"plain-old-{task}", monkeypatch)
        assert old[task] == pytest.approx(reference_old, abs=TOLERANCE), task


def test_same_named_snapshots_in_two_data_folders_keep_their_own_rows(tmp_path, datasets_cache):
    import mteb

    firsts = []
    for name in ("a", "b"):
        corpus = [{"id": f"d{i}", "title": "", "text": f"{name} 文档 {i}"} for i in range(3)]
        queries = [{"id": "q0", "text": "查询"}]
        snapshot.write_retrieval(tmp_path / name / "mteb" / "CovidRetrieval", "dev", corpus, queries,
                                 [{"query-id": "q0", "corpus-id": "d0", "score": 1}])  # fmt: skip
        task = mteb.get_task("CovidRetrieval", eval_splits=["dev"])
        assert use_local_snapshot(task, tmp_path / name).revision == "local"
        task.load_data()
        firsts.append(task.dataset["default"]["dev"]["corpus"][0]["text"])
    assert firsts == ["a 文档 0", "b 文档 0"]


def test_fingerprint_sees_content_not_names_sizes_or_mtimes(tmp_path):
    folder = snapshot.write_splits(tmp_path / "s", {"test": [{"sentence1": "甲", "sentence2": "乙", "score": 1.0}]})
    (folder / ".cache" / "huggingface").mkdir(parents=True)
    first = folder_fingerprint(folder)
    (folder / ".cache" / "huggingface" / "x.metadata").write_text("download bookkeeping")
    assert folder_fingerprint(folder) == first
    data = folder / "data" / "test-00000-of-00001.parquet"
    stat = data.stat()
    snapshot.write_splits(folder, {"test": [{"sentence1": "乙", "sentence2": "甲", "score": 1.0}]})
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert data.stat().st_size == stat.st_size and folder_fingerprint(folder) != first


def test_rewritten_snapshot_is_evaluated_again_without_overwrite(datasets_cache, tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "out"
    _write(data, "old")
    args = [
        "run",
        "--model",
        "bundled:minilm",
        "--suite",
        "sample",
        "--tasks",
        "STSB",
        "--data-dir",
        str(data),
        "--output-dir",
        str(out),
    ]
    assert main(args) == 0
    first = result_file(out, "STSB")
    assert main(args) == 0
    assert "already done" in capsys.readouterr().out
    _write(data, "new")
    assert main(args) == 0
    assert "already done" not in capsys.readouterr().out
    second = result_file(out, "STSB")
    assert second["dataset_revision"] == first["dataset_revision"] == "local"
    assert second["dataset_fingerprint"] != first["dataset_fingerprint"]
    assert second["scores"] != first["scores"]
