"""The one mapping from mteb scores (0-1) to the metric names and 0-100 scale of C-MTEB model cards.

Every result format mteb wrote over the years goes through `card_metrics`: mteb 2.x keys (`cosine_*`,
`map_at_1000`, `mrr_at_10`), 1.x keys as mteb's loader flattens them (`cosine_*` from `{"cos_sim": {...}}`),
and the `cos_sim_*`/`map`/`mrr` keys of 1.12-1.38 reranking files and of the `external` folders converted from
model cards. Where today's mteb computes a number differently from the legacy C-MTEB evaluator, the comment says
so; docs/metrics.md has the full list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# Card prefix -> mteb 2.x prefix of each similarity function. The card never has mteb's `similarity_*` (the
# model's own similarity function), added in mteb 1.12.48.
SIMILARITIES = {"cos_sim": "cosine", "dot": "dot", "euclidean": "euclidean", "manhattan": "manhattan"}
PAIR_METRICS = ("accuracy", "ap", "f1", "precision", "recall")
PAIR_MAX_METRICS = ("accuracy", "ap", "f1")
RETRIEVAL_METRICS = ("map", "mrr", "ndcg", "precision", "recall")
RETRIEVAL_CUTOFFS = (1, 3, 5, 10, 100, 1000)


def _sources() -> dict[str, dict[str, tuple[str, ...]]]:
    """Per task type: card metric name -> the score keys it is read from, mteb 2.x name first."""

    def pairs(card_prefix: str, names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        new = f"{SIMILARITIES[card_prefix]}_"
        return {f"{card_prefix}_{n}": tuple(dict.fromkeys((new + n, f"{card_prefix}_{n}"))) for n in names}

    sts: dict[str, tuple[str, ...]] = {}
    for prefix in ("cos_sim", "euclidean", "manhattan"):
        # Legacy and current STS agree: Pearson/Spearman of the gold scores against cosine similarity and
        # negated euclidean/manhattan distance. mteb 2.x also writes `pearson`/`spearman` for the model's own
        # similarity function; the card never had those.
        sts |= pairs(prefix, ("pearson", "spearman"))
    pair: dict[str, tuple[str, ...]] = {}
    for prefix in SIMILARITIES:
        # Accuracy/F1 thresholds: mteb 2.x no longer puts a threshold between tied scores (legacy did, so the
        # order of tied rows leaked into accuracy, f1, precision and recall). AP is sklearn's in both.
        pair |= pairs(prefix, PAIR_METRICS)
    return {
        "STS": sts,
        "PairClassification": pair,
        # accuracy and macro F1 of a logistic regression on the embeddings, averaged over mteb's experiments;
        # `ap` (binary tasks only) is sklearn's average precision of the predicted labels, in 1.x as in 2.x.
        "Classification": {"accuracy": ("accuracy",), "f1": ("f1",), "ap": ("ap",)},
        # The suite runs the legacy task versions (AbsTaskClusteringLegacy, not the `.v2` tasks), whose
        # v_measure is the card's.
        "Clustering": {"v_measure": ("v_measure",)},
        # mteb 2.x scores reranking as retrieval over each query's candidates (pytrec_eval). Legacy C-MTEB:
        # `map` = mean sklearn average precision over all candidates, `mrr` = MRR@10, both skipping queries
        # without a positive or a negative candidate; 1.12-1.38 files and cards keep those two keys.
        "Reranking": {"map": ("map_at_1000", "map"), "mrr": ("mrr_at_10", "mrr")},
        "Retrieval": {f"{m}_at_{k}": (f"{m}_at_{k}",) for m in RETRIEVAL_METRICS for k in RETRIEVAL_CUTOFFS},
    }


SOURCES = _sources()


def finite(value: object) -> float | None:
    """A finite number, else None (NaN, None, strings, booleans and integers beyond float range are no score)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def card_metrics(task_type: str, scores: Mapping[str, object]) -> dict[str, float]:
    """The card's metrics (x100) from one mteb score entry (one split and subset, 0-1 scale).

    Keys the card never has are dropped, and so is every NaN: classification `ap` stays for binary tasks only,
    because mteb writes NaN for it on multi-class ones.
    """
    if task_type not in SOURCES:
        raise ValueError(f"unknown task type {task_type!r}")
    out: dict[str, float] = {}
    for card_name, keys in SOURCES[task_type].items():
        value = next((v for v in (finite(scores.get(k)) for k in keys) if v is not None), None)
        if value is not None:
            out[card_name] = to_card(value)
    if task_type == "PairClassification":
        # Over the four functions the card shows. mteb >= 1.12.48 takes its own max_* over `similarity_*` too,
        # so its max_* can exceed every value on the card; legacy 1.x max_* is exactly this.
        for metric in PAIR_MAX_METRICS:
            values = [out[f"{p}_{metric}"] for p in SIMILARITIES if f"{p}_{metric}" in out]
            if values:
                out[f"max_{metric}"] = max(values)
    return out


def mteb_key(task_type: str, card_name: str) -> str:
    """The mteb 2.x score key a card metric is read back from; names the mapping does not know stay as they are."""
    keys = SOURCES.get(task_type, {}).get(card_name)
    return keys[0] if keys else card_name


def card_name(task_type: str, key: str) -> str | None:
    """The card metric read first from the mteb 2.x score key `key` (the inverse of `mteb_key`), None for a key
    that no card metric is read from (mteb's `max_*`, `similarity_*`)."""
    return next((name for name, keys in SOURCES.get(task_type, {}).items() if keys[0] == key), None)


def card_metric_of(task_type: str, key: str) -> str | None:
    """The card metric that holds mteb's score `key` as evalkit reads it: `card_name`, and for pair classification
    the `max_*` the card shows (computed over its four similarity functions); None where the card has none."""
    if task_type == "PairClassification" and key.startswith("max_") and key[4:] in PAIR_MAX_METRICS:
        return key
    return card_name(task_type, key)


def to_card(score: float) -> float:
    """A 0-1 score on the card's scale, multiplied as the legacy card writer did (so 0.55 -> 55.00000000000001)."""
    return score * 100


def from_card(value: float) -> float:
    """The 0-1 score whose `to_card` is `value`.

    Every value a float x 100 produced (all cards mteb or evalkit wrote) comes back bit for bit: for such a value
    `v`, `(v / 100) * 100 == v` (docs/mutation.md says how this was checked). A hand-typed value that no float x 100
    gives (`0.007`) comes back within one unit in the last place.
    """
    return value / 100
