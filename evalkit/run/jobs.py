"""One task's evaluation in every variant of a run: the same code in the run's own process, in a parallel
evaluation worker and in a Ray actor. It returns what mteb computed; the runner writes it."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.run import data, sampling
from evalkit.run.cache import MissingEmbeddings
from evalkit.run.compress import Precision
from evalkit.run.models import ModelOptions
from evalkit.run.record import recording
from evalkit.suite import TaskSpec, load_task

logger = logging.getLogger(__name__)


@dataclass
class Variant:
    """One results folder of a run: the model at full size and precision, or truncated to `dim` dimensions and
    quantized to `precision` (see `compress.py`)."""

    dim: int | None
    name: str
    folder: Path
    identity: str  # the model identity its results record: the model's, and mteb's experiment name when quantized
    precision: Precision | None = None  # None: the embeddings as the model gives them
    experiment: dict[str, Any] | None = None  # the `experiment_kwargs` mteb records for it

    @property
    def precision_label(self) -> str | None:
        return self.precision.label if self.precision else None


@dataclass
class Job:
    """A task to evaluate: where its data is, and the variants whose result is still missing."""

    spec: TaskSpec
    position: tuple[int, int]  # (this task's number, the number of tasks)
    metadata: Any  # the mteb task's metadata, pointed at its data
    version: data.DataVersion
    todo: list[tuple[Variant, Path]] = field(default_factory=list)
    recorded: bool = False  # the encode phase found (and encoded) every text it asks for

    def fresh_task(self):
        """A new mteb task object on the job's data: seeded as mteb seeds it, with nothing of earlier passes."""
        task = load_task(self.spec)
        task.metadata = self.metadata
        return task


@dataclass
class JobSettings:
    """How every job of a run is evaluated (picklable: it travels to the workers)."""

    model_options: ModelOptions
    limit: int | None = None
    seed: int = 42
    show_progress: bool = False
    save_predictions: bool = False
    bulk_columns: bool = False  # mteb reads dataset columns in bulk (`data.bulk_columns`): cached mode


@dataclass
class Evaluated:
    """One variant of a job evaluated: mteb's TaskResult (and recorded predictions), or why it failed."""

    variant: Variant
    path: Path
    result: Any = None
    predictions: dict[str, Any] | None = None  # the predictions record (with `save_predictions`)
    error: str = ""
    seconds: float = 0.0
    missing: bool = False  # a worker lacked an embedding: the task is evaluated again in the run's process


def reason(exc: BaseException) -> str:
    """The one-line reason a task failed."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def failed(spec: TaskSpec, variant: Variant, path: Path, exc: BaseException, seconds: float = 0.0) -> Evaluated:
    logger.debug("%s failed:\n%s", spec.mteb_task, traceback.format_exc())
    return Evaluated(variant, path, error=reason(exc), seconds=seconds)


def run_job(
    job: Job,
    encoder_for: Callable[[Variant], Any],
    settings: JobSettings,
    free_memory: Callable[[], None] | None = None,
) -> list[Evaluated]:
    """Load (and sample) the job's data once when several variants or a sample size (the run's `limit` or the
    suite's for the task) need it, and evaluate each variant."""
    task = job.fresh_task()
    limit = sampling.effective_limit(settings.limit, job.spec.limit)
    try:
        if limit or len(job.todo) > 1:
            task.load_data()  # loaded once for every dimension, and sampled before mteb sees it
            if limit:
                sampling.limit_task(task, limit, settings.seed)
    except Exception as exc:  # noqa: BLE001 - one task's failure never stops the others
        return [failed(job.spec, v, p, exc) for v, p in job.todo]
    out = []
    for variant, path in job.todo:
        start = time.monotonic()
        try:
            keep = settings.save_predictions
            with recording(task, job.spec.type) if keep else nullcontext() as recorder:
                result = evaluate_task(encoder_for(variant), task, job.version.revision, settings, free_memory)
            predictions = _predictions(recorder, result, job.spec) if recorder else None
            out.append(Evaluated(variant, path, result, predictions, seconds=time.monotonic() - start))
        except MissingEmbeddings:
            out.append(Evaluated(variant, path, missing=True))
        except Exception as exc:  # noqa: BLE001 - one task's failure never stops the others
            out.append(failed(job.spec, variant, path, exc, time.monotonic() - start))
    if task.data_loaded:
        task.unload_data()
    return out


def _predictions(recorder, task_result, spec: TaskSpec) -> dict[str, Any] | None:
    """The predictions record of the evaluated split and subset; None when mteb scored nothing evalkit records."""
    entry = next((e for e in task_result.scores.get(spec.split, []) if e.get("hf_subset") == spec.subset), {})
    record = recorder.record(entry)
    if record is None:
        logger.warning("%s: mteb scored no predictions that evalkit can record", spec.mteb_task)
        return None
    return {"task": spec.mteb_task, "type": spec.type, "split": spec.split, "subset": spec.subset} | record


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is a GPU out-of-memory error."""
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def evaluate_task(encoder, task, revision: str, settings: JobSettings, free_memory: Callable[[], None] | None = None):
    """Evaluate one task through `mteb.evaluate` as plain mteb calls it, halving the batch on GPU out-of-memory."""
    import mteb

    options = settings.model_options
    while True:
        try:
            with data.bulk_columns() if settings.bulk_columns else nullcontext():
                result = mteb.evaluate(
                    encoder,
                    task,
                    encode_kwargs={"batch_size": options.batch_size, "show_progress_bar": settings.show_progress},
                    cache=None,
                    show_progress_bar=settings.show_progress,
                )
            break
        except Exception as exc:
            if free_memory is None or not is_out_of_memory(exc) or options.batch_size == 1:
                raise
            free_memory()
            options.batch_size //= 2
            logger.warning("out of memory on %s: retrying with batch size %d", task.metadata.name, options.batch_size)
    task_result = result.task_results[0]
    task_result.dataset_revision = revision
    return task_result
