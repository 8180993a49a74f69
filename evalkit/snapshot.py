"""Writing dataset snapshots in the hub's layout, for local data folders, tests and benchmarks.

Plain tasks (STS, pair classification, classification, clustering) keep one file per split under
`data/<split>-00000-of-00001.<ext>`, which `datasets` picks up by name. Retrieval and reranking
repos have a README.md whose YAML `configs:` name `corpus`, `queries`, `default` (qrels) and
`top_ranked`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

Rows = Sequence[Mapping[str, Any]]
FORMATS = ("parquet", "jsonl")


def _write_rows(path: Path, rows: Rows, fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {FORMATS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pandas as pd

        pd.DataFrame(list(rows)).to_parquet(path, index=False)
    else:
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(dict(row), ensure_ascii=False) + "\n")


def write_splits(folder: Path, splits: Mapping[str, Rows], fmt: str = "parquet", config: str | None = None) -> Path:
    """A plain snapshot: one file per split under `data/`; or, with `config` (the HF subset of a multilingual task,
    `zh`), under `<config>/`, with a README whose `configs:` name it, as the hub's multilingual repos have."""
    if config is None:
        for split, rows in splits.items():
            _write_rows(Path(folder) / "data" / f"{split}-00000-of-00001.{fmt}", rows, fmt)
        return Path(folder)
    files = []
    for split, rows in splits.items():
        relative = f"{config}/{split}-00000-of-00001.{fmt}"
        _write_rows(Path(folder) / relative, rows, fmt)
        files.append({"split": split, "path": relative})
    _write_configs(Path(folder), [{"config_name": config, "data_files": files}])
    return Path(folder)


def _write_configs(folder: Path, configs: list[dict]) -> None:
    """The README whose YAML `configs:` tell `datasets` which files make which config and split."""
    front = yaml.safe_dump({"configs": configs}, sort_keys=False, allow_unicode=True)
    (folder / "README.md").write_text(f"---\n{front}---\n", encoding="utf-8")


def write_retrieval(
    folder: Path,
    split: str,
    corpus: Rows,
    queries: Rows,
    qrels: Rows,
    top_ranked: Rows | None = None,
    fmt: str = "parquet",
) -> Path:
    """A retrieval (or, with `top_ranked`, reranking) snapshot with its README `configs:`.

    corpus rows: id, text (and optional title); queries: id, text; qrels: query-id, corpus-id, score;
    top_ranked: query-id, corpus-ids (the candidates to rerank).
    """
    parts = {"corpus": corpus, "queries": queries, "default": qrels}
    if top_ranked is not None:
        parts["top_ranked"] = top_ranked
    configs = []
    for name, rows in parts.items():
        relative = f"{name}/{split}-00000-of-00001.{fmt}"
        _write_rows(Path(folder) / relative, rows, fmt)
        configs.append({"config_name": name, "data_files": [{"split": split, "path": relative}]})
    _write_configs(Path(folder), configs)
    return Path(folder)


def write_pair_retrieval(
    data: Path, pairs: Sequence[tuple[str, str]], sentences: Sequence[str], negatives: int = 19, seed: int = 42
) -> None:
    """Retrieval and reranking snapshots from sentence pairs, under T2Retrieval's and T2Reranking's repo ids.

    Each pair's first sentence is a query whose one relevant document is the second; the corpus is `sentences`.
    The reranking candidates of a query are its positive plus `negatives` seeded others.
    """
    import random

    doc_id = {text: f"d{i}" for i, text in enumerate(dict.fromkeys(sentences))}
    queries = [{"id": f"q{i}", "text": a} for i, (a, _) in enumerate(pairs)]
    qrels = [{"query-id": f"q{i}", "corpus-id": doc_id[b], "score": 1} for i, (_, b) in enumerate(pairs)]
    corpus = [{"id": i, "title": "", "text": t} for t, i in doc_id.items()]
    write_retrieval(Path(data) / "mteb/T2Retrieval", "dev", corpus, queries, qrels)
    rng = random.Random(seed)
    candidates = []
    for i, (_, b) in enumerate(pairs):
        others = rng.sample([t for t in doc_id if t != b], negatives)
        candidates.append({"query-id": f"q{i}", "corpus-ids": [doc_id[b]] + [doc_id[t] for t in others]})
    used = {c for row in candidates for c in row["corpus-ids"]}
    reranking_corpus = [d for d in corpus if d["id"] in used]
    write_retrieval(Path(data) / "mteb/T2Reranking", "dev", reranking_corpus, queries, qrels, candidates)


def read_stsb(stsb: Path, limit: int | None = None) -> dict[str, list[tuple[str, str, float]]]:
    """The Chinese STS-B pairs (`test.tsv`, `valid.tsv`, `train.tsv`: s1, s2, score) by split, the first `limit` of
    each file."""

    def rows(name: str) -> list[tuple[str, str, float]]:
        lines = (Path(stsb) / name).read_text(encoding="utf-8").splitlines()
        return [(a, b, float(s)) for a, b, s in (ln.split("\t") for ln in lines[:limit])]

    return {"test": rows("test.tsv"), "validation": rows("valid.tsv"), "train": rows("train.tsv")}


def write_stsb_tasks(pairs_by_split: Mapping[str, Sequence[tuple[str, str, float]]], data: Path) -> Path:
    """Three snapshots of real sentences from STS-B pairs (`read_stsb`).

    `mteb/STSB` itself; `mteb/T2Retrieval` (dev): each test pair scored >= 4 is a query (its first sentence)
    whose one relevant document is its second, the corpus every sentence; `mteb/T2Reranking` (dev): the same
    queries, each with its positive and 19 seeded negatives.
    """
    test, valid = list(pairs_by_split["test"]), list(pairs_by_split["validation"])
    write_splits(
        data / "mteb/STSB",
        {
            split: [{"sentence1": a, "sentence2": b, "score": s} for a, b, s in pairs]
            for split, pairs in (("test", test), ("validation", valid))
        },
    )
    sentences = [t for a, b, _ in test + valid for t in (a, b)]
    write_pair_retrieval(data, [(a, b) for a, b, s in test if s >= 4 and a != b], sentences)
    return Path(data)
