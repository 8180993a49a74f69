"""C-MTEB while a sentence-transformers model trains: `CMTEBEvaluator`, an evaluator for `SentenceTransformerTrainer`.

    from evalkit.integrations.sentence_transformers import CMTEBEvaluator

    evaluator = CMTEBEvaluator(suite="c-mteb-lite", data_dir="/data/c-mteb", name="my-model", output_dir="results")
    args = SentenceTransformerTrainingArguments(..., eval_strategy="steps", eval_steps=500,
        load_best_model_at_end=True, metric_for_best_model=evaluator.primary_metric)
    SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss=loss, evaluator=evaluator).train()

Each evaluation is `evalkit.evaluate` of the model as it is at that step, written to its own results folder
`<output_dir>/<name>_step-<N>/`: `evalkit compare --sweep '<output_dir>/<name>_step-*'` draws the curve afterwards.
Importing this module imports sentence-transformers; `import evalkit` does not.
"""

from __future__ import annotations

import inspect
import logging
import math
from pathlib import Path
from typing import Any

import evalkit
from evalkit.errors import OptionError
from evalkit.report.comparison import aggregate
from evalkit.run.models import in_memory_name
from evalkit.run.runner import RunObserver, TaskOutcome
from evalkit.suite import TASK_TYPES, Suite, TaskSpec, load_suite
from evalkit.text import suggest

try:  # sentence-transformers 6
    from sentence_transformers.base.evaluation import BaseEvaluator
except ImportError:  # sentence-transformers 5
    from sentence_transformers.evaluation import SentenceEvaluator as BaseEvaluator

logger = logging.getLogger(__name__)

AVERAGE = "average"
# `evalkit.evaluate`'s keywords that the evaluator sets and that are not its own parameters (its own parameters never
# reach **options)
_OWN = ("model", "observer")


class _Quiet(RunObserver):
    """Task progress at debug level: the trainer logs the metrics."""

    def task_finished(self, outcome: TaskOutcome) -> None:
        if outcome.status != "failed":
            logger.debug("%s: %s", outcome.label, outcome.status)


class CMTEBEvaluator(BaseEvaluator):
    """Evaluates the model being trained on a C-MTEB suite through `evalkit.evaluate` (embedding cache included: an
    in-memory model's identity is a hash of its weights, so a trained-on model never gets old embeddings).

    `suite`, `tasks`, `types`, `limit`, `data_dir`, `batch_size` and any other keyword (`cache_dir`, `seed`,
    `prompts`, `workers`, ...) are `evalkit.evaluate`'s; `workers` defaults to 1, so that the evaluation stays in the
    training process. `name` names the results (default: the model's), each evaluation written to
    `<output_dir>/<name>_step-<N>/` (`<name>/` when called outside training); `output_dir` defaults to the folder
    the trainer passes (`<args.output_dir>/eval`), else `results`.

    The metrics, prefixed with `prefix` (default: the suite's name) as sentence-transformers prefixes its own: each
    task's main score (`sample_STSB`), each type's average (`sample_STS_average`) and the suite average
    (`sample_average`), on the card's 0-100 scale, as every evalkit report and the C-MTEB cards show them. An
    average appears only when every task it covers has a score. `main_metric` picks the primary one: `average`
    (default), a task type or a task; `primary_metric` is set at construction, so that
    `metric_for_best_model=evaluator.primary_metric` works.

    A failing task never raises: its metric is missing and a warning says why; a primary metric that cannot be
    computed is NaN, which the trainer never takes for the best.
    """

    def __init__(
        self,
        suite: str | Path | Suite = "c-mteb-lite",
        *,
        tasks: list[str] | None = None,
        types: list[str] | None = None,
        limit: int | None = None,
        data_dir: str | Path | None = None,
        name: str | None = None,
        output_dir: str | Path | None = None,
        batch_size: int = 32,
        main_metric: str = AVERAGE,
        prefix: str | None = None,
        **options: Any,
    ):
        super().__init__()
        unknown = (set(options) - set(inspect.signature(evalkit.evaluate).parameters)) | (set(options) & set(_OWN))
        if unknown:
            raise TypeError(f"CMTEBEvaluator() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        if limit is not None and limit < 1:
            raise OptionError("limit", limit, "must be at least 1")
        if data_dir is not None and not Path(data_dir).is_dir():
            raise OptionError("data_dir", data_dir, "is not a folder")
        self.suite = suite if isinstance(suite, Suite) else load_suite(str(suite))
        self.specs = self.suite.select(tasks, types)
        self.limit, self.data_dir, self.name, self.output_dir = limit, data_dir, name, output_dir
        self.batch_size = batch_size
        self.options = {"workers": 1, **options}
        self.prefix = self.suite.name if prefix is None else prefix
        self.primary_metric = self._key(main_metric)
        self.greater_is_better = True

    def _key(self, main_metric: str) -> str:
        """The prefixed metric key of `main_metric`: the average, a type or a task of the evaluated ones."""
        types = {t.lower(): t for t in TASK_TYPES if any(s.type == t for s in self.specs)}
        tasks = {s.name.lower(): s for s in self.specs} | {s.mteb_task.lower(): s for s in self.specs}
        wanted = main_metric.lower()
        if wanted == AVERAGE:
            key = AVERAGE
        elif wanted in types:
            key = f"{types[wanted]}_{AVERAGE}"
        elif wanted in tasks:
            key = tasks[wanted].name
        else:
            known = [AVERAGE, *types.values(), *(s.name for s in self.specs)]
            raise OptionError(
                "main_metric",
                repr(main_metric),
                f"use {AVERAGE}, a task type or a task of the evaluation{suggest(main_metric, known)}",
            )
        return f"{self.prefix}_{key}" if self.prefix else key

    def __call__(self, model, output_path: str | None = None, epoch: float = -1, steps: int = -1) -> dict[str, float]:
        """Evaluate `model` as it is now; the metrics, prefixed. Never raises for a failing task."""
        name = self.name or in_memory_name(model)
        folder_name = f"{name}_step-{steps}" if steps is not None and steps >= 0 else name
        try:
            metrics = self._evaluate(model, folder_name, self.output_dir or output_path or "results")
        except Exception as exc:  # noqa: BLE001 - evaluating never stops the training
            logger.warning("C-MTEB evaluation of %s failed: %s", folder_name, str(exc).splitlines()[0])
            metrics = {}
        metrics = self.prefix_name_to_metrics(metrics, self.prefix)
        if self.primary_metric not in metrics:
            logger.warning(
                "%s: no %s (see the warning above); NaN, so that this evaluation is never the best",
                folder_name,
                self.primary_metric,
            )
            metrics[self.primary_metric] = math.nan
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _evaluate(self, model, folder_name: str, output_dir) -> dict[str, float]:
        """Run evalkit on the selected tasks and read the scores back from the results it wrote."""
        report = evalkit.evaluate(
            model,
            suite=self.suite,
            tasks=[s.mteb_task for s in self.specs],
            limit=self.limit,
            data_dir=self.data_dir,
            name=folder_name,
            output_dir=output_dir,
            batch_size=self.batch_size,
            observer=_Quiet(),
            **self.options,
        )
        for outcome in report.failed:
            logger.warning("C-MTEB task %s failed at %s: %s", outcome.spec.name, folder_name, outcome.error)
        if report.interrupted:  # Ctrl-C stops the training, as it would without the evaluator
            raise KeyboardInterrupt
        failed = {o.spec.mteb_task for o in report.failed}
        scores = evalkit.load_results(report.folders[0], suite=self.suite)
        scored = [s for s in self.specs if s.mteb_task not in failed]
        return self._metrics(scores, scored)

    def _metrics(self, scores, scored: list[TaskSpec]) -> dict[str, float]:
        """Each scored task's main score, and each average whose tasks all have one (evalkit's averages)."""
        metrics = {}
        for spec in scored:
            value = scores.main_score(spec.mteb_task, self.suite.main_metrics)
            if value is not None:
                metrics[spec.name] = value
        groups = [(f"{t}_{AVERAGE}", [s for s in self.specs if s.type == t]) for t in TASK_TYPES]
        for key, specs in [*groups, (AVERAGE, self.specs)]:
            if specs and all(s.name in metrics for s in specs):
                metrics[key] = aggregate(scores, specs, self.suite).score
        return metrics

    @property
    def description(self) -> str:
        return f"C-MTEB ({self.suite.name})"

    def get_config_dict(self) -> dict[str, Any]:
        """What the model card records of this evaluator."""
        config: dict[str, Any] = {"suite": self.suite.name, "tasks": [s.name for s in self.specs]}
        if self.limit:
            config["limit"] = self.limit
        return config
