"""Issue 11: a warm run never loads the model, the encode phase asks the model for each unique text once, and
parallel evaluation writes exactly the scores of a serial one."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import HANG, SIX_TASKS, child_env, mteb_scores, plain_mteb_scores, result_file, run_sample
from test_cache import DEDUP_TOLERANCE, _numbers

MODEL_DIR = "sentence-transformers__all-MiniLM-L6-v2"


def _summary(out) -> dict:
    return json.loads((out / MODEL_DIR / "no_revision_available" / "run_summary.json").read_text())


def _scores(out) -> dict:
    return {task: result_file(out, task)["scores"] for task in SIX_TASKS}


@pytest.fixture(scope="module")
def counted(six_snapshots, tmp_path_factory):
    """A cold cached run with two workers (so with the encode phase, recorded in the workers) that counts every text
    reaching the model."""
    from sentence_transformers import SentenceTransformer

    seen: list[list[str]] = []  # the texts of each call
    real = SentenceTransformer.encode

    def counting(self, sentences, *args, **kwargs):
        seen.append([sentences] if isinstance(sentences, str) else list(sentences))
        return real(self, sentences, *args, **kwargs)

    def in_this_process(*args, **kwargs):
        raise AssertionError("with several workers, the tasks are recorded in the workers")

    out, cache = tmp_path_factory.mktemp("cold"), tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("encode", "encode_query", "encode_document"):
            mp.setattr(SentenceTransformer, name, counting)
        mp.setattr("evalkit.run.encode.record", in_this_process)
        args = ("--data-dir", str(six_snapshots), "--output-dir", str(out), "--cache-dir", str(cache))
        assert run_sample(*args, "--workers", "2") == 0
    return out, cache, seen


def test_the_encode_phase_asks_the_model_for_each_unique_text_once(counted):
    out, _, calls = counted
    summary = _summary(out)
    seen = [text for call in calls for text in call]
    assert len(seen) == len(set(seen)) == summary["texts_encoded"] == summary["unique_texts"] > 0
    # one stream per task and prompt type (retrieval and reranking: query and document), recorded in the workers
    # and encoded as each recording arrives; not one call per task side (12 in this suite)
    assert len(calls) == 8
    for call in calls:
        assert [len(t) for t in call] == sorted((len(t) for t in call), reverse=True)  # longest first
    assert summary["model_load_seconds"] > 0
    rate = summary["texts_per_second"]["cpu"]  # texts per second of encoding, to one decimal
    assert rate == round(rate, 1)
    assert rate == pytest.approx(summary["texts_encoded"] / summary["encode_seconds"], rel=0.01)  # seconds to 1 ms


@pytest.mark.parametrize("task_name", sorted(SIX_TASKS))
def test_the_encode_phase_and_the_workers_agree_with_plain_mteb(counted, six_snapshots, minilm, task_name):
    split = SIX_TASKS[task_name][1]
    ours = result_file(counted[0], task_name)["scores"][split][0]  # one stream, evaluated by two workers
    for key, value in _numbers(plain_mteb_scores(minilm, task_name, six_snapshots, split)).items():
        assert ours[key] == pytest.approx(value, abs=DEDUP_TOLERANCE), (task_name, key)


@pytest.fixture(scope="module")
def warm_runs(counted, six_snapshots, tmp_path_factory):
    """Warm reruns into new folders, serial and with two workers, with a model loader and a recording pass that
    fail if called (what is all cached is evaluated from the cache at once)."""
    from evalkit.run import models

    _, cache, _ = counted
    outs = {}
    with pytest.MonkeyPatch.context() as mp:

        def never(*args, **kwargs):
            raise AssertionError("a warm run loaded the model")

        mp.setattr(models, "load_model", never)
        mp.setattr("evalkit.run.lazy.load_model", never)
        mp.setattr("evalkit.run.encode.record", never)
        for workers in ("1", "2"):
            out = tmp_path_factory.mktemp(f"warm{workers}")
            args = ("--data-dir", str(six_snapshots), "--output-dir", str(out), "--cache-dir", str(cache))
            assert run_sample(*args, "--workers", workers) == 0
            outs[workers] = out
    return outs


def test_a_warm_run_never_loads_the_model(warm_runs):
    for out in warm_runs.values():
        summary = _summary(out)
        assert summary["model_load_seconds"] is None
        assert summary["texts_encoded"] == 0 and summary["cache_hits"] == summary["texts_requested"] > 0
        assert set(summary["task_seconds"]) == set(SIX_TASKS)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_parallel_evaluation_writes_the_serial_scores_exactly(counted, warm_runs, workers):
    assert _scores(warm_runs[workers]) == _scores(counted[0])


def test_warm_model_meta_matches_the_loaded_model(counted, warm_runs):
    def meta(out):
        return json.loads((out / MODEL_DIR / "no_revision_available" / "model_meta.json").read_text())

    assert meta(warm_runs["2"]) == meta(counted[0])


def test_workers_need_the_cache(tmp_path, capsys):
    assert run_sample("--no-cache", "--workers", "2", "--output-dir", str(tmp_path)) == 2
    assert "--workers" in capsys.readouterr().err


def _auto_run(six_snapshots, out, monkeypatch, batch_size: str, gpu_memory) -> list[int]:
    """A cold cached STSB run with `--batch-size`; the batch sizes the model saw, in order. `gpu_memory(batch)` gives
    a fake GPU's peak bytes for a batch of that size (None: the CPU, no probe)."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    from evalkit.run import encode

    real, sizes = SentenceTransformerEncoderWrapper.encode, []

    def recorded(self, inputs, **kwargs):
        sizes.append(inputs.batch_size)
        return real(self, inputs, **kwargs)

    monkeypatch.setattr(SentenceTransformerEncoderWrapper, "encode", recorded)
    if gpu_memory is not None:  # 100 bytes of weights on a 1,000-byte device
        monkeypatch.setattr(encode, "memory_probe", lambda device: lambda: (100, 100 + gpu_memory(sizes[-1]), 1000))
    args = ("--tasks", "STSB", "--data-dir", str(six_snapshots), "--output-dir", str(out))
    assert run_sample(*args, "--cache-dir", str(out / "c"), "--batch-size", batch_size, "--workers", "2") == 0
    return sizes


def test_batch_size_auto_doubles_while_the_gpu_memory_allows(six_snapshots, tmp_path, monkeypatch):
    # a batch of b texts peaks at 40 b bytes over the weights: doubling fits under 80% of 1,000 up to b = 8
    sizes = _auto_run(six_snapshots, tmp_path / "auto", monkeypatch, "auto:2", lambda batch: 40 * batch)
    assert sizes[:5] == [2, 4, 8, 16, 16]
    summary = json.loads((tmp_path / "auto" / MODEL_DIR / "no_revision_available" / "run_summary.json").read_text())
    assert summary["batch_size"] == 16 and summary["batch_size_auto"] is True
    fixed = tmp_path / "fixed"
    _auto_run(six_snapshots, fixed, monkeypatch, "16", None)
    grown, plain = (result_file(out, "STSB")["scores"]["test"][0]["main_score"] for out in (tmp_path / "auto", fixed))
    assert grown == pytest.approx(plain, abs=1e-6)  # the same texts, other batch-mates


def test_batch_size_auto_keeps_the_batch_on_the_cpu_and_needs_the_cache(six_snapshots, tmp_path, monkeypatch, capsys):
    sizes = _auto_run(six_snapshots, tmp_path, monkeypatch, "auto:8", None)
    assert set(sizes) == {8}
    assert run_sample("--no-cache", "--batch-size", "auto", "--output-dir", str(tmp_path)) == 2
    assert "--batch-size auto: grows in the encode phase of cached mode" in capsys.readouterr().err


def test_workers_never_rerun_a_script_without_a_main_guard(counted, six_snapshots, tmp_path):
    import subprocess
    import sys

    _, cache, _ = counted
    mark = tmp_path / "ran"
    script = tmp_path / "notebook_like.py"  # no `if __name__ == "__main__":`, as in a notebook or a quick script
    script.write_text(
        "import pathlib, evalkit\n"
        f"pathlib.Path({str(mark)!r}).open('a').write('ran\\n')\n"
        f"evalkit.evaluate('bundled:minilm', suite='sample', data_dir={str(six_snapshots)!r}, device='cpu', "
        f"output_dir={str(tmp_path / 'out')!r}, cache_dir={str(cache)!r}, workers=2)\n",
        encoding="utf-8",
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=child_env(), timeout=HANG)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert mark.read_text() == "ran\n"
    assert _summary(tmp_path / "out")["workers"] == 2


def test_workers_start_the_slowest_task_types_first():
    from types import SimpleNamespace

    from evalkit.run.parallel import slowest_first

    kinds = ["STS", "Retrieval", "Classification", "PairClassification", "Clustering", "Classification", "Reranking"]
    jobs = [SimpleNamespace(spec=SimpleNamespace(type=kind, name=f"{kind}{i}")) for i, kind in enumerate(kinds)]
    order = [job.spec.name for job in slowest_first(jobs)]
    assert order == [
        "Classification2", "Classification5", "Clustering4", "Retrieval1", "Reranking6", "PairClassification3", "STS0"
    ]  # fmt: skip


@pytest.mark.parametrize("task_name", sorted(SIX_TASKS))
def test_bulk_columns_leave_every_mteb_score_unchanged(six_snapshots, minilm, task_name):
    """Cached runs let mteb read dataset columns in bulk (`data.bulk_columns`): every score of every task type is
    exactly the one mteb computes reading them row by row, on the same (deterministic stand-in) embeddings."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    from evalkit.run.data import bulk_columns
    from evalkit.run.encode import TextRecorder

    stand_in = TextRecorder(SentenceTransformerEncoderWrapper(minilm), "minilm", {})
    split = SIX_TASKS[task_name][1]
    rowwise = mteb_scores(stand_in, task_name, six_snapshots, split)
    with bulk_columns():
        bulk = mteb_scores(stand_in, task_name, six_snapshots, split)
    rowwise.pop("evaluation_time", None), bulk.pop("evaluation_time", None)
    assert bulk == rowwise


def test_bulk_columns_yield_each_row_as_datasets_does_and_end_with_the_context():
    import numpy as np
    from datasets import Dataset
    from datasets.arrow_dataset import Column

    from evalkit.run import data

    rows = {"label": [i % 3 for i in range(25)], "sentences": [[f"s{i}", f"t{i}"] for i in range(25)]}
    picked = Dataset.from_dict(rows).select(range(24, 0, -3))  # an indices mapping, in reverse
    formatted = picked.with_format("numpy")
    expected = {name: list(picked[name]) for name in rows}
    indexed = {name: [picked[name][i] for i in (0, 3, -1, -len(picked))] for name in rows}
    rowwise, by_index = Column.__iter__, Column.__getitem__
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data, "BULK_ROWS", 4)  # several batches, the last one partial
        with pytest.raises(KeyError), data.bulk_columns():
            assert Column.__iter__ is not rowwise and Column.__getitem__ is not by_index
            assert {name: list(picked[name]) for name in rows} == expected
            assert np.asarray(picked["label"]).tolist() == expected["label"]
            # mteb's undersampling reads one index at a time: the same values, read once per column
            assert {name: [picked[name][i] for i in (0, 3, -1, -len(picked))] for name in rows} == indexed
            labels = picked["label"]
            assert [labels[i] for i in range(len(picked))] == expected["label"]
            assert labels[1:3] == expected["label"][1:3]
            with pytest.raises(IndexError):
                labels[len(picked)]
            assert [x.tolist() for x in formatted["sentences"]] == expected["sentences"]  # other formats: as before
            assert formatted["label"][2] == expected["label"][2]
            raise KeyError("an error inside the run")
    assert Column.__iter__ is rowwise and Column.__getitem__ is by_index


def _threads() -> tuple[int, frozenset[int]]:
    import torch
    from threadpoolctl import threadpool_info

    return torch.get_num_threads(), frozenset(pool["num_threads"] for pool in threadpool_info())


def test_cached_runs_score_single_threaded_and_encode_with_every_thread(six_snapshots, minilm, tmp_path, monkeypatch):
    """mteb's scoring is a stream of small linear-algebra calls whose threads wait on each other (many times slower
    on a busy machine): a cached run scores on one thread, as the workers do, and gives the model's encode calls
    every thread back. The reference mode keeps plain mteb's threads."""
    import mteb
    import torch
    from threadpoolctl import threadpool_limits

    import evalkit

    seen = {"scoring": [], "encoding": []}
    evaluate, encode = mteb.evaluate, minilm.encode

    def scoring(*args, **kwargs):
        seen["scoring"].append(_threads())
        return evaluate(*args, **kwargs)

    def encoding(*args, **kwargs):
        seen["encoding"].append(_threads())
        return encode(*args, **kwargs)

    monkeypatch.setattr(mteb, "evaluate", scoring)
    monkeypatch.setattr(minilm, "encode", encoding)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two threads to give back, whatever the machine
    try:
        with threadpool_limits(2):
            everything = _threads()
            for cache in (True, False):
                evalkit.evaluate(minilm, tasks=["STSB"], data_dir=six_snapshots, output_dir=tmp_path / str(cache),
                                 cache=cache, cache_dir=tmp_path / "cache" if cache else None)  # fmt: skip
            assert _threads() == everything
    finally:
        torch.set_num_threads(threads)
    assert seen["scoring"] == [(1, {1}), everything]  # cached, then the reference mode
    assert len(seen["encoding"]) == 4 and set(seen["encoding"]) == {everything}  # both STS sides, in both modes


def test_a_worker_stays_single_threaded_for_its_whole_life():
    """Workers score on one thread, as the run's own process does (the same arithmetic, and no threads waiting on
    each other): the limit taken when a worker starts must outlive the call that took it."""
    import subprocess
    import sys

    code = (
        "import gc, torch, numpy, scipy.linalg\n"
        "from threadpoolctl import threadpool_info, threadpool_limits\n"
        "from evalkit.run import parallel\n"
        "torch.set_num_threads(2); threadpool_limits(2)\n"
        "parallel._init_worker(); gc.collect()\n"
        "print(torch.get_num_threads(), sorted({pool['num_threads'] for pool in threadpool_info()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=HANG, env=child_env()
    )
    assert out.stdout.split("\n")[-2] == "1 [1]"


def _has_malloc_trim() -> bool:
    import ctypes
    import ctypes.util

    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim")
    except (OSError, TypeError):
        return False


@pytest.mark.skipif(not (sys.platform.startswith("linux") and _has_malloc_trim()), reason="glibc's malloc_trim")
def test_the_encode_phase_gives_the_heap_it_freed_back():
    """What the encode phase frees leaves the process: the run's process waits through the evaluation holding no
    dead heap (0.58 GB at a quarter of C-MTEB's size)."""
    from evalkit.run.encode import release_freed_memory

    def resident() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    texts = [bytes(4000) for _ in range(50_000)]  # 200 MB of C heap (above pymalloc's 512 bytes, below mmap's)
    kept = texts[::50] + [texts[-1]]  # some stay, the last one too: the heap's top is never free
    del texts
    before = resident()
    release_freed_memory()
    assert before - resident() > 100 * 2**20
    assert len(kept) == 1001
