"""The mteb -> card metric mapping, checked against mteb's own evaluators on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.metrics import SOURCES, card_metrics, from_card, mteb_key, to_card

TIED_VECTORS = {"q": [1.0, 0.0], "same": [1.0, 0.0], "apart": [0.0, 1.0], "near": [3.0, 4.0]}


class HandMadeEncoder:
    """An mteb encoder with fixed embeddings and a model similarity that separates the pairs perfectly."""

    mteb_model_meta = None

    def __init__(self, oracle: list[float]) -> None:
        self.oracle = oracle

    def encode(self, inputs, **kwargs):
        return np.array([TIED_VECTORS[text] for batch in inputs for text in batch["text"]])

    def similarity(self, a, b):
        return a @ b.T

    def similarity_pairwise(self, a, b):
        return np.array(self.oracle)


def test_sts_reads_mteb2_and_legacy_names_and_drops_model_similarity():
    new = {
        "cosine_pearson": 0.5,
        "cosine_spearman": 0.6,
        "euclidean_pearson": 0.4,
        "euclidean_spearman": 0.3,
        "manhattan_pearson": 0.2,
        "manhattan_spearman": 0.1,
        "pearson": 0.9,
        "spearman": 0.9,
        "main_score": 0.6,
    }
    old = {
        "cos_sim_pearson": 0.5,
        "cos_sim_spearman": 0.6,
        "euclidean_pearson": 0.4,
        "euclidean_spearman": 0.3,
        "manhattan_pearson": 0.2,
        "manhattan_spearman": 0.1,
    }
    expected = {
        "cos_sim_pearson": 50.0,
        "cos_sim_spearman": 60.0,
        "euclidean_pearson": 40.0,
        "euclidean_spearman": 30.0,
        "manhattan_pearson": 20.0,
        "manhattan_spearman": 10.0,
    }
    assert card_metrics("STS", new) == expected
    assert card_metrics("STS", old) == expected


def test_reranking_prefers_mteb2_keys_and_reads_legacy_map_mrr():
    assert card_metrics("Reranking", {"map_at_1000": 0.7, "mrr_at_10": 0.8, "map_at_10": 0.1, "mrr_at_1000": 0.2}) == {
        "map": 70.0,
        "mrr": 80.0,
    }
    assert card_metrics("Reranking", {"map": 0.66, "mrr": 0.75, "main_score": 0.66}) == {"map": 66.0, "mrr": 75.0}


def test_retrieval_keeps_the_six_cutoffs_of_five_metrics_only():
    scores = {
        f"{m}_at_{k}": 0.5
        for m in ("map", "mrr", "ndcg", "precision", "recall", "hit_rate")
        for k in (1, 3, 5, 10, 20, 100, 1000)
    }
    scores |= {"nauc_ndcg_at_10_max": 0.3, "main_score": 0.5}
    out = card_metrics("Retrieval", scores)
    assert len(out) == 30
    assert "ndcg_at_10" in out and "ndcg_at_20" not in out and not any(k.startswith(("hit", "nauc")) for k in out)


def test_clustering_keeps_v_measure():
    assert card_metrics("Clustering", {"v_measure": 0.5829, "v_measure_std": 0.01, "v_measures": [0.5]}) == {
        "v_measure": to_card(0.5829)
    }


def test_nan_none_and_non_numbers_are_dropped():
    scores = {
        "cosine_pearson": float("nan"),
        "cosine_spearman": None,
        "euclidean_pearson": "0.4",
        "euclidean_spearman": True,
        "manhattan_pearson": 0.2,
    }
    assert card_metrics("STS", scores) == {"manhattan_pearson": 20.0}
    with pytest.raises(ValueError):
        card_metrics("BitextMining", {})


def test_pair_classification_with_tied_scores_through_mteb():
    """mteb's own pair-classification metrics on pairs whose cosine scores tie across labels."""
    import mteb
    from datasets import Dataset
    from mteb.timing import TimingStack

    task = mteb.get_task("Ocnli")
    # Each second sentence appears once as a positive and once as a negative pair: every score is tied.
    second = ["same", "same", "apart", "apart", "near", "near"]
    labels = [1, 0, 1, 0, 1, 0]
    data = Dataset.from_dict({"sentence1": ["q"] * 6, "sentence2": second, "labels": labels})
    oracle = [0.9 if label else 0.1 for label in labels]
    scores = task._evaluate_subset(
        HandMadeEncoder(oracle),
        data,
        hf_split="validation",
        hf_subset="default",
        encode_kwargs={"batch_size": 4},
        timer=TimingStack(),
    )
    card = card_metrics("PairClassification", scores)

    # A threshold cannot split tied rows, so no threshold beats chance (legacy split ties: 4/6 accuracy).
    assert card["cos_sim_accuracy"] == 50.0
    assert card["cos_sim_f1"] == pytest.approx(100 * 4 / 7)  # precision 2/4, recall 2/3
    assert card["cos_sim_ap"] == 50.0
    # max_* is over the four functions the card shows, not mteb's, which includes the model's similarity.
    assert scores["max_accuracy"] == scores["max_ap"] == 1.0
    for metric in ("accuracy", "ap", "f1"):
        four = [card[f"{p}_{metric}"] for p in ("cos_sim", "dot", "euclidean", "manhattan")]
        assert card[f"max_{metric}"] == max(four) < 100
    assert not any(k.startswith("similarity") for k in card)
    assert "max_precision" not in card and "max_recall" not in card
    assert len(card) == 23


def test_classification_ap_for_binary_tasks_only_through_mteb():
    import mteb

    task = mteb.get_task("Waimai")
    binary = task._calculate_avg_scores([task._calculate_scores([0, 1, 1, 0, 1], [0, 1, 0, 0, 1])] * 2)
    multiclass = task._calculate_avg_scores([task._calculate_scores([0, 1, 2, 2], [0, 1, 2, 1])] * 2)
    assert math.isnan(multiclass["ap"])

    card = card_metrics("Classification", binary)
    assert set(card) == {"accuracy", "ap", "f1"}
    assert math.isfinite(card["ap"]) and card["accuracy"] == 80.0
    assert set(card_metrics("Classification", multiclass)) == {"accuracy", "f1"}


def test_mteb_key_inverts_the_mapping():
    for task_type, names in SOURCES.items():
        for card_name, keys in names.items():
            assert mteb_key(task_type, card_name) == keys[0]
            assert card_metrics(task_type, {keys[0]: 0.25})[card_name] == 25.0
    assert mteb_key("Reranking", "map") == "map_at_1000"
    assert mteb_key("PairClassification", "max_ap") == "max_ap"


@pytest.mark.parametrize(
    "value", [55.00000000000001, 87, 90.22679448211363, 100, 0.101, 1.0070000000000001, 60.72175935031135]
)
def test_from_card_gives_back_the_card_value(value):
    assert to_card(from_card(value)) == value


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=-1e300, max_value=1e300, allow_nan=False))
def test_every_card_value_a_score_gives_comes_back_bit_for_bit(score):
    assert to_card(from_card(to_card(score))) == to_card(score)


def test_pair_max_is_taken_over_the_four_card_functions():
    scores = {
        "cosine_ap": 0.5,
        "dot_ap": 0.7,
        "euclidean_ap": 0.6,
        "manhattan_ap": 0.4,
        "similarity_ap": 0.9,
        "max_ap": 0.9,
        "cosine_accuracy": 0.6,
        "manhattan_accuracy": 0.65,
    }
    card = card_metrics("PairClassification", scores)
    assert (card["max_ap"], card["max_accuracy"]) == (70.0, 65.0)
    assert "max_f1" not in card
