"""The full-shape generator (benchmarks/full_shape_data.py): its snapshots have the shape mteb's own descriptive
statistics give, times the scale, and plain mteb and evalkit score them alike."""

from __future__ import annotations

import sys

import pytest
from conftest import REPO, SHARED

sys.path.insert(0, str(REPO / "benchmarks"))

import full_shape_data  # noqa: E402

from evalkit.run.data import use_local_snapshot  # noqa: E402
from evalkit.suite import load_suite, load_task, split_stats  # noqa: E402

SCALE = 0.002
SUITE = load_suite("c-mteb")
# one task of each type, and the shapes that load differently: reranking candidates, a fast-loaded multilingual
# repo (Massive: every language in one config), a per-language config (STS22)
AGREEMENT = [
    "STSB",
    "Ocnli",
    "Waimai",
    "CLSClusteringS2S",
    "T2Reranking",
    "CovidRetrieval",
    "MassiveIntentClassification",
]


@pytest.fixture(scope="module")
def full_shape(tmp_path_factory):
    data = tmp_path_factory.mktemp("full-shape")
    sentences = full_shape_data.sentences(SHARED / "data" / "stsb-zh")
    written = full_shape_data.write_suite(SUITE.tasks, data, SCALE, sentences)
    return data, {w.name: w.counts for w in written}


def _mtebs_own_statistics(spec, data):
    """mteb's descriptive statistics of the generated snapshot, computed by mteb's own code."""
    task = load_task(spec)
    use_local_snapshot(task, data)
    task.load_data()
    subset = spec.subset if task.metadata.is_multilingual else None
    return task._calculate_descriptive_statistics_from_split(spec.split, hf_subset=subset)  # noqa: SLF001


@pytest.mark.parametrize("spec", SUITE.tasks, ids=lambda s: s.name)
def test_counts_follow_mtebs_statistics_times_the_scale(full_shape, spec):
    data, counts = full_shape
    ours, reference = _mtebs_own_statistics(spec, data), split_stats(spec)

    def scaled(n: int) -> int:
        return max(1, round(n * SCALE))

    if spec.type in ("Retrieval", "Reranking"):
        assert counts[spec.name] == {"queries": ours["num_queries"], "documents": ours["num_documents"]}
        assert ours["num_queries"] == scaled(reference["num_queries"])
        assert ours["num_documents"] == max(ours["num_queries"], scaled(reference["num_documents"]))
        ranked = reference["top_ranked_statistics"]
        if ranked:  # every candidate judged, a share of them relevant, as in the real reranking sets
            assert ours["top_ranked_statistics"]["num_top_ranked"] == ours["num_documents"]
            assert ours["relevant_docs_statistics"]["min_relevant_docs_per_query"] >= 1
        else:
            relevant = reference["relevant_docs_statistics"]
            per_query = ours["relevant_docs_statistics"]["average_relevant_docs_per_query"]
            assert per_query == pytest.approx(relevant["average_relevant_docs_per_query"], rel=0.05, abs=0.05)
        texts = [("queries_text_statistics", ours["queries_text_statistics"])]
        texts.append(("documents_text_statistics", ours["documents_text_statistics"]))
    else:
        least = 20 if spec.type == "Clustering" else 1
        assert ours["num_samples"] == counts[spec.name]["samples"] == max(least, scaled(reference["num_samples"]))
        keys = ("text1_statistics", "text2_statistics") if "text1_statistics" in reference else ("text_statistics",)
        texts = [(key, ours[key]) for key in keys]
        labels = reference.get("label_statistics") or reference.get("labels_statistics")
        if "labels" in labels:  # class labels: the statistics' own, in proportion
            got = (ours.get("label_statistics") or ours.get("labels_statistics"))["labels"]
            assert set(got) <= set(labels["labels"])
            total = sum(v["count"] for v in labels["labels"].values())
            for label, want in labels["labels"].items():  # in proportion, to rounding
                share = want["count"] / total * ours["num_samples"]
                assert abs(got.get(label, {"count": 0})["count"] - share) < 2, label
        elif ours["num_samples"] > 1:  # STS scores: the statistics' range
            got = ours["label_statistics"]
            assert (got["min_score"], got["max_score"]) == (labels["min_score"], labels["max_score"])
    for key, stats in texts:
        want = reference[key]
        assert stats["average_text_length"] == pytest.approx(want["average_text_length"], rel=0.02, abs=0.6)
        assert stats["max_text_length"] <= want["max_text_length"]  # lowered where the total is too small for it
        if stats["total_text_length"] > stats["average_text_length"]:  # two texts or more: the shortest is there
            assert max(1, want["min_text_length"]) == stats["min_text_length"]


def test_plain_mteb_and_evalkit_agree_on_the_generated_data(tmp_path):
    import json

    from conftest import mteb_scores
    from sentence_transformers import SentenceTransformer

    import evalkit

    data = tmp_path / "data"  # a larger scale: enough queries and pairs for scores that are not degenerate
    specs = SUITE.select(AGREEMENT)
    full_shape_data.write_suite(specs, data, 0.01, full_shape_data.sentences(SHARED / "data" / "stsb-zh"))
    model_dir = full_shape_data.static_encoder_from_tokens(tmp_path / "static")
    model = SentenceTransformer(str(model_dir), device="cpu")
    report = evalkit.evaluate(
        str(model_dir), tasks=AGREEMENT, data_dir=data, output_dir=tmp_path / "out", cache_dir=tmp_path / "cache"
    )
    assert not report.failed, [(o.spec.name, o.error) for o in report.failed]
    by_name = {s.name: s for s in SUITE.tasks}
    for outcome in report.outcomes:
        spec = by_name[outcome.spec.name]
        ours = json.loads(outcome.path.read_text())["scores"][spec.split]
        (ours,) = [e for e in ours if e["hf_subset"] == spec.subset]
        plain = mteb_scores(model, spec.mteb_task, data, spec.split, spec.subset)
        assert ours["main_score"] == pytest.approx(plain["main_score"], abs=1e-6), spec.name
        if spec.name != "MassiveIntentClassification":  # 59 labels, two training texts each at this scale
            assert 0 < plain["main_score"] < 1, spec.name  # learnable, not degenerate


def test_a_warm_rerun_of_a_model_without_a_length_limit_never_loads_it(full_shape, tmp_path, monkeypatch):
    """A static model's max length is None (inf): a warm rerun answers it from the remembered facts."""
    import json

    import evalkit

    data, _ = full_shape
    model_dir = full_shape_data.static_encoder_from_tokens(tmp_path / "static")
    common = {"tasks": ["STSB", "Ocnli"], "data_dir": data, "cache_dir": tmp_path / "cache"}
    cold = evalkit.evaluate(str(model_dir), output_dir=tmp_path / "cold", **common)

    def never(*args, **kwargs):
        raise AssertionError("a warm run loaded the model")

    monkeypatch.setattr("evalkit.run.lazy.load_model", never)
    warm = evalkit.evaluate(str(model_dir), output_dir=tmp_path / "warm", **common)
    assert not cold.failed and not warm.failed
    assert [json.loads(o.path.read_text())["scores"] for o in warm.outcomes] == [
        json.loads(o.path.read_text())["scores"] for o in cold.outcomes
    ]
