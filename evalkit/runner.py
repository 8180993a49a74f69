"""Running a suite: one mteb evaluation per task, each result written as soon as it exists."""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from evalkit import data, results
from evalkit.errors import UserError
from evalkit.models import LoadedModel
from evalkit.suite import TaskSpec

logger = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """Where data comes from and where results go."""

    output_dir: Path
    data_dir: Path | None = None
    overwrite: bool = False
    show_progress: bool = True


@dataclass
class TaskOutcome:
    """What happened to one task of a run."""

    spec: TaskSpec
    status: str  # "done", "skipped" (result already on disk) or "failed"
    main_metric: str = ""
    main_score: float | None = None  # mteb's main score, 0-1
    seconds: float = 0.0
    error: str = ""
    path: Path | None = None


def load_task(spec: TaskSpec):
    """The mteb task of `spec`, restricted to the card's split and subset."""
    import mteb

    try:
        task = mteb.get_task(spec.mteb_task, eval_splits=[spec.split], hf_subsets=[spec.subset])
    except KeyError as exc:
        raise UserError(f"mteb has no task {spec.mteb_task!r}") from exc
    if spec.split not in task.eval_splits:
        raise UserError(f"{spec.mteb_task}: mteb does not evaluate split {spec.split!r} (it has {task.metadata.eval_splits})")
    return task


def _main_score(task_result, spec: TaskSpec) -> tuple[str, float | None]:
    for entry in task_result.scores.get(spec.split, []):
        if entry.get("hf_subset") == spec.subset:
            return task_result.task.metadata.main_score, entry.get("main_score")
    return task_result.task.metadata.main_score, None


def _existing(path: Path, spec: TaskSpec, revision: str) -> TaskOutcome | None:
    """The outcome for a complete result of the same dataset revision on disk, or None when the task must run."""
    from mteb.results import TaskResult

    if not path.is_file():
        return None
    try:
        task_result = TaskResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except Exception:  # noqa: BLE001 - an unreadable file is rerun and replaced
        logger.warning("%s is unreadable; evaluating %s again", path, spec.mteb_task)
        return None
    metric, score = _main_score(task_result, spec)
    if score is None or task_result.dataset_revision != revision:
        return None
    return TaskOutcome(spec, "skipped", metric, score, path=path)


def prepare_task(spec: TaskSpec, options: RunOptions):
    """The mteb task pointed at its data, and the dataset revision its result will record."""
    task = load_task(spec)
    if options.data_dir:
        return task, data.use_local_snapshot(task, options.data_dir)
    return task, task.metadata.revision


def evaluate_task(model: LoadedModel, task, revision: str, options: RunOptions):
    """Evaluate one task through `mteb.evaluate`, called as plain mteb calls it; returns mteb's TaskResult."""
    import mteb

    result = mteb.evaluate(
        model.mteb_wrapper(),
        task,
        encode_kwargs={"batch_size": model.options.batch_size},
        cache=None,
        show_progress_bar=options.show_progress,
    )
    task_result = result.task_results[0]
    task_result.dataset_revision = revision
    return task_result


def run_tasks(model: LoadedModel, specs: list[TaskSpec], options: RunOptions) -> list[TaskOutcome]:
    """Evaluate each task in turn; a failing task is reported and the others still run."""
    folder = results.model_dir(options.output_dir, model.folder_name, model.revision)
    results.write_json_atomic(folder / "model_meta.json", model.record())
    outcomes = []
    for index, spec in enumerate(specs, start=1):
        path = results.task_file(folder, spec.mteb_task)
        prefix = f"[{index}/{len(specs)}] {spec.mteb_task}"
        start = time.monotonic()
        try:
            task, revision = prepare_task(spec, options)
            outcome = None if options.overwrite else _existing(path, spec, revision)
            if outcome is not None:
                print(f"{prefix}: already done ({path}), skipped", flush=True)
                outcomes.append(outcome)
                continue
            task_result = evaluate_task(model, task, revision, options)
            metric, score = _main_score(task_result, spec)
            if score is None:
                raise RuntimeError(f"mteb returned no score for split {spec.split}, subset {spec.subset}")
            results.write_task_result(task_result, path)
            outcome = TaskOutcome(spec, "done", metric, score, time.monotonic() - start, path=path)
            print(f"{prefix}: {metric} {100 * score:.2f} ({outcome.seconds:.1f} s)", flush=True)
        except Exception as exc:  # noqa: BLE001 - one task's failure never stops the others
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            logger.debug("%s failed:\n%s", spec.mteb_task, traceback.format_exc())
            outcome = TaskOutcome(spec, "failed", seconds=time.monotonic() - start, error=reason)
            print(f"{prefix}: FAILED: {reason}", flush=True)
        outcomes.append(outcome)
    return outcomes


def summary_table(outcomes: list[TaskOutcome]) -> str:
    """The final table of a run: one row per task with its main score (x100), time, or failure reason."""
    rows = [("task", "type", "main score", "seconds", "status")]
    for o in outcomes:
        score = f"{o.main_metric} {100 * o.main_score:.2f}" if o.main_score is not None else "-"
        status = f"failed: {o.error}" if o.status == "failed" else o.status
        rows.append((o.spec.mteb_task, o.spec.type, score, f"{o.seconds:.1f}", status))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
