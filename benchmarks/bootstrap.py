"""Benchmark of the bootstrap: its cost on a full C-MTEB-sized comparison, and the coverage of its intervals.

1. Cost: writes synthetic predictions files for the 35 tasks of `tasks/c-mteb.yaml`, at the sizes of the real
   evaluation sets (queries, pairs, test examples, cluster sets), for two models, and times `compare --ci 95`
   (both models, 1,000 resamples, every task, delta and average) and `check --significance 0.05`.
2. Coverage: on synthetic data whose true value is known (accuracy 0.7; Spearman of a bivariate normal with
   rho 0.6; average precision and V-measure of fixed populations, their truth taken from a million draws; a mean
   of per-query nDCG-like values), the share of 95% intervals that hold the truth.

Usage: python benchmarks/bootstrap.py [--runs 300] [--n 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Evaluation-set sizes of the C-MTEB tasks (queries, pairs, test examples; clustering: sets x documents).
SIZES = {
    "Retrieval": 1000, "T2Retrieval": 22812, "MMarcoRetrieval": 6980, "DuRetrieval": 2000, "CmedqaRetrieval": 3999,
    "T2Reranking": 24382, "MMarcoReranking": 7437, "CMedQAv1-reranking": 1000, "CMedQAv2-reranking": 1000,
    "STS": 2000, "ATEC": 20000, "BQ": 10000, "LCQMC": 12500, "PAWSX": 2000, "QBQTC": 5000, "STSB": 1361,
    "AFQMC": 3861, "Cmnli": 13880, "Ocnli": 3000, "Classification": 2000, "IFlyTek": 2600,
    "MultilingualSentiment": 3000, "JDReview": 533, "OnlineShopping": 1000, "Waimai": 1000, "TNews": 10000,
}  # fmt: skip
CLUSTER_SETS = (10, 1000)  # the C-MTEB clustering tasks: 10 sets of 1,000 documents
N_EXPERIMENTS = 10


def _predictions(spec, rng: np.random.Generator, quality: float) -> dict:
    """A predictions record of the task's type and C-MTEB size; `quality` shifts how good the model is."""
    n = SIZES.get(spec.mteb_task, SIZES.get(spec.type, 1000))
    if spec.type in ("STS", "PairClassification"):
        gold = rng.integers(0, 6, n) / 5 if spec.type == "STS" else rng.integers(0, 2, n)
        scores = {"cosine_scores": (gold * quality + rng.normal(0, 0.5, n)).tolist()}
        return {"gold" if spec.type == "STS" else "labels": gold.tolist(), "scores": scores}
    if spec.type == "Classification":
        labels = rng.integers(0, 5, n)
        experiments = [np.where(rng.random(n) < quality, labels, rng.integers(0, 5, n)).tolist() for _ in range(10)]
        return {"labels": labels.tolist(), "experiments": experiments}
    if spec.type == "Clustering":
        sets = []
        for _ in range(CLUSTER_SETS[0]):
            labels = rng.integers(0, 10, CLUSTER_SETS[1])
            guess = np.where(rng.random(CLUSTER_SETS[1]) < quality, labels, rng.integers(0, 10, CLUSTER_SETS[1]))
            sets.append({"labels": labels.astype(str).tolist(), "assignments": guess.tolist()})
        return {"sets": sets, "constant_sets": 0}
    qrels, rankings = {}, {}
    for q in range(n):
        docs = [f"d{q}_{i}" for i in range(20)]
        qrels[f"q{q}"] = {docs[0]: 1}
        rankings[f"q{q}"] = {d: float(s) for d, s in zip(docs, rng.normal(0, 1, len(docs)))}
        rankings[f"q{q}"][docs[0]] += quality
    depth = 100 if spec.type == "Retrieval" else None
    return {"qrels": qrels, "rankings": rankings, "depth": depth, "skip_first_result": False}


def _write_model(root: Path, name: str, quality: float, suite) -> Path:
    """A results folder whose every suite task has a result file (with the recomputed score) and predictions."""
    from evalkit.metrics import mteb_key
    from evalkit.report.bootstrap import load_sample
    from evalkit.results.predictions import write_predictions

    folder = root / name / "rev"
    folder.mkdir(parents=True)
    (folder / "model_meta.json").write_text(json.dumps({"name": name}))
    for i, spec in enumerate(suite.tasks):
        rng = np.random.default_rng(i)
        record = {"task": spec.mteb_task, "type": spec.type, "split": spec.split, "subset": spec.subset}
        write_predictions(folder / f"{spec.mteb_task}.predictions.json.gz", record | _predictions(spec, rng, quality))
        metric = suite.main_metrics[spec.type]
        score = load_sample(folder / f"{spec.mteb_task}.predictions.json.gz", spec.type, metric).point()
        entry = {"hf_subset": spec.subset, "main_score": score, "languages": ["cmn-Hans"],
                 mteb_key(spec.type, metric): score}  # fmt: skip
        result = {"dataset_revision": "synthetic", "task_name": spec.mteb_task, "mteb_version": "2.0.0",
                  "scores": {spec.split: [entry]}, "evaluation_time": 0, "predictions":
                  f"{spec.mteb_task}.predictions.json.gz"}  # fmt: skip
        (folder / f"{spec.mteb_task}.json").write_text(json.dumps(result))
    return folder


def cost() -> None:
    import evalkit
    from evalkit.suite import load_suite

    suite = load_suite("c-mteb")
    with tempfile.TemporaryDirectory() as tmp:
        cand = _write_model(Path(tmp), "cand", 0.6, suite)
        base = _write_model(Path(tmp), "base", 0.62, suite)
        size = sum(p.stat().st_size for p in cand.glob("*.gz"))
        start, cpu = time.perf_counter(), time.process_time()
        comp = evalkit.compare(cand, [base], ci=95)
        compared = (time.perf_counter() - start, time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        gate = evalkit.check(cand, baseline=base, significance=0.05)
        checked = (time.perf_counter() - start, time.process_time() - cpu)
    with_ci = sum(r.ci[0] is not None for r in comp.tasks)
    print(f"cost: 35 tasks, 2 models, 1000 resamples; predictions {size / 2**20:.1f} MiB per model (gzip)")
    tested = sum(c.test is not None for c in gate.checks)
    print(f"  compare --ci 95:            {compared[0]:6.1f} s wall, {compared[1]:6.1f} s CPU  ({with_ci} tasks)")
    print(f"  check --significance 0.05:  {checked[0]:6.1f} s wall, {checked[1]:6.1f} s CPU  ({tested} tested)")


def coverage(runs: int, n: int) -> None:
    from sklearn.metrics import average_precision_score, v_measure_score

    from evalkit.report import bootstrap

    rng = np.random.default_rng(0)
    rho = 0.6

    def pc(size):  # labels and noisy scores
        labels = rng.random(size) < 0.4
        return labels.astype(float), labels * 1.0 + rng.normal(0, 1, size)

    def cl(size):  # 5 labels; the assignment is right 60% of the time
        labels = rng.integers(0, 5, size)
        return labels, np.where(rng.random(size) < 0.6, labels, rng.integers(0, 5, size))

    big = 1_000_000
    truths = {
        "accuracy": 0.7,
        "spearman": 6 / np.pi * np.arcsin(rho / 2),
        "average precision": average_precision_score(*pc(big)),
        "v_measure": v_measure_score(*cl(big)),
        "per-query mean": 0.5,
    }

    def draw(name: str) -> bootstrap.Sample:
        if name == "accuracy":
            correct = (rng.random(n) < 0.7).astype(float)
            return bootstrap.Mean(correct, correct.mean(), ())
        if name == "spearman":
            x = rng.standard_normal((n, 2)) @ np.linalg.cholesky([[1, rho], [rho, 1]]).T
            return bootstrap.Correlation(x[:, 0], x[:, 1], True)
        if name == "average precision":
            return bootstrap.AveragePrecision(*pc(n))
        if name == "v_measure":
            return bootstrap.VMeasure([cl(n)], 0)
        values = rng.beta(2, 2, n)  # per-query values in [0, 1], mean 0.5
        return bootstrap.Mean(values, values.mean(), ())

    print(f"coverage of 95% intervals ({runs} simulated evaluation sets of {n} examples, 1000 resamples each):")
    for name, truth in truths.items():
        hits = 0
        for run in range(runs):
            reps = bootstrap.replicates([draw(name)], 1000, np.random.default_rng(run))[0]
            low, high = bootstrap.interval(reps, 0.95)
            hits += low <= 100 * truth <= high
        print(f"  {name:18s} {hits / runs:6.1%}  (truth {100 * truth:.2f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--skip-cost", action="store_true", help="only the coverage simulation")
    args = parser.parse_args()
    if not args.skip_cost:
        cost()
    coverage(args.runs, args.n)


if __name__ == "__main__":
    main()
