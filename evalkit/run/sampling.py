"""`run --limit N`: a deterministic sample of at most N examples per task, for fast regression checks in CI; a
suite's own per-task sample sizes (`limit:` in its YAML, as in `c-mteb-lite`) work the same way.

Sampled scores estimate the full ones but are only comparable with samples of the same N and seed; results carry
`sampled_label(n, seed)` so that cards refuse them and the gate pairs them only with their own kind.
`texts_to_encode` estimates, from mteb's descriptive statistics, how many texts a task encodes under these rules.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from evalkit.errors import OptionError, UserError
from evalkit.suite import TaskSpec, load_task, split_stats

DISTRACTORS_PER_QUERY = 10  # retrieval keeps up to this many unjudged documents per sampled query


def sampled_label(n: int | str, seed: int) -> str:
    """The marker of a sampled run, as `model_meta.json` and `TaskScores.sampled` carry it; `n` is the limit, or
    the suite whose per-task sample sizes the run used (`limit=c-mteb-lite,seed=42`)."""
    return f"limit={n},seed={seed}"


def sampled_folder_suffix(n: int | str, seed: int) -> str:
    """The same marker as a path component (no comma), for the results folder of a sampled run."""
    return f"limit={n}_seed={seed}"


def effective_limit(run_limit: int | None, task_limit: int | None) -> int | None:
    """A task's sample size: the smaller of the run's `--limit` and the suite's own for the task (None: all)."""
    given = [n for n in (run_limit, task_limit) if n]
    return min(given) if given else None


def limit_task(task, n: int, seed: int) -> None:
    """Subsample a loaded mteb task in place to at most `n` examples per evaluated split and subset.

    The sample depends only on the data, `n` and `seed`; a split with no more than `n` examples is left as it is.
    """
    if n < 1:
        raise OptionError("limit", n, "must be at least 1")
    if not task.data_loaded:
        raise ValueError(f"{task.metadata.name}: load the data before sampling it")
    sample = _sampler(task)
    for subset in task.hf_subsets:
        # the layout mteb's AbsTask.evaluate reads: monolingual tasks may keep their splits at the top level
        splits = task.dataset[subset] if subset in task.dataset or subset != "default" else task.dataset
        for split in task.eval_splits:
            splits[split] = sample(splits[split], n, random.Random(seed))


def _sampler(task) -> Callable[[Any, int, random.Random], Any]:
    """The sampling rule for the task's type: (split data, n, rng) -> sampled split data."""
    from mteb.abstasks import (
        AbsTaskClassification,
        AbsTaskClusteringLegacy,
        AbsTaskPairClassification,
        AbsTaskRetrieval,
        AbsTaskSTS,
    )

    if isinstance(task, AbsTaskRetrieval):
        return _limit_retrieval
    if isinstance(task, AbsTaskClusteringLegacy):
        return partial(_limit_cluster_sets, text_column=task.input_column_name, label_column=task.label_column_name)
    if isinstance(task, AbsTaskPairClassification):
        return partial(_limit_pairs, label_column=task.label_column_name)
    if isinstance(task, (AbsTaskSTS, AbsTaskClassification)):
        # classification: only the evaluated split; mteb trains on samples_per_label per label of the full train split
        return _limit_rows
    raise UserError(f"{task.metadata.name}: sampling does not support {type(task).__bases__[0].__name__} tasks")


def _limit_rows(rows, n: int, rng: random.Random):
    """A seeded uniform sample of `n` rows, in their original order."""
    if n >= len(rows):
        return rows
    return rows.select(sorted(rng.sample(range(len(rows)), n)))


def _stratified(labels: Sequence[Any], n: int, rng: random.Random, per_label: int = 1) -> list[int]:
    """Indices of `n` items: `per_label` of each label (as many as it has), the rest uniformly; when those alone are
    more than `n`, `n` seeded ones of them."""
    if n >= len(labels):
        return list(range(len(labels)))
    groups: dict[Any, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    # rng.sample(group, 1) draws what rng.choice(group) draws: samples made before `per_label` existed stay the same
    firsts = [i for group in groups.values() for i in rng.sample(group, min(per_label, len(group)))]
    if len(firsts) >= n:
        return sorted(rng.sample(firsts, n))
    taken = set(firsts)
    rest = [i for i in range(len(labels)) if i not in taken]
    return sorted(firsts + rng.sample(rest, n - len(firsts)))


def _limit_pairs(split, n: int, rng: random.Random, label_column: str):
    """At most `n` pairs, each label present; a single pair is stored in the legacy one-row-of-lists layout, as
    mteb reads any one-row split that way."""
    from datasets import Dataset

    legacy = len(split) == 1 and isinstance(split[0][label_column], list)
    pairs = Dataset.from_dict(split[0]) if legacy else split
    if n >= len(pairs):
        return split
    kept = pairs.select(_stratified(pairs[label_column][:], n, rng))
    if len(kept) == 1:
        return Dataset.from_dict({column: [list(kept[column])] for column in kept.column_names})
    return kept


def _limit_cluster_sets(split, n: int, rng: random.Random, text_column: str, label_column: str):
    """At most `n` sentences over the legacy layout's cluster sets (one row per set, lists of sentences and labels).

    Enough sets are kept for about two sentences per label in each; in a set, labels with two sentences or more are
    kept by seeded choice (at least two labels, about two sentences each) and each kept label keeps two sentences
    before the rest are drawn uniformly.
    """
    from datasets import Dataset

    label_lists = split[label_column]
    if n >= sum(map(len, label_lists)):
        return split
    most_labels = max(len(set(labels)) for labels in label_lists)
    count = max(1, min(len(split), n // (2 * most_labels)))
    rows = sorted(rng.sample(range(len(split)), count))
    sentences, labels = [], []
    for position, row in enumerate(rows):
        quota = n // count + (position < n % count)
        row_labels = label_lists[row]
        names = list(dict.fromkeys(row_labels))
        names = [name for name in names if row_labels.count(name) >= 2] or names  # a label of one sentence is noise
        chosen = set(rng.sample(names, min(len(names), max(2, quota // 2))))
        pool = [i for i, label in enumerate(row_labels) if label in chosen]
        picked = [pool[i] for i in _stratified([row_labels[i] for i in pool], quota, rng, per_label=2)]
        row_sentences = split[row][text_column]
        sentences.append([row_sentences[i] for i in picked])
        labels.append([row_labels[i] for i in picked])
    return Dataset.from_dict({text_column: sentences, label_column: labels})


def _limit_retrieval(split: dict[str, Any], n: int, rng: random.Random) -> dict[str, Any]:
    """`n` seeded queries with a relevant document, their judged documents and candidates, and some distractors.

    With `top_ranked` (reranking) mteb scores only each query's candidates, so the corpus is exactly what the chosen
    queries judge or rank; otherwise up to DISTRACTORS_PER_QUERY * n other documents are sampled from the corpus.
    """
    qrels, queries, corpus, top_ranked = split["relevant_docs"], split["queries"], split["corpus"], split["top_ranked"]
    query_ids, corpus_ids = queries["id"][:], corpus["id"][:]  # [:] reads a column as a list at once
    eligible = [q for q in query_ids if any(score > 0 for score in qrels.get(q, {}).values())]
    if n >= len(eligible):
        return split
    chosen = set(rng.sample(eligible, n))
    documents = {doc for q in chosen for doc in qrels[q]}
    if top_ranked:
        documents.update(doc for q in chosen for doc in top_ranked.get(q, []))
    else:
        rest = [doc for doc in corpus_ids if doc not in documents]
        documents.update(rng.sample(rest, min(len(rest), DISTRACTORS_PER_QUERY * n)))
    return {
        **split,
        "corpus": corpus.select([i for i, doc in enumerate(corpus_ids) if doc in documents]),
        "queries": queries.select([i for i, q in enumerate(query_ids) if q in chosen]),
        "relevant_docs": {q: docs for q, docs in qrels.items() if q in chosen},
        "top_ranked": {q: ids for q, ids in top_ranked.items() if q in chosen} if top_ranked else top_ranked,
    }


def texts_to_encode(spec: TaskSpec, limit: int | None = None) -> int:
    """About how many texts evaluating `spec` on the hub's data encodes, at most, under the sampling rules above
    (`limit` examples, or all): from mteb's descriptive statistics of the split, never by loading the data.

    STS and pair classification encode both sides of each pair, classification its evaluated texts and the union
    of mteb's training samples (`n_experiments` x `samples_per_label` per label, at most the training split),
    clustering its sentences, retrieval and reranking their queries and documents (a sample keeps each chosen
    query's judged documents and candidates, and for retrieval DISTRACTORS_PER_QUERY others per query).
    """
    stats = split_stats(spec)
    if spec.type in ("STS", "PairClassification"):
        pairs = min(limit or stats["num_samples"], stats["num_samples"])
        return sum(min(stats[f"text{side}_statistics"]["unique_texts"], pairs) for side in (1, 2))
    if spec.type in ("Clustering", "Classification"):
        texts = stats["text_statistics"]["unique_texts"]
        return min(limit or texts, texts) + (_training_texts(spec) if spec.type == "Classification" else 0)
    queries, documents = stats["num_queries"], stats["documents_text_statistics"]["unique_texts"]
    if not limit or limit >= queries:
        return stats["queries_text_statistics"]["unique_texts"] + documents
    if stats.get("top_ranked_statistics"):  # reranking: every candidate of the chosen queries
        kept = stats["top_ranked_statistics"]["num_top_ranked"] / queries * limit
    else:
        kept = (stats["relevant_docs_statistics"]["num_relevant_docs"] / queries + DISTRACTORS_PER_QUERY) * limit
    return limit + min(documents, round(kept))


def _training_texts(spec: TaskSpec) -> int:
    """The most training texts mteb's classification encodes: its samples per label in each experiment."""
    task = load_task(spec)
    train = split_stats(replace(spec, split=task.train_split))
    per_experiments = task.n_experiments * task.samples_per_label * train["label_statistics"]["unique_labels"]
    return min(train["num_samples"], per_experiments)
