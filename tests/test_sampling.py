"""`run --limit N` sampling: sizes, invariants, determinism and a clean mteb evaluation for each task type."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO, SIX_TASKS, child_env
from datasets import Dataset

from evalkit.errors import UserError
from evalkit.results.files import safe_component
from evalkit.run import sampling

# A limit below each sample task's size, so that sampling really happens.
LIMITS = {"STSB": 4, "Ocnli": 3, "Waimai": 4, "CLSClusteringS2S": 6, "T2Reranking": 3, "CovidRetrieval": 3}
SEED = 7


def loaded(name: str, data_dir: Path):
    """The mteb task `name` with its data loaded from the snapshot under `data_dir`."""
    import mteb

    repo, split = SIX_TASKS[name]
    task = mteb.get_task(name, eval_splits=[split], hf_subsets=["default"])
    task.metadata = task.metadata.model_copy(deep=True)
    task.metadata.dataset["path"] = str(data_dir / repo)
    task.load_data()
    return task


def sampled(name: str, data_dir: Path, seed: int = SEED):
    """The task `name`, loaded and limited to its entry in LIMITS."""
    task = loaded(name, data_dir)
    sampling.limit_task(task, LIMITS[name], seed)
    return task


def split_data(task):
    """The evaluated split: a Dataset, or retrieval's dict of corpus, queries, relevant_docs and top_ranked."""
    split = task.eval_splits[0]
    return task.dataset["default"][split] if "default" in task.dataset else task.dataset[split]


def fingerprint(task) -> str:
    """Everything the evaluation reads from the task, as one comparable string."""
    data = split_data(task)
    if isinstance(data, dict):
        data = {key: list(value["id"]) if isinstance(value, Dataset) else value for key, value in data.items()}
    else:
        data = data.to_dict()
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def size(task) -> int:
    """The number of examples the limit counts: queries, sentences of all cluster sets, or rows."""
    data = split_data(task)
    if isinstance(data, dict):
        return len(data["queries"])
    if task.metadata.name == "CLSClusteringS2S":
        return sum(map(len, data["labels"]))
    return len(data)


@pytest.mark.parametrize("name", SIX_TASKS)
def test_sample_is_bounded_and_deterministic(name, six_snapshots):
    assert size(loaded(name, six_snapshots)) > LIMITS[name]
    first, second = sampled(name, six_snapshots, SEED), sampled(name, six_snapshots, SEED)
    assert size(first) == LIMITS[name]
    assert fingerprint(first) == fingerprint(second)
    assert any(fingerprint(sampled(name, six_snapshots, seed)) != fingerprint(first) for seed in (SEED + 1, SEED + 2))


@pytest.mark.parametrize("name", SIX_TASKS)
def test_a_limit_above_the_data_size_changes_nothing(name, six_snapshots):
    task = loaded(name, six_snapshots)
    before = fingerprint(task)
    sampling.limit_task(task, size(task), SEED)
    assert fingerprint(task) == before


def test_the_sample_does_not_depend_on_the_hash_seed(six_snapshots):
    script = (
        "import json, sys; from pathlib import Path; "
        "from test_sampling import LIMITS, fingerprint, sampled\n"
        "print(json.dumps({name: fingerprint(sampled(name, Path(sys.argv[1]))) for name in LIMITS}))"
    )
    env = child_env(PYTHONHASHSEED="12345", PYTHONPATH=os.pathsep.join([str(REPO / "tests"), str(REPO)]))
    command = [sys.executable, "-c", script, str(six_snapshots)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    for name, expected in json.loads(done.stdout.splitlines()[-1]).items():
        assert fingerprint(sampled(name, six_snapshots)) == expected, name


# sha256 of each task's sample at LIMITS and SEED: a sampled baseline made by an earlier version stays comparable
SAMPLES = {
    "STSB": "5dfcef9c2a7f84f6",
    "Ocnli": "b9bce4fc9ee0edda",
    "Waimai": "20c5392ccb325c17",
    "CLSClusteringS2S": "8daecfd4a7aca998",
    "T2Reranking": "70c492411962e447",
    "CovidRetrieval": "1c59dc566e0524d3",
}


def test_a_limit_and_seed_draw_the_same_sample_in_every_version(six_snapshots):
    digests = {name: hashlib.sha256(fingerprint(sampled(name, six_snapshots)).encode()).hexdigest() for name in LIMITS}
    assert {name: digest[:16] for name, digest in digests.items()} == SAMPLES


def test_retrieval_keeps_relevant_documents_and_a_bounded_sample_of_the_rest(six_snapshots, monkeypatch):
    monkeypatch.setattr(sampling, "DISTRACTORS_PER_QUERY", 1)
    task = loaded("CovidRetrieval", six_snapshots)
    full_corpus = len(split_data(task)["corpus"])
    sampling.limit_task(task, 3, SEED)
    data = split_data(task)
    queries, corpus = set(data["queries"]["id"]), set(data["corpus"]["id"])
    assert set(data["relevant_docs"]) == queries and len(queries) == 3
    judged = {doc for docs in data["relevant_docs"].values() for doc in docs}
    assert judged <= corpus
    assert len(corpus) == min(full_corpus, len(judged) + 3)


def test_reranking_keeps_every_candidate_of_the_chosen_queries(six_snapshots):
    task = loaded("T2Reranking", six_snapshots)
    full = {q: list(ids) for q, ids in split_data(task)["top_ranked"].items()}
    sampling.limit_task(task, 3, SEED)
    data = split_data(task)
    queries = set(data["queries"]["id"])
    assert set(data["top_ranked"]) == set(data["relevant_docs"]) == queries
    assert all(data["top_ranked"][q] == full[q] for q in queries)
    candidates = {doc for q in queries for doc in full[q]}
    assert set(data["corpus"]["id"]) == candidates | {d for docs in data["relevant_docs"].values() for d in docs}
    assert all(any(score > 0 for score in data["relevant_docs"][q].values()) for q in queries)


def test_reranking_keeps_candidates_that_no_judgement_names(six_snapshots):
    task = loaded("T2Reranking", six_snapshots)
    data = split_data(task)
    for query, docs in data["relevant_docs"].items():  # leave each query's unjudged candidates out of its qrels
        data["relevant_docs"][query] = {doc: score for doc, score in docs.items() if score > 0}
    sampling.limit_task(task, 3, SEED)
    data = split_data(task)
    assert {doc for q in data["queries"]["id"] for doc in data["top_ranked"][q]} <= set(data["corpus"]["id"])


def test_classification_samples_the_evaluated_split_only(six_snapshots):
    task = loaded("Waimai", six_snapshots)
    train = task.dataset["train"].to_dict()
    sampling.limit_task(task, 4, SEED)
    assert task.dataset["train"].to_dict() == train
    assert len(task.dataset["test"]) == 4


def test_pair_classification_keeps_both_labels_and_reads_the_legacy_layout(six_snapshots):
    task = loaded("Ocnli", six_snapshots)
    rows = task.dataset["validation"]
    task.dataset["validation"] = Dataset.from_dict({column: [list(rows[column])] for column in rows.column_names})
    sampling.limit_task(task, 3, SEED)
    assert len(task.dataset["validation"]) == 3
    assert set(task.dataset["validation"]["labels"]) == set(rows["labels"])
    sampling.limit_task(task, 1, SEED)
    assert len(task.dataset["validation"]) == 1 and len(task.dataset["validation"][0]["labels"]) == 1


def test_clustering_spreads_the_limit_over_sets_with_two_labels_each(six_snapshots):
    task = loaded("CLSClusteringS2S", six_snapshots)
    one_set = task.dataset["test"]  # four copies of the sample's one cluster set of 4 labels:
    task.dataset["test"] = Dataset.from_dict({c: list(one_set[c]) * 4 for c in one_set.column_names})
    sampling.limit_task(task, 16, SEED)
    labels = task.dataset["test"]["labels"]
    assert sum(map(len, labels)) == 16 and len(labels) == 2  # 16 // (2 * 4 labels) sets
    assert all(len(set(ls)) >= 2 for ls in labels)


def test_clustering_samples_of_sets_that_fill_their_quota_stay_the_same(six_snapshots):
    # --limit 18 over three sets: 6 sentences each. The first set's labels of two sentences or more are exactly 6
    # (the single `c` is left out); the second's two per label are exactly 6; the third's depend on what the
    # seeded draws before it took, so a sample drawn otherwise in the first two sets shows in the third.
    task = loaded("CLSClusteringS2S", six_snapshots)
    labels = [list("aaabbbc"), list("dddeeefff"), list("gggghhhhiiii")]
    sentences = [[f"{label}{i}" for i, label in enumerate(row)] for row in labels]
    task.dataset["test"] = Dataset.from_dict({"sentences": sentences, "labels": labels})
    sampling.limit_task(task, 28, SEED)  # all of them: nothing to leave out
    assert task.dataset["test"]["sentences"] == sentences
    sampling.limit_task(task, 18, SEED)
    assert task.dataset["test"]["sentences"] == [
        ["a0", "a1", "a2", "b3", "b4", "b5"],
        ["d0", "d2", "e3", "e5", "f6", "f8"],
        ["g0", "g2", "h4", "h7", "i8", "i9"],
    ]
    # --limit 9 over two sets of ten: the first set takes the sentence left over
    task.dataset["test"] = Dataset.from_dict({"sentences": [sentences[2][:10]] * 2, "labels": [list("aaaaabbbbb")] * 2})
    sampling.limit_task(task, 9, SEED)
    assert list(map(len, task.dataset["test"]["labels"])) == [5, 4]


def test_a_clustering_label_of_two_sentences_is_kept_and_one_of_a_single_sentence_is_not(six_snapshots):
    task = loaded("CLSClusteringS2S", six_snapshots)
    for seed in range(6):
        task.dataset["test"] = Dataset.from_dict({"sentences": [list("12345")], "labels": [list("aabbc")]})
        sampling.limit_task(task, 4, seed)
        assert task.dataset["test"]["labels"] == [list("aabb")], seed
        task.dataset["test"] = Dataset.from_dict({"sentences": [list("123456")], "labels": [list("aabbcc")]})
        sampling.limit_task(task, 3, seed)  # two labels of three sentences: a clustering, not three singletons
        assert len(set(task.dataset["test"]["labels"][0])) == 2, seed


def test_a_task_type_sampling_does_not_know_is_refused():
    class Unknown(SimpleNamespace):
        pass

    task = Unknown(data_loaded=True, metadata=SimpleNamespace(name="SomeBitextMining"))
    with pytest.raises(UserError, match="^SomeBitextMining: sampling does not support SimpleNamespace tasks$"):
        sampling.limit_task(task, 3, SEED)


def test_a_single_pair_is_left_as_it_is(six_snapshots):
    task = loaded("Ocnli", six_snapshots)
    one = task.dataset["validation"].select([0])
    task.dataset["validation"] = one
    sampling.limit_task(task, 1, SEED)
    assert task.dataset["validation"].to_dict() == one.to_dict()


@pytest.mark.parametrize("name", SIX_TASKS)
def test_a_sampled_task_evaluates_through_mteb(name, six_snapshots, minilm):
    import mteb

    task = sampled(name, six_snapshots)
    before = fingerprint(task)
    result = mteb.evaluate(minilm, task, cache=None, show_progress_bar=False)
    (entry,) = result.task_results[0].scores[task.eval_splits[0]]
    assert math.isfinite(entry["main_score"])
    assert task.data_loaded and fingerprint(task) == before  # mteb neither reloaded nor unloaded the sample


def test_bad_limits_and_unloaded_tasks_are_refused():
    import mteb

    task = mteb.get_task("STSB", eval_splits=["test"])
    with pytest.raises(UserError, match="at least 1"):
        sampling.limit_task(task, 0, SEED)
    with pytest.raises(ValueError, match="load the data"):
        sampling.limit_task(task, 5, SEED)


def test_the_marker_names_the_limit_and_seed_and_is_a_safe_folder_name():
    assert sampling.sampled_label(100, 42) == "limit=100,seed=42"
    suffix = sampling.sampled_folder_suffix(100, 42)
    assert safe_component(suffix) == suffix and "100" in suffix and "42" in suffix


def synthetic_retrieval(data_dir: Path, queries: int = 10, documents: int = 100, unjudged_queries: int = 0):
    """CovidRetrieval over a made-up corpus: query i judges doc i relevant; the last `unjudged_queries` queries judge
    their doc 0 (not relevant) only."""
    from evalkit import snapshot

    qrels = [
        {"query-id": f"q{i}", "corpus-id": f"doc{i}", "score": int(i < queries - unjudged_queries)}
        for i in range(queries)
    ]
    snapshot.write_retrieval(
        data_dir / "mteb/CovidRetrieval",
        "dev",
        [{"id": f"doc{i}", "title": "", "text": f"文档{i}"} for i in range(documents)],
        [{"id": f"q{i}", "text": f"问题{i}"} for i in range(queries)],
        qrels,
    )
    import mteb

    from evalkit.run.data import use_local_snapshot

    task = mteb.get_task("CovidRetrieval", eval_splits=["dev"], hf_subsets=["default"])
    use_local_snapshot(task, data_dir)  # keyed by content: `datasets` would serve the sample's rows by the name
    task.load_data()
    return task


def test_retrieval_adds_ten_unjudged_documents_per_sampled_query(tmp_path):
    task = synthetic_retrieval(tmp_path)
    sampling.limit_task(task, 2, SEED)
    data = split_data(task)
    judged = {doc for docs in data["relevant_docs"].values() for doc in docs}
    assert len(judged) == 2 and judged <= set(data["corpus"]["id"])
    assert len(data["corpus"]) == 2 + 2 * sampling.DISTRACTORS_PER_QUERY == 22


def test_queries_without_a_relevant_document_are_never_sampled(tmp_path):
    task = synthetic_retrieval(tmp_path, queries=10, unjudged_queries=6)
    full = split_data(task)
    for seed in range(8):
        task.dataset["default"]["dev"] = dict(full)
        sampling.limit_task(task, 3, seed)
        chosen = set(split_data(task)["queries"]["id"])
        assert len(chosen) == 3 and chosen <= {"q0", "q1", "q2", "q3"}, seed


def test_a_limit_of_every_query_with_a_relevant_document_changes_nothing(tmp_path):
    task = synthetic_retrieval(tmp_path, queries=10, unjudged_queries=6)
    before = fingerprint(task)
    sampling.limit_task(task, 4, SEED)  # the four queries that judge a document relevant
    assert fingerprint(task) == before


@pytest.mark.parametrize("name, key", [("STSB", "sentence1"), ("Waimai", "text"), ("Ocnli", "sentence1")])
def test_sampled_rows_are_distinct_rows_of_the_data(name, key, six_snapshots):
    rows = split_data(loaded(name, six_snapshots)).to_list()
    for seed in range(5):
        kept = split_data(sampled(name, six_snapshots, seed)).to_list()
        assert len(kept) == LIMITS[name] and all(row in rows for row in kept)
        assert len({json.dumps(row, sort_keys=True) for row in kept}) == len(kept)
        assert [rows.index(row) for row in kept] == sorted(rows.index(row) for row in kept)  # in the data's order


def test_every_clustering_label_kept_has_at_least_two_sentences(six_snapshots):
    task = loaded("CLSClusteringS2S", six_snapshots)
    (full,) = task.dataset["test"]
    for n in range(4, len(full["labels"])):
        for seed in range(4):
            task.dataset["test"] = Dataset.from_dict({c: [full[c]] for c in full})
            sampling.limit_task(task, n, seed)
            (kept,) = task.dataset["test"]
            pairs = list(zip(kept["sentences"], kept["labels"]))
            assert (
                len(pairs) == n and len(set(pairs)) == n and set(pairs) <= set(zip(full["sentences"], full["labels"]))
            )
            counts = {label: kept["labels"].count(label) for label in kept["labels"]}
            assert len(counts) >= 2 and min(counts.values()) >= 2, (n, seed, counts)
