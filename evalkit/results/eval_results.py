"""The hub's `.eval_results/` format (https://huggingface.co/docs/hub/eval-results): YAML files in a model
repository, each a list of entries `dataset: {id, task_id, revision}`, `value`, `date`, `notes`, `source`.

Writing: mteb builds a result's entries (`TaskResult._to_hf_benchmark_result`: one per split and subset, `task_id`
`<task>_<subset>_<split>`, the main score x 100 rounded to 5 decimals, plus the task's overall entry when every
split and subset is there), huggingface_hub parses them into `EvalResultEntry`s and turns those into YAML data
(`eval_result_entries_to_yaml`), and PyYAML writes that in mteb's key order: the text equals mteb's own file.

Reading: an entry is one number, mteb's main score of a task at one split and subset. The entry of a suite task's
card split and subset becomes that task's score, under the card name of mteb's main score. Entries of the suite
tasks' other splits and subsets, their overall entries and the suite's entry are skipped; anything else, and a value
that is no number or that no card metric names (PairClassification's `max_accuracy`), is left out with a warning,
never guessed.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml, parse_eval_result_entries

from evalkit.errors import UserError
from evalkit.fileio import read_text
from evalkit.metrics import card_name, finite
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.suite import Suite, TaskSpec, load_task
from evalkit.yamlio import load_yaml

if TYPE_CHECKING:
    from mteb.results import TaskResult

logger = logging.getLogger(__name__)

EVAL_RESULTS = ".eval_results"  # the folder in a model repository; also the revision label of what is read from it
MTEB_URL = "https://github.com/embeddings-benchmark/mteb/"
MTEB_NOTE = "Obtained using MTEB"  # the notes and source name of mteb's benchmark entry
# mteb's key order; huggingface_hub puts `source` before `notes` (the hub reads either).
KEY_ORDER = ("dataset", "value", "verifyToken", "date", "notes", "source")
SHOWN = 3  # entries named in a warning


def task_entries(result: TaskResult, user: str | None = None) -> list[EvalResultEntry]:
    """The entries mteb publishes for one result (its `_to_hf_benchmark_result`), read by huggingface_hub."""
    return parse_eval_result_entries([entry.to_dict() for entry in result._to_hf_benchmark_result(user).root])


def suite_mean(suite: Suite, results: list[TaskResult]) -> float | None:
    """mteb's Mean (Task) over the suite's tasks at their card split and subset (its `Benchmark._get_model_score`);
    None unless every task has a score."""
    from mteb import Benchmark
    from mteb.results import ModelResult

    benchmark = Benchmark(name=suite.name, tasks=[load_task(spec) for spec in suite.tasks])
    try:
        mean = benchmark._get_model_score(ModelResult(model_name="-", model_revision=None, task_results=results))
    except ValueError:  # mteb: "Some scores of benchmark are missing"
        return None
    value = mean.get("Mean(Task)")
    return None if value is None else float(value)


def suite_entry(suite: Suite, mean: float, benchmark_repo: str, user: str | None = None) -> EvalResultEntry:
    """The suite's entry, as mteb's `push_model_results(benchmark=...)` writes a benchmark's: the Mean (Task) as
    mteb computes it (0-1, unrounded), for the hub dataset `benchmark_repo` at revision "1", task id the suite name."""
    return EvalResultEntry(
        dataset_id=benchmark_repo,
        task_id=suite.name,
        dataset_revision="1",
        value=mean,
        notes=MTEB_NOTE,
        source_url=MTEB_URL,
        source_name=MTEB_NOTE,
        source_user=user,
    )


def to_yaml(entries: list[EvalResultEntry]) -> str:
    """The text of one `.eval_results` file: huggingface_hub's data in mteb's key order, dumped as mteb dumps it."""
    data = [{**{k: d[k] for k in KEY_ORDER if k in d}, **d} for d in eval_result_entries_to_yaml(entries)]
    return yaml.safe_dump(data, sort_keys=False)


def eval_results_folders(root: Path) -> list[Path]:
    """The `.eval_results` folders at or under `root` (other hidden folders are not searched)."""
    root = Path(root)
    if root.name == EVAL_RESULTS:
        return [root] if root.is_dir() else []
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        if EVAL_RESULTS in dirnames:
            found.append(Path(dirpath) / EVAL_RESULTS)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return found


@dataclass(frozen=True)
class _Index:
    """The entries mteb writes for a suite's tasks, by (dataset id, task id)."""

    card: dict[tuple[str, str], TaskSpec]  # each task's card split and subset
    known: frozenset[tuple[str, str]]  # every entry of the suite's tasks
    main: dict[str, str]  # mteb's main score of each task


@lru_cache(maxsize=8)
def _index(specs: tuple[TaskSpec, ...]) -> _Index:
    import mteb

    card, known, main = {}, set(), {}
    for spec in specs:
        load_task(spec)  # an unknown task or split is a UserError
        task = mteb.get_task(spec.mteb_task)
        name, dataset = task.metadata.name, task.metadata.dataset["path"]
        card[(dataset, f"{name}_{spec.subset}_{spec.split}")] = spec
        known |= {(dataset, name)} | {
            (dataset, f"{name}_{subset}_{split}") for subset in task.hf_subsets for split in task.metadata.eval_splits
        }
        main[spec.mteb_task] = task.metadata.main_score
    return _Index(card, frozenset(known), main)


def read_eval_results(folder: Path, suite: Suite) -> ModelScores:
    """The suite tasks of a `.eval_results` folder (see the module docstring), as one model named by the folder
    that holds it (`org__name` -> `org/name`), revision `.eval_results`. A malformed file, or one task with two
    values, is a `UserError`; what is left out is logged."""
    folder = Path(folder)
    model = ModelScores(folder.resolve().parent.name.replace("__", "/"), EVAL_RESULTS, folder)
    index = _index(tuple(suite.tasks))
    first_at: dict[str, str] = {}
    outside, unscored = [], []
    for path in sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
        for number, entry in enumerate(_entries(path), start=1):
            key = (entry.dataset_id, entry.task_id)
            spec = index.card.get(key)
            if spec is None:
                if key not in index.known and entry.task_id != suite.name:
                    outside.append(f"{entry.dataset_id} {entry.task_id}")
                continue
            main = index.main[spec.mteb_task]
            value, metric = finite(entry.value), card_name(spec.type, main)
            if value is None or metric is None:
                why = f"value {entry.value!r} is no score" if value is None else f"mteb's {main} is no card metric"
                unscored.append(f"{spec.name} ({why})")
                continue
            scores = TaskScores(
                task=spec.mteb_task,
                type=spec.type,
                split=spec.split,
                subset=spec.subset,
                dataset_revision=str(entry.dataset_revision),
                metrics={metric: value},
                revision=EVAL_RESULTS,
                date=_timestamp(entry.date),
            )
            if spec.mteb_task in model.tasks and model.tasks[spec.mteb_task].metrics != scores.metrics:
                raise UserError(
                    f"{path}: entry #{number}: {entry.task_id} has another value at {first_at[spec.mteb_task]}; "
                    "a model has one score per task"
                )
            model.tasks.setdefault(spec.mteb_task, scores)
            first_at.setdefault(spec.mteb_task, f"{path.name} entry #{number}")
    if outside:
        more = f" and {len(outside) - SHOWN} more" if len(outside) > SHOWN else ""
        logger.warning(
            "%s: %d entries of no task of suite %s, not read: %s%s",
            folder, len(outside), suite.name, ", ".join(outside[:SHOWN]), more,
        )  # fmt: skip
    if unscored:
        logger.warning("%s: left out of suite %s: %s", folder, suite.name, ", ".join(unscored))
    return model


def _entries(path: Path) -> list[EvalResultEntry]:
    """One file's entries, read by huggingface_hub; a file that is not a list of entries is a `UserError`."""
    data = load_yaml(read_text(path, "eval results"), path) or []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise UserError(f"{path}: an .eval_results file is a YAML list of entries")
    try:
        entries = parse_eval_result_entries(data)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise UserError(f"{path}: each entry needs `dataset` (with `id`, `task_id`) and `value` ({exc!r})") from exc
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry.dataset_id, str) or not isinstance(entry.task_id, str):
            raise UserError(f"{path}: entry #{number}: `dataset` `id` and `task_id` are strings")
    return entries


def _timestamp(date: object) -> float | None:
    """An entry's `date` (ISO 8601, UTC when it names no zone) as POSIX time; None when absent or unreadable."""
    if isinstance(date, str):
        try:
            date = datetime.datetime.fromisoformat(date.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(date, datetime.date) and not isinstance(date, datetime.datetime):
        date = datetime.datetime.combine(date, datetime.time())
    if not isinstance(date, datetime.datetime):
        return None
    return (date if date.tzinfo else date.replace(tzinfo=datetime.timezone.utc)).timestamp()
