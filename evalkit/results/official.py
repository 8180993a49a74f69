"""Results as mteb's official leaderboard reads them: its loader, its choice of revision, its list of models.

The leaderboard builds a benchmark's table from `ResultCache.load_results` (the models mteb's registry names, main
scores only), `BenchmarkResults._to_results_df` (each task cut to the benchmark's eval splits and subsets, a
missing one padded with NaN, one revision kept per task by `join_revisions`) and the app's default model filter.
`leaderboard_frame` calls exactly those on a folder laid out like the public results repository; `input_frame` loads
a model under test the same way: its result files with mteb's `TaskResult.from_disk`, and a card's results (or any
other input without result files) through the conversion mteb applies to pre-1.11 files, whose main score is the
task's main metric. Both give mteb's long frame (a row per model, task, split and subset, `score` on mteb's 0-1
scale), which `evalkit.report.benchmark` summarizes with mteb's own functions.

mteb's private functions are imported only here and in `evalkit.report` (`benchmark`, `ranks`, `training`);
the tests compare their results with mteb's public ones, so that a change in mteb shows.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.errors import UserError
from evalkit.fileio import read_text
from evalkit.metrics import from_card, mteb_key
from evalkit.results.read import _reason
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.suite import Suite

if TYPE_CHECKING:
    import polars as pl

MODEL = "model_name"  # the frame's model column; evalkit puts a model's key in a comparison there
TEXT_COLUMNS = ("model_name", "model_revision", "task_name", "split", "subset")


def get_benchmark(suite: Suite):
    """The mteb benchmark that a benchmark suite (`-b NAME`) is."""
    import mteb

    return mteb.get_benchmark(suite.benchmark)


def result_stems(bench) -> set[str]:
    """The file stems that can hold results of the benchmark's tasks: their names and the 1.x names mteb renames."""
    from mteb.results.task_result import renamed_tasks

    names = {task.metadata.name for task in bench.tasks}
    return names | {old for old, new in renamed_tasks.items() if new in names}


@dataclass
class Leaderboard:
    """A results folder as the official leaderboard shows it."""

    frame: pl.DataFrame | None  # None when no model of the leaderboard has a result here
    unlisted: list[str] = field(default_factory=list)  # "name (why)": models here that the leaderboard leaves out


def leaderboard_frame(folder: Path, bench) -> Leaderboard:
    """The models of `folder` (the repository's `results/`, or the clone holding it) the official leaderboard lists,
    loaded by mteb's loader with the leaderboard's arguments and filtered by the app's default model filter."""
    import mteb
    from mteb.cache import ResultCache

    root = folder / "results" if (folder / "results").is_dir() else folder
    if not root.is_dir():
        raise UserError(f"{folder} is not a folder")
    registry = [meta.name for meta in mteb.get_model_metas() if meta.name]
    stems = result_stems(bench) | {"model_meta"}
    for pattern in ("*/*/*.json", "*/*/experiments/*/*.json"):  # mteb's loader reads these: regular files only
        for path in root.glob(pattern):
            if path.stem in stems:
                read_text(path, "result file")
    with tempfile.TemporaryDirectory(prefix="evalkit-leaderboard-") as tmp:
        (Path(tmp) / "results").symlink_to(root.resolve(), target_is_directory=True)
        try:
            results = ResultCache(tmp).load_results(
                models=registry,
                tasks=sorted(result_stems(bench)),
                only_main_score=True,
                require_model_meta=False,
                include_remote=False,
                load_experiments="match_name",
            )
        except Exception as exc:  # mteb raises many kinds; each means an unreadable file
            raise UserError(f"{folder}: mteb's results loader cannot read it ({_reason(exc)})") from exc
    frame = _to_frame(results, bench)
    loaded = set() if frame is None else set(frame[MODEL].unique().to_list())
    listed = default_models(loaded)
    if frame is not None:
        frame = frame.filter(frame[MODEL].is_in(sorted(listed))) if listed else None
    unlisted = [f"{name} (left out by the leaderboard's default model filter)" for name in sorted(loaded - listed)]
    return Leaderboard(frame, _unregistered(root, result_stems(bench)) + unlisted)


def default_models(names: set[str]) -> set[str]:
    """The models the leaderboard app lists by default: its `_filter_models` with every filter open, which keeps
    the models mteb's registry knows (by their current names)."""
    from typing import get_args

    import mteb
    from mteb.models.get_model_meta import _MODEL_RENAMES
    from mteb.models.model_implementations import MODEL_REGISTRY
    from mteb.models.model_meta import MODEL_TYPES

    known = [name for name in names if name in MODEL_REGISTRY or name in _MODEL_RENAMES]  # others: KeyError
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "renamed to ..."
        metas = mteb.get_model_metas(
            model_names=known,
            open_weights=None,
            use_instructions=None,
            frameworks=[],
            n_parameters_range=(None, None),
            model_types=list(get_args(MODEL_TYPES)),
        )
    return {meta.name for meta in metas}


def _unregistered(root: Path, stems: set[str]) -> list[str]:
    """Model folders with benchmark results that mteb's loader skips: names its registry renamed or never had."""
    from mteb.models.get_model_meta import _MODEL_RENAMES
    from mteb.models.model_implementations import MODEL_REGISTRY

    folders = {name.replace("/", "__").replace(" ", "_") for name in MODEL_REGISTRY}
    found = []
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in folders):
        if not any(p.stem in stems for p in model_dir.glob("*/*.json")):
            continue
        name = model_dir.name.replace("__", "/")
        why = (
            f"mteb's registry renamed it {_MODEL_RENAMES[name]}" if name in _MODEL_RENAMES else "not in mteb's registry"
        )
        found.append(f"{name} ({why})")
    return found


def input_frame(revisions: list[ModelScores], bench, key: str) -> pl.DataFrame | None:
    """One model under test (its revisions as `read_scores` finds them) as the leaderboard would load it, under
    `key` in the model column; None when none of its results counts for the benchmark."""
    import polars as pl
    from mteb.results import BenchmarkResults, ModelResult

    stems = result_stems(bench)
    results = [
        ModelResult.model_construct(
            model_name=model.name,
            model_revision=model.revision,
            task_results=_task_results(model, stems),
            experiment_name=None,
            model_meta=None,
        )
        for model in revisions
    ]
    frame = _to_frame(BenchmarkResults.model_construct(model_results=results, benchmark=None), bench)
    return None if frame is None else frame.with_columns(pl.lit(key).alias(MODEL))


def _task_results(model: ModelScores, stems: set[str]) -> list:
    """A revision's results as mteb loads them: its result files, else (a card) its scores converted."""
    from mteb.results import TaskResult

    files = sorted(p for p in model.source.glob("*.json") if p.stem in stems) if model.source.is_dir() else []
    loaded = []
    for path in files:
        read_text(path, "result file")  # a regular file, not too large, before mteb opens it
        try:
            loaded.append(TaskResult.from_disk(path).only_main_score())
        except Exception as exc:  # mteb raises many kinds; each means "not a result file"
            raise UserError(f"{path}: not an mteb result file ({_reason(exc)})") from exc
    return loaded or [converted(scores).only_main_score() for scores in model.tasks.values()]


def converted(scores: TaskScores):
    """A card's result as mteb's TaskResult, converted as mteb converts a pre-1.11 file: the main score is the value
    of the task's main metric (`max_accuracy` for Cmnli), absent where the card lacks it."""
    from mteb.results import TaskResult

    entry = {mteb_key(scores.type, name): from_card(value) for name, value in scores.metrics.items()}
    data = {
        "mteb_dataset_name": scores.task,
        "dataset_revision": scores.dataset_revision,
        "mteb_version": None,
        scores.split: {scores.subset: entry},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mteb's "Main score ... not found in scores"
        return TaskResult._convert_from_before_v1_11_0(data)


def _to_frame(results, bench) -> pl.DataFrame | None:
    """mteb's long frame of `results` for the benchmark's tasks (`_to_results_df`), text columns as plain strings."""
    import polars as pl

    frame = results._to_results_df(bench.tasks)
    if frame.is_empty() or MODEL not in frame.columns:
        return None
    return frame.with_columns(pl.col(c).cast(pl.Utf8) for c in TEXT_COLUMNS if c in frame.columns)


def concat(frames: list[pl.DataFrame | None]) -> pl.DataFrame | None:
    """Frames of several loads as one (None where there is nothing)."""
    import polars as pl

    present = [f for f in frames if f is not None]
    return pl.concat(present, how="diagonal_relaxed") if present else None


def file_facts(path: Path) -> dict[str, str | None]:
    """What a result file records of how it was computed, as mteb's loader reads it: the mteb version, the dataset
    revision, the task (and so its version), the splits and subsets, the evaluation date."""
    from mteb.results import TaskResult

    read_text(path, "result file")  # a regular file, not too large, before mteb opens it
    try:
        result = TaskResult.from_disk(path)
    except Exception as exc:  # mteb raises many kinds; each means "not a result file"
        raise UserError(f"{path}: not an mteb result file ({_reason(exc)})") from exc
    subsets = {entry.get("hf_subset", "default") for entries in result.scores.values() for entry in entries}
    return {
        "mteb version": result.mteb_version,
        "dataset revision": None if result.dataset_revision in (None, "None") else str(result.dataset_revision),
        "task": result.task_name,
        "splits": ", ".join(sorted(result.scores)),
        "subsets": ", ".join(sorted(subsets)),
        "evaluation date": result.date.date().isoformat() if result.date else None,
    }
