"""Benchmark of the bootstrap: its cost on a full C-MTEB-sized comparison, and the coverage of its intervals.

1. Cost: writes synthetic predictions files for the 35 tasks of `tasks/c-mteb.yaml`, shaped like the real
   evaluation sets (mteb's descriptive statistics: queries, relevant documents and candidates per query, pairs,
   test examples and labels, 10 cluster sets of 10,000 documents), for two models, and measures the CPU time of
   `compare --ci 95` (both models, 1,000 resamples, every task, delta and average) and of
   `check --significance 0.05`.
2. Coverage: on synthetic data whose true value is known, the share of 95% intervals that hold it: accuracy 0.7;
   Spearman of a bivariate normal with rho 0.6; average precision of a fixed population (truth from a million
   draws); a mean of per-query nDCG-like values; V-measure of labels and cluster assignments drawn from a known
   joint distribution (truth: the V-measure of that distribution itself, the limit of ever larger sets), at
   several accuracies, for one set of `--n` documents and for 10 sets of 1,000 and of 10,000 documents.

Usage: python benchmarks/bootstrap.py [--runs 300] [--n 300] [--skip-cost] [--skip-coverage]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The C-MTEB evaluation sets, from mteb's descriptive statistics of each task's split.
PAIRS = {"AFQMC": 4316, "ATEC": 20000, "BQ": 10000, "LCQMC": 12500, "PAWSX": 2000, "QBQTC": 5000, "STS22": 656,
         "STSB": 1361, "Cmnli": 8315, "Ocnli": 1847}  # fmt: skip
EXAMPLES = {  # test examples, labels
    "AmazonReviewsClassification": (5000, 5),
    "IFlyTek": (2599, 119),
    "JDReview": (533, 2),
    "MassiveIntentClassification": (2974, 59),
    "MassiveScenarioClassification": (2974, 18),
    "MultilingualSentiment": (3000, 3),
    "OnlineShopping": (1000, 2),
    "TNews": (10000, 15),
    "Waimai": (1000, 2),
}
CLUSTERS = {"CLSClusteringP2P": 13, "CLSClusteringS2S": 13, "ThuNewsClusteringP2P": 14, "ThuNewsClusteringS2S": 14}
CLUSTER_SETS = (10, 10000)  # each: 10 sets of 10,000 documents (100,000 in all)
QUERIES = {  # queries, relevant documents per query (, candidates per query for reranking)
    "CmedqaRetrieval": (3999, 2),
    "CovidRetrieval": (949, 1),
    "DuRetrieval": (2000, 5),
    "EcomRetrieval": (1000, 1),
    "MMarcoRetrieval": (6980, 1),
    "MedicalRetrieval": (1000, 1),
    "T2Retrieval": (22812, 5),
    "VideoRetrieval": (1000, 1),
    "CMedQAv1-reranking": (1000, 2, 100),
    "CMedQAv2-reranking": (1000, 2, 100),
    "MMarcoReranking": (100, 1, 1000),
    "T2Reranking": (5908, 8, 16),
}
N_EXPERIMENTS = 10
K_VALUES = (1, 3, 5, 10, 20, 100, 1000)  # mteb's retrieval cutoffs


def _ranked(spec, rng: np.random.Generator, quality: float) -> dict:
    """Retrieval or reranking: qrels, rankings and mteb's per-query pytrec_eval measures."""
    import pytrec_eval

    from evalkit.results.predictions import query_scores
    from evalkit.run.record import RETRIEVAL_DEPTH

    queries, relevant, *candidates = QUERIES[spec.mteb_task]
    depth = RETRIEVAL_DEPTH if spec.type == "Retrieval" else None
    docs = candidates[0] if candidates else RETRIEVAL_DEPTH
    scores = rng.normal(0, 1, (queries, docs))
    scores[:, :relevant] += quality * 2
    qrels, rankings = {}, {}
    for q, row in enumerate(scores):
        qrels[f"q{q}"] = {f"d{q}_{i}": 1 for i in range(relevant)}
        order = np.argsort(-row, kind="stable")
        rankings[f"q{q}"] = {f"d{q}_{i}": float(row[i]) for i in order}
    measures = {f"{m}.{','.join(map(str, K_VALUES))}" for m in ("map_cut", "ndcg_cut", "recall", "P", "success")}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(rankings)
    return {"query_scores": query_scores(per_query, depth), "qrels": qrels, "rankings": rankings, "depth": depth,
            "skip_first_result": False}  # fmt: skip


def _predictions(spec, rng: np.random.Generator, quality: float) -> dict:
    """A predictions record of the task's type and C-MTEB shape; `quality` sets how good the model is."""
    if spec.type in ("STS", "PairClassification"):
        n = PAIRS[spec.mteb_task]
        gold = rng.integers(0, 6, n) / 5 if spec.type == "STS" else rng.integers(0, 2, n)
        scores = {"cosine_scores": (gold * quality + rng.normal(0, 0.5, n)).tolist()}
        return {"gold" if spec.type == "STS" else "labels": gold.tolist(), "scores": scores}
    if spec.type == "Classification":
        n, k = EXAMPLES[spec.mteb_task]
        labels = rng.integers(0, k, n)
        experiments = [np.where(rng.random(n) < quality, labels, rng.integers(0, k, n)).tolist()
                       for _ in range(N_EXPERIMENTS)]  # fmt: skip
        return {"labels": labels.tolist(), "experiments": experiments}
    if spec.type == "Clustering":
        k, (n_sets, n) = CLUSTERS[spec.mteb_task], CLUSTER_SETS
        weights = 1 / np.arange(1, k + 1)  # unbalanced labels, as the CLS and THUCNews categories are
        sets = []
        for _ in range(n_sets):
            labels = rng.choice(k, n, p=weights / weights.sum())
            guess = np.where(rng.random(n) < quality, labels, rng.integers(0, k, n))
            sets.append({"labels": labels.astype(str).tolist(), "assignments": guess.tolist()})
        return {"sets": sets, "constant_sets": 0}
    return _ranked(spec, rng, quality)


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
        load = os.getloadavg()[0]
        start, cpu = time.perf_counter(), time.process_time()
        comp = evalkit.compare(cand, [base], ci=95)
        compared = (time.perf_counter() - start, time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        gate = evalkit.check(cand, baseline=base, significance=0.05)
        checked = (time.perf_counter() - start, time.process_time() - cpu)
        load = max(load, os.getloadavg()[0])
    with_ci = sum(r.ci[0] is not None for r in comp.tasks)
    tested = sum(c.test is not None for c in gate.checks)
    print(f"cost: 35 tasks, 2 models, 1000 resamples; predictions {size / 2**20:.1f} MiB per model (gzip)")
    print(f"  compare --ci 95:            {compared[1]:6.1f} s CPU, {compared[0]:6.1f} s wall  ({with_ci} tasks)")
    print(f"  check --significance 0.05:  {checked[1]:6.1f} s CPU, {checked[0]:6.1f} s wall  ({tested} tested)")
    print(f"  load average (1 min, at most): {load:.1f} on {os.cpu_count()} CPUs", flush=True)


def _clustering(rng: np.random.Generator, labels: int, accuracies: list[float], sets: int, size: int):
    """Cluster sets of `size` documents: labels unbalanced (weights 1/rank) and each model's assignment the label
    with probability `accuracy`, else a label drawn at random; one (labels, assignments) list per model."""
    weights = 1 / np.arange(1, labels + 1)
    drawn = [[] for _ in accuracies]
    for _ in range(sets):
        gold = rng.choice(labels, size, p=weights / weights.sum())
        for model, q in zip(drawn, accuracies):
            model.append((gold, np.where(rng.random(size) < q, gold, rng.integers(0, labels, size))))
    return drawn


def _population_v_measure(labels: int, accuracy: float) -> float:
    """The V-measure of the generating distribution itself: the limit of ever larger cluster sets."""
    from evalkit.report.bootstrap import _v_measures

    weights = 1 / np.arange(1, labels + 1)
    joint = (weights / weights.sum())[:, None] * (accuracy * np.eye(labels) + (1 - accuracy) / labels)
    return float(_v_measures(joint[None])[0])


def coverage(runs: int, n: int) -> None:
    from sklearn.metrics import average_precision_score

    from evalkit.report import bootstrap

    rng = np.random.default_rng(0)
    rho = 0.6

    def pc(size):  # labels and noisy scores
        labels = rng.random(size) < 0.4
        return labels.astype(float), labels * 1.0 + rng.normal(0, 1, size)

    def mean(values):
        return bootstrap.Mean(values, values.mean(), ())

    def normal(size):
        return rng.standard_normal((size, 2)) @ np.linalg.cholesky([[1, rho], [rho, 1]]).T

    def clustered(labels, accuracies, sets, size):
        return [bootstrap.VMeasure(s, 0) for s in _clustering(rng, labels, accuracies, sets, size)]

    def paired_accuracy():  # the same examples: right for both, for one, or for none
        u = rng.random(n)
        return [mean((u < 0.7).astype(float)), mean((u < 0.72).astype(float))]

    spearman = 6 / np.pi * np.arcsin(rho / 2)
    scenarios = [  # name, truth (0-1; of the first sample, or of the first minus the second), draw
        (f"accuracy 0.7, {n} examples", 0.7, lambda: [mean((rng.random(n) < 0.7).astype(float))]),
        (f"Spearman, rho 0.6, {n} pairs", spearman, lambda: [bootstrap.Correlation(*normal(n).T, True)]),
        (f"average precision, {n} pairs", average_precision_score(*pc(1_000_000)),
         lambda: [bootstrap.AveragePrecision(*pc(n))]),
        (f"per-query mean, {n} queries", 0.5, lambda: [mean(rng.beta(2, 2, n))]),
        (f"V-measure, 1 set of {n}, 5 labels, 60% right", _population_v_measure(5, 0.6),
         lambda: clustered(5, [0.6], 1, n)),
        *((f"V-measure, 10 sets of 1,000, 13 labels, {q:.0%} right", _population_v_measure(13, q),
           lambda q=q: clustered(13, [q], 10, 1000)) for q in (0.3, 0.5, 0.7, 0.9)),
        ("V-measure, 10 sets of 10,000, 13 labels, 50% right", _population_v_measure(13, 0.5),
         lambda: clustered(13, [0.5], 10, 10000)),
        ("paired delta: accuracy 0.70 - 0.72", -0.02, paired_accuracy),
        ("paired delta: V-measure 50% - 55% right, 10 x 1,000",
         _population_v_measure(13, 0.5) - _population_v_measure(13, 0.55),
         lambda: clustered(13, [0.5, 0.55], 10, 1000)),
    ]  # fmt: skip
    print(f"coverage of 95% intervals ({runs} simulated evaluation sets each, 1000 resamples):")
    print(f"  {'metric (synthetic data)':52s} {'truth':>7s} {'mean score':>10s} {'coverage':>8s}")
    for name, truth, draw in scenarios:
        hits, points = 0, []
        for run in range(runs):
            samples = draw()
            reps = bootstrap.replicates(samples, 1000, np.random.default_rng(run))
            value = reps[0] - reps[1] if len(samples) == 2 else reps[0]
            low, high = bootstrap.interval(value, 0.95)
            hits += low <= 100 * truth <= high
            points.append(samples[0].point() - (samples[1].point() if len(samples) == 2 else 0))
        print(f"  {name:52s} {100 * truth:7.2f} {100 * np.mean(points):10.2f} {hits / runs:8.1%}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="simulated evaluation sets per coverage figure")
    parser.add_argument("--n", type=int, default=300, help="examples per simulated evaluation set")
    parser.add_argument("--skip-cost", action="store_true", help="only the coverage simulation")
    parser.add_argument("--skip-coverage", action="store_true", help="only the cost")
    args = parser.parse_args()
    if not args.skip_cost:
        cost()
    if not args.skip_coverage:
        coverage(args.runs, args.n)


if __name__ == "__main__":
    main()
