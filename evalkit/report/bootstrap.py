"""Bootstrap confidence intervals of main scores, recomputed from per-example predictions (`run --save-predictions`).

The point estimate of each type's main metric comes from the function mteb computes it with: scipy's Spearman or
Pearson correlation (STS), sklearn's average precision (PairClassification), sklearn's accuracy averaged over the
experiments (Classification), sklearn's V-measure averaged over the cluster sets (Clustering), and pytrec_eval's
per-query measures averaged as mteb's `parse_metrics_from_scores` does (Retrieval, Reranking).

A resample is a vector of counts, how often each example was drawn; the metrics of a block of resamples are
computed at once as matrix operations on those counts, each equal to the library function applied to the
examples repeated that many times (the tests check both). Resampling units:

- Retrieval, Reranking: queries;
- STS, PairClassification: pairs;
- Classification: test examples (the predictions of every experiment for a drawn example go together);
- Clustering: documents, drawn within each cluster set with the set's k-means assignments held fixed. The
  interval covers which documents were evaluated, not the randomness of k-means itself.

Examples that are interchangeable for the metric (a contingency cell's documents, equal per-example values) are
drawn as kinds, by multinomial counts, when that saves work. Two models' resamples are paired (the same counts
for both) when their predictions cover the same examples.

Predictions are used only once they give back the score their result file stores (`task_sample`): a predictions
file of another run, copied beside a result, is refused before any interval or verdict uses it.

Intervals are percentile intervals, except for V-measure, which is biased upward on a finite set (and again on
a resample): its replicates are moved to centre on the score minus its jackknife bias, so that the interval
bounds the population value (`benchmarks/bootstrap.py` measures the coverage of both).
"""

from __future__ import annotations

import re
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.errors import UserError
from evalkit.metrics import SIMILARITIES, mteb_key, to_card
from evalkit.results.predictions import read_predictions
from evalkit.results.scores import TaskScores

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
CHUNK = 100  # resamples computed at once: bounds memory to CHUNK x examples counts
KIND_SAVING = 8  # resample kinds instead of examples when there are at least this many examples per kind
RETRIEVAL_MEASURES = {"ndcg": ("ndcg_cut", "NDCG"), "map": ("map_cut", "MAP"), "recall": ("recall", "Recall"),
                      "precision": ("P", "P")}  # fmt: skip
PARSED_MEASURES = ("map_cut", "ndcg_cut", "recall", "P", "success")  # the pytrec_eval measures mteb averages at a k
SAME_SCORE = 1e-7  # card points: the stored score, recomputed from its predictions (1e-9 on mteb's 0-1 scale)


class Sample(ABC):
    """One task's predictions, ready to be resampled: `units` say which examples they are (for pairing)."""

    units: tuple
    strata: list[int]  # sizes of the groups resampled independently, in example order

    @abstractmethod
    def point(self) -> float:
        """The main metric on the 0-1 scale, as mteb computes it."""

    @abstractmethod
    def replicates(self, counts: np.ndarray) -> np.ndarray:
        """The metric under each row of resample counts (shape resamples x examples)."""

    def bias(self) -> float | None:
        """An estimate of the metric's bias on a set of this size (0-1 scale), for metrics whose bias a percentile
        interval would not cover; None (the default) for the percentile interval itself."""
        return None

    def kinds(self) -> np.ndarray | None:
        """Per example, a key such that examples with equal keys are interchangeable for the metric (a resample
        may then draw kinds instead of examples); None when every example counts on its own."""
        return None

    def subset(self, index: np.ndarray) -> Sample:
        """The sample of the examples at `index` (one of each kind), whose counts are then counts per kind."""
        raise NotImplementedError(f"{type(self).__name__} has no kinds")


def _distance_key(card_prefix: str) -> str:
    name = SIMILARITIES[card_prefix]
    return f"{name}_distances" if name in ("euclidean", "manhattan") else f"{name}_scores"


@dataclass(frozen=True)
class _Ties:
    """One variable's examples in ascending order, grouped by equal value (ties)."""

    order: np.ndarray  # the examples, ascending
    starts: np.ndarray  # where each group of equal values starts in `order`
    group: np.ndarray  # each example's group

    @classmethod
    def of(cls, x: np.ndarray) -> _Ties:
        order = np.argsort(x, kind="stable")
        ordered = x[order]
        new = np.r_[True, ordered[1:] != ordered[:-1]]
        group = np.empty(len(x), dtype=np.intp)
        group[order] = np.cumsum(new) - 1
        return cls(order, np.flatnonzero(new), group)

    def midranks(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row and group: how many drawn examples it holds, and their rank, ties averaged (scipy's rankdata),
        among the examples repeated `counts` times."""
        drawn = counts[:, self.order]
        size = drawn if len(self.starts) == len(self.order) else np.add.reduceat(drawn, self.starts, axis=1)
        return size, np.cumsum(size, axis=1) - (size - 1) / 2


def _weighted_spearman(x: _Ties, y: _Ties, counts: np.ndarray) -> np.ndarray:
    """Per row, Spearman's rho (Pearson's r of the midranks) of the examples repeated `counts` times."""
    total = counts.sum(axis=1)
    mean = (total + 1) / 2  # the mean midrank, whatever the ties
    size_x, rank_x = x.midranks(counts)
    size_y, rank_y = y.midranks(counts)
    if len(y.starts) == len(y.order):  # no ties: one example per group
        drawn, ranks_y = size_y, rank_y
    else:
        drawn, ranks_y = counts[:, y.order], rank_y[:, y.group[y.order]]
    cov = (drawn * rank_x[:, x.group[y.order]] * ranks_y).sum(axis=1) / total - mean**2  # in y's order
    var_x = (size_x * rank_x**2).sum(axis=1) / total - mean**2
    var_y = (size_y * rank_y**2).sum(axis=1) / total - mean**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt(var_x * var_y)


def _weighted_pearson(x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row, Pearson's r of the examples repeated `counts` times (x, y: one row or one row per resample)."""
    total = counts.sum(axis=1, keepdims=True)
    dx = x - (counts * x).sum(axis=1, keepdims=True) / total
    dy = y - (counts * y).sum(axis=1, keepdims=True) / total
    cov = (counts * dx * dy).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt((counts * dx * dx).sum(axis=1) * (counts * dy * dy).sum(axis=1))


@dataclass
class Correlation(Sample):
    """STS: Spearman's or Pearson's r of the gold scores against one similarity, over pairs."""

    gold: np.ndarray
    pred: np.ndarray
    spearman: bool

    def __post_init__(self) -> None:
        self.units = ("pairs", tuple(self.gold))
        self.strata = [len(self.gold)]
        self._ties = (_Ties.of(self.gold), _Ties.of(self.pred)) if self.spearman else None

    def point(self) -> float:
        from scipy.stats import pearsonr, spearmanr

        return float((spearmanr if self.spearman else pearsonr)(self.gold, self.pred)[0])

    def replicates(self, counts: np.ndarray) -> np.ndarray:
        if self._ties is None:
            return _weighted_pearson(self.gold, self.pred, counts)
        return _weighted_spearman(*self._ties, counts)


@dataclass
class AveragePrecision(Sample):
    """PairClassification: sklearn's average precision of the labels against one similarity, over pairs."""

    labels: np.ndarray
    scores: np.ndarray  # higher means more similar (distances negated, as mteb does)

    def __post_init__(self) -> None:
        self.units = ("pairs", tuple(self.labels))
        self.strata = [len(self.labels)]

    def point(self) -> float:
        from sklearn.metrics import average_precision_score

        return float(average_precision_score(self.labels, self.scores))

    def replicates(self, counts: np.ndarray) -> np.ndarray:
        order = np.argsort(-self.scores, kind="stable")
        ordered = self.scores[order]
        last = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), len(ordered) - 1]  # one threshold per score
        drawn = counts[:, order]
        tps = np.cumsum(drawn * self.labels[order], axis=1)[:, last]
        pos = np.cumsum(drawn, axis=1)[:, last]
        precision = np.divide(tps, pos, out=np.ones_like(tps), where=pos > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = tps / tps[:, -1:]
        steps = np.diff(recall, axis=1, prepend=0.0)
        return (steps * precision).sum(axis=1)


@dataclass
class Mean(Sample):
    """A mean of per-unit values (per-query retrieval measures, per-example accuracy over experiments)."""

    values: np.ndarray
    mteb_point: float
    units: tuple

    def __post_init__(self) -> None:
        self.strata = [len(self.values)]

    def point(self) -> float:
        return self.mteb_point

    def replicates(self, counts: np.ndarray) -> np.ndarray:
        return counts @ self.values / counts.sum(axis=1)

    def kinds(self) -> np.ndarray:
        return np.unique(self.values, return_inverse=True)[1]

    def subset(self, index: np.ndarray) -> Mean:
        return Mean(self.values[index], self.mteb_point, self.units)


def _v_measures(contingency: np.ndarray) -> np.ndarray:
    """sklearn's V-measure (beta 1) from weighted contingency tables (resamples x labels x clusters)."""
    total = contingency.sum(axis=(1, 2))[:, None, None]
    p = contingency / total
    p_label, p_cluster = p.sum(axis=2), p.sum(axis=1)

    def entropy(q: np.ndarray) -> np.ndarray:
        return -np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0).sum(axis=1)

    outer = p_label[:, :, None] * p_cluster[:, None, :]
    mi = np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / np.where(outer > 0, outer, 1)), 0).sum(axis=(1, 2))
    h_label, h_cluster = entropy(p_label), entropy(p_cluster)
    homogeneity = np.where(h_label > 0, mi / np.where(h_label > 0, h_label, 1), 1.0)
    completeness = np.where(h_cluster > 0, mi / np.where(h_cluster > 0, h_cluster, 1), 1.0)
    both = homogeneity + completeness
    return np.where(both > 0, 2 * homogeneity * completeness / np.where(both > 0, both, 1), 0.0)


@dataclass
class VMeasure(Sample):
    """Clustering: sklearn's V-measure per cluster set, averaged over the sets (single-label sets count 1.0)."""

    sets: list[tuple[np.ndarray, np.ndarray]]  # (labels, assignments) per set
    constant_sets: int

    def __post_init__(self) -> None:
        self.units = ("documents", tuple(tuple(labels) for labels, _ in self.sets), self.constant_sets)
        self.strata = [len(labels) for labels, _ in self.sets]
        self._cells = []  # per set: each document's cell of the contingency table, and the table's shape
        for labels, assignments in self.sets:
            _, label_ids = np.unique(labels, return_inverse=True)
            _, cluster_ids = np.unique(assignments, return_inverse=True)
            shape = (int(label_ids.max()) + 1, int(cluster_ids.max()) + 1)
            self._cells.append((label_ids * shape[1] + cluster_ids, shape))

    def point(self) -> float:
        from sklearn.metrics import v_measure_score

        values = [v_measure_score(labels, assignments) for labels, assignments in self.sets]
        return float(np.mean(values + [1.0] * self.constant_sets))

    def replicates(self, counts: np.ndarray) -> np.ndarray:
        rows = len(counts)
        total = np.full(rows, float(self.constant_sets))
        start = 0
        for cells, shape in self._cells:
            block = counts[:, start : start + len(cells)]
            start += len(cells)
            size = shape[0] * shape[1]
            flat = (np.arange(rows)[:, None] * size + cells).ravel()  # each resample's own table
            tables = np.bincount(flat, weights=block.ravel(), minlength=rows * size)
            total += _v_measures(tables.reshape(rows, *shape))
        return total / (len(self.sets) + self.constant_sets)

    def bias(self) -> float:
        """The jackknife estimate, each set's documents left out one at a time: the bootstrap underestimates the
        bias where the contingency table has sparse cells, which a resample cannot populate."""
        total = 0.0
        for cells, shape in self._cells:
            table = np.bincount(cells, minlength=shape[0] * shape[1]).astype(float)
            filled = np.flatnonzero(table)
            if table.sum() < 2:
                continue
            left_out = np.repeat(table[None], len(filled), axis=0)  # one document of each filled cell left out
            left_out[np.arange(len(filled)), filled] -= 1
            values = _v_measures(left_out.reshape(-1, *shape))
            full = _v_measures(table.reshape(1, *shape))[0]
            total += (table.sum() - 1) * ((table[filled] * values).sum() / table.sum() - full)
        return total / (len(self.sets) + self.constant_sets)

    def kinds(self) -> np.ndarray:
        return np.concatenate([cells for cells, _ in self._cells])  # documents of one cell are interchangeable

    def subset(self, index: np.ndarray) -> VMeasure:
        bounds = np.cumsum([0, *self.strata])
        sets = []
        for (labels, assignments), low, high in zip(self.sets, bounds, bounds[1:]):
            local = index[(index >= low) & (index < high)] - low
            sets.append((labels[local], assignments[local]))
        return VMeasure(sets, self.constant_sets)


def _retrieval(path: Path, record: dict, metric: str) -> Sample | None:
    """Per-query values of `metric` from mteb's recorded per-query measures, or else from the rankings scored by
    pytrec_eval as mteb does; the point averaged by mteb's `parse_metrics_from_scores`."""
    from mteb._evaluators.retrieval_metrics import parse_metrics_from_scores

    match = re.fullmatch(r"(ndcg|map|recall|precision)_at_(\d+)", metric)
    depth = record.get("depth")
    if match is None or (depth is not None and int(match[2]) > depth):
        return None
    k = int(match[2])
    names = [f"{name}_{k}" for name in PARSED_MEASURES]
    recorded = record.get("query_scores") or {"measures": {}}
    if all(name in recorded["measures"] for name in names):
        columns = [recorded["measures"][name] for name in names]
        scores = {q: dict(zip(names, values)) for q, *values in zip(recorded["queries"], *columns)}
    else:  # recorded before per-query measures were, or at another cutoff
        scores = _pytrec_scores(read_predictions(path), k)
    if not scores:
        return None
    measure, label = RETRIEVAL_MEASURES[match[1]]
    parsed = parse_metrics_from_scores(scores, [k])
    point = next(part[f"{label}@{k}"] for part in parsed[:4] if f"{label}@{k}" in part)
    queries = sorted(scores)
    values = np.array([scores[q][f"{measure}_{k}"] for q in queries])
    return Mean(values, point, ("queries", tuple(queries)))


def _pytrec_scores(record: dict, k: int) -> dict[str, dict[str, float]]:
    """pytrec_eval's per-query measures of the saved rankings, as mteb's `calculate_retrieval_scores` computes them."""
    import pytrec_eval

    rankings = record["rankings"]
    if record.get("skip_first_result"):  # as mteb's calculate_retrieval_scores
        rankings = {q: dict(sorted(d.items(), key=lambda x: x[1], reverse=True)[1:]) for q, d in rankings.items()}
    measures = {f"{name}.{k}" for name in PARSED_MEASURES}
    return pytrec_eval.RelevanceEvaluator(record["qrels"], measures).evaluate(rankings)


def load_sample(path: Path, task_type: str, metric: str) -> Sample | None:
    """The predictions of `path` for the card metric `metric`, None when they cannot recompute that metric."""
    record = read_predictions(path, bulky=False)
    if record["type"] != task_type:
        return None
    if task_type in ("Retrieval", "Reranking"):
        return _retrieval(path, record, mteb_key(task_type, metric))
    if task_type == "Classification":
        if metric != "accuracy":
            return None
        labels = np.asarray(record["labels"])
        correct = np.array([np.asarray(p) == labels for p in record["experiments"]], dtype=float)
        from sklearn.metrics import accuracy_score

        point = float(np.mean([accuracy_score(labels, p) for p in record["experiments"]]))
        return Mean(correct.mean(axis=0), point, ("examples", tuple(record["labels"])))
    if task_type == "Clustering":
        if metric != "v_measure":
            return None
        sets = [(np.asarray(s["labels"]), np.asarray(s["assignments"])) for s in record["sets"]]
        return VMeasure(sets, int(record.get("constant_sets", 0)))
    prefix = next((p for p in SIMILARITIES if metric.startswith(p + "_")), None)
    values = record["scores"].get(_distance_key(prefix)) if prefix else None
    if values is None:
        return None
    name = metric.removeprefix(prefix + "_")
    values = np.asarray(values, dtype=float)
    if task_type == "STS" and name in ("spearman", "pearson"):
        return Correlation(np.asarray(record["gold"], dtype=float), values, name == "spearman")
    if task_type == "PairClassification" and name == "ap":
        sign = -1.0 if SIMILARITIES[prefix] in ("euclidean", "manhattan") else 1.0
        return AveragePrecision(np.asarray(record["labels"], dtype=float), sign * values)
    return None


def task_sample(scores: TaskScores, metric: str) -> Sample | None:
    """The predictions of a task's result for the card metric `metric`, checked against the score the result
    stores; None without predictions, or where they cannot recompute `metric`.

    Predictions that give another score come from another run (a file copied beside the result): a `UserError`
    naming the file and both scores, so that they never decide an interval or a verdict.
    """
    stored = scores.metrics.get(metric)
    if scores.predictions is None or stored is None:
        return None
    sample = load_sample(scores.predictions, scores.type, metric)
    if sample is None:
        return None
    recomputed = float(to_card(sample.point()))
    if not abs(recomputed - stored) <= SAME_SCORE:
        raise UserError(
            f"{scores.predictions}: these predictions give {metric} {recomputed:.2f}, but the {scores.task} result "
            f"beside them stores {stored:.2f}; they come from another run (copied?): evaluate the task again with "
            "its predictions saved"
        )
    return sample


def _draw(strata: list[int | np.ndarray], rows: int, rng: np.random.Generator) -> np.ndarray:
    """Resample counts (rows x examples): each stratum's examples drawn with replacement, as many as it has. A
    stratum given as multiplicities of kinds draws kinds with those weights (the counts are then per kind)."""
    blocks = []
    for stratum in strata:
        if isinstance(stratum, np.ndarray):
            total = int(stratum.sum())
            blocks.append(rng.multinomial(total, stratum / total, size=rows).astype(float))
            continue
        drawn = rng.integers(0, stratum, size=(rows, stratum))
        drawn += (np.arange(rows) * stratum)[:, None]
        blocks.append(np.bincount(drawn.ravel(), minlength=rows * stratum).reshape(rows, stratum).astype(float))
    return np.concatenate(blocks, axis=1)


def _by_kind(samples: list[Sample]) -> tuple[list[Sample], list[int | np.ndarray]]:
    """The samples reduced to one example of each kind they all share, with the strata to draw (multiplicities of
    the kinds); unchanged, with the strata's sizes, where kinds are missing or would save little."""
    keys = [s.kinds() for s in samples]
    strata = samples[0].strata
    if any(k is None for k in keys):
        return samples, list(strata)
    stacked, start = np.stack(keys), 0
    index, weights = [], []
    for size in strata:
        _, first, multiplicity = np.unique(
            stacked[:, start : start + size], axis=1, return_index=True, return_counts=True
        )
        index.append(first + start)
        weights.append(multiplicity.astype(float))
        start += size
    if sum(map(len, weights)) * KIND_SAVING > sum(strata):
        return samples, list(strata)
    index = np.concatenate(index)
    return [s.subset(index) for s in samples], weights


def task_rng(task: str, seed: int = DEFAULT_SEED, stream: int = 0) -> np.random.Generator:
    """The resampling stream of one task: the same for every model, so models with the same examples pair."""
    return np.random.default_rng([seed, zlib.crc32(task.encode("utf-8")), stream])


def replicates(samples: list[Sample], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Card-scale (x100) replicates of each sample (samples x resamples), all under the same resample counts. A
    sample with a bias estimate has its replicates moved to centre on its unresampled value minus that bias (by
    their mean's distance to the unresampled value, plus the bias), so that their percentiles bound the
    population value rather than the expected value on a set of this size; the others are left as drawn."""
    if any(s.strata != samples[0].strata for s in samples):
        raise ValueError("paired samples need the same examples")
    reduced, strata = _by_kind(samples)
    out = np.empty((len(samples), resamples))
    for start in range(0, resamples, CHUNK):
        counts = _draw(strata, min(CHUNK, resamples - start), rng)
        for i, sample in enumerate(reduced):
            out[i, start : start + len(counts)] = sample.replicates(counts)
    once = np.concatenate([np.ones(s) if isinstance(s, int) else s for s in strata])[None]  # no resampling
    for i, (sample, small) in enumerate(zip(samples, reduced)):
        bias = sample.bias()
        if bias is not None:
            out[i] -= out[i].mean() - small.replicates(once)[0] + bias
    return to_card(out)


def interval(values: np.ndarray, level: float) -> tuple[float, float] | None:
    """The central percentile interval holding `level` (0-1) of the replicates; None when they are all NaN."""
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


@dataclass(frozen=True)
class DeltaTest:
    """The bootstrap distribution of a candidate-minus-baseline delta (card points) against a tolerance."""

    ci: tuple[float, float] | None  # the (1 - alpha) percentile interval of the delta
    p_value: float  # twice the share of resampled deltas at or above -tolerance (capped at 1)
    paired: bool  # the same resamples for both models (same examples)


def delta_test(
    task: str,
    candidate: Sample,
    baseline: Sample,
    tolerance: float,
    alpha: float,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    epsilon: float = 1e-9,
) -> DeltaTest:
    """Is the drop larger than `tolerance` with confidence 1 - alpha? Paired when both cover the same examples."""
    paired = candidate.units == baseline.units
    if paired:
        both = replicates([candidate, baseline], resamples, task_rng(task, seed))
        deltas = both[0] - both[1]
    else:  # different examples: independent resamples of each
        deltas = (
            replicates([candidate], resamples, task_rng(task, seed, 1))[0]
            - replicates([baseline], resamples, task_rng(task, seed, 2))[0]
        )
    finite = deltas[np.isfinite(deltas)]
    share = float(np.mean(finite >= -tolerance - epsilon)) if len(finite) else 1.0
    return DeltaTest(interval(deltas, 1 - alpha), min(1.0, 2 * share), paired)
