"""Reading results into `ModelScores`: mteb result JSON of every version, folders at any depth, model cards.

Result files are loaded with mteb's own `TaskResult.from_disk`, which converts the pre-1.11 layout (metrics
nested by similarity function, subsets nested under the split) and the pre-1.12.48 pair-classification keys.
What it leaves, evalkit handles: `dataset_revision: null` in 1.x files (recorded as "None", as cards print it),
the `map`/`mrr` keys of 1.12-1.38 reranking files and the `cos_sim_*` keys of `external` folders (both in
`evalkit.metrics`), and 1.x file names of renamed tasks (`CMedQAv1.json`). A model repository's `.eval_results/`
is read by `evalkit.results.eval_results`. Every unreadable input is a one-line `UserError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.fileio import read_text
from evalkit.metrics import card_metrics, from_card, mteb_key
from evalkit.precision import BITS, UNQUANTIZED, experiment_suffix
from evalkit.results.eval_results import EVAL_RESULTS, eval_results_folders, read_eval_results
from evalkit.results.files import META_FILE, SUMMARY_FILE
from evalkit.results.predictions import KEY as PREDICTIONS
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.suite import Suite, TaskSpec
from evalkit.yamlio import load_yaml, located

CARD_REVISION = "external"  # the revision of results taken from a model card, as in the public results repository
PUBLISHED = (CARD_REVISION, EVAL_RESULTS)  # revisions of published (rounded, converted) scores, not of runs
LISTED = 10  # model revisions named in the error of `read_one`
# A README's YAML front matter, as huggingface_hub finds it: (opening ---, YAML, closing --- and the rest).
FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(?:\r\n|\n|$)[\S\s]*)$")


def read_scores(path: Path, suite: Suite) -> list[ModelScores]:
    """Every model revision under `path` with at least one suite task, sorted by name and revision.

    `path` is a results folder at any depth, one model's folder (one `ModelScores` per revision), one revision
    folder, a model repository with `.eval_results/` (or that folder), or a model card README.md. Only suite tasks
    are read, each at the card's split and subset.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():  # a card; a FIFO or a device is refused when read, never opened
        if path.suffix.lower() != ".md":
            raise UserError(f"{path}: expected a results folder or a model card (.md)")
        return [m for m in read_card(path, suite) if m.tasks]
    if not path.is_dir():
        raise UserError(f"{path} does not exist")
    models = []
    for folder, files in _revision_folders(path, suite):
        model = _read_revision(folder, files, suite)
        if model.tasks:
            models.append(model)
    for folder in eval_results_folders(path):
        model = read_eval_results(folder, suite)
        if model.tasks:
            models.append(model)
    return sorted(models, key=lambda m: (m.name, m.revision))


def no_results(path: Path, suite: Suite) -> UserError:
    """The error for an input that holds no result of the suite."""
    return UserError(
        f"{path}: no results of suite {suite.name!r} found "
        "(expected mteb result files <Task>.json, as in <org>__<model>/<revision>/, a model repository's "
        ".eval_results/, or a model card)"
    )


def read_one(path: Path, suite: Suite) -> ModelScores:
    """The single model revision `path` holds; zero or several are a `UserError` that lists what was found."""
    models = read_scores(path, suite)
    if len(models) != 1:
        if not models:
            raise no_results(path, suite)
        found = ", ".join(f"{m.name}@{m.revision} ({m.source})" for m in models[:LISTED])
        more = f" and {len(models) - LISTED} more" if len(models) > LISTED else ""
        raise UserError(f"{path} holds {len(models)} model revisions, pass one of them: {found}{more}")
    return models[0]


def _revision_folders(root: Path, suite: Suite) -> list[tuple[Path, dict[str, Path]]]:
    """Folders under `root` (itself included) holding suite result files, with those files by mteb task."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files = _task_files(Path(dirpath), filenames, suite)
        if files:
            found.append((Path(dirpath), files))
    return found


def _task_files(folder: Path, filenames: list[str], suite: Suite) -> dict[str, Path]:
    """Result files of suite tasks in one folder; 1.x names of renamed tasks count when the new name is absent."""
    from mteb.results.task_result import renamed_tasks

    files: dict[str, Path] = {}
    for filename in sorted(filenames):
        stem, suffix = os.path.splitext(filename)
        if suffix != ".json" or filename == META_FILE:
            continue
        task = stem if stem in suite.by_mteb_name else renamed_tasks.get(stem)
        if task in suite.by_mteb_name and (task not in files or stem == task):
            files[task] = folder / filename
    return files


def result_files(folder: Path, suite: Suite) -> dict[str, Path]:
    """The result files of suite tasks in one revision folder, by mteb task name."""
    return _task_files(Path(folder), os.listdir(folder), suite)


def _read_revision(folder: Path, files: dict[str, Path], suite: Suite) -> ModelScores:
    meta = model_meta(folder)
    name = meta.get("name") if isinstance(meta.get("name"), str) else folder.parent.name.replace("__", "/")
    sampled = meta.get("sampled") if isinstance(meta.get("sampled"), str) else None
    model = ModelScores(name=name, revision=folder.name, source=folder, **vector_facts(meta, folder))
    for task, path in files.items():
        scores = read_task_file(path, suite.by_mteb_name[task], sampled)
        if scores is not None:
            model.tasks[task] = scores
    identities = {s.model_identity: s.task for s in model.tasks.values() if s.model_identity}
    if len(identities) > 1:
        shown = ", ".join(f"{task} by {identity}" for identity, task in list(identities.items())[:2])
        raise UserError(
            f"{folder} mixes results of {len(identities)} model identities (other weights or options: {shown}); "
            "evaluate the folder again with one model"
        )
    return model


def model_meta(folder: Path) -> dict[str, Any]:
    """A results folder's `model_meta.json` ({} where there is none); a malformed one is a `UserError`."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        return {}
    data = _load_json(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: model_meta.json is a JSON object")
    return data


def vector_facts(meta: dict[str, Any], folder: Path) -> dict[str, Any]:
    """What a results folder says of its model's vectors: their dimensions and precision (from `model_meta.json`,
    evalkit's or mteb's: `embed_dim`, and the `output_dtypes` of mteb's `experiment_kwargs`, float32 without one),
    the variant they are (`dim256_int8`), and the texts per second its `run_summary.json` records."""
    dim = meta.get("embed_dim")
    kwargs = meta.get("experiment_kwargs") if isinstance(meta.get("experiment_kwargs"), dict) else {}
    precision = kwargs.get("output_dtypes", UNQUANTIZED)
    facts: dict[str, Any] = {"variant": experiment_suffix(kwargs)[1:], "texts_per_second": _throughput(folder)}
    if isinstance(dim, int) and not isinstance(dim, bool) and dim > 0 and isinstance(precision, str):
        facts |= {"embed_dim": dim, "precision": precision if precision in BITS else None}
    return facts


def _throughput(folder: Path) -> float | None:
    """The texts per second (summed over its devices) that `run_summary.json` records; None where it records none.
    The summary only describes how the results were made, so one that cannot be read is passed over."""
    path = folder / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        rates = json.loads(read_text(path)).get("texts_per_second")
    except (UserError, ValueError, AttributeError):
        return None
    numbers = [v for v in rates.values() if isinstance(v, (int, float))] if isinstance(rates, dict) else []
    return round(sum(numbers), 1) if numbers else None


def _load_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{path}: not valid JSON ({type(exc).__name__})") from exc


def card_scores(scores: dict, spec: TaskSpec) -> dict[str, float]:
    """The card's metrics of mteb's scores (split -> entries) at the spec's split and subset; {} when absent."""
    entry = next((e for e in scores.get(spec.split, []) if e.get("hf_subset") == spec.subset), None)
    return card_metrics(spec.type, entry) if entry is not None else {}


MARKS = ("sampled", "dataset_fingerprint", "model_identity", PREDICTIONS)  # evalkit's keys beside mteb's


def read_task_file(path: Path, spec: TaskSpec, sampled: str | None = None) -> TaskScores | None:
    """One result file's scores at the card's split and subset, or None when the file lacks that subset.

    The file's own `sampled` mark wins over `sampled` (its folder's `model_meta.json`): a sampled result stays
    sampled when copied without its folder.
    """
    raw = _load_json(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a result file is a JSON object")
    result = load_task_result(path)
    if result.task_name != spec.mteb_task:
        raise UserError(f"{path}: holds task {result.task_name!r}, expected {spec.mteb_task!r}")
    if not any(e.get("hf_subset") == spec.subset for e in result.scores.get(spec.split, [])):
        return None
    metrics = card_scores(result.scores, spec)  # NaN scores are left out: such a task has no main score
    out_of_range = [k for k, v in metrics.items() if not math.isfinite(v)]  # finite at 0-1, infinite x100
    if out_of_range:
        raise UserError(f"{path}: score {out_of_range[0]} is out of range")
    marks = {key: raw.get(key) if isinstance(raw.get(key), str) else None for key in MARKS}
    predictions = path.parent / Path(marks[PREDICTIONS]).name if marks[PREDICTIONS] else None
    return TaskScores(
        task=spec.mteb_task,
        type=spec.type,
        split=spec.split,
        subset=spec.subset,
        dataset_revision=str(result.dataset_revision),
        metrics=metrics,
        sampled=marks["sampled"] or sampled,
        dataset_fingerprint=marks["dataset_fingerprint"],
        model_identity=marks["model_identity"],
        revision=path.parent.name,
        date=result.date.timestamp() if result.date else None,
        predictions=predictions if predictions is not None and predictions.is_file() else None,
        path=path,
    )


def load_task_result(path: Path):
    """mteb's `TaskResult` of a result file, as mteb's loader reads it (older formats converted)."""
    from mteb.results.task_result import TaskResult

    try:
        return TaskResult.from_disk(path)
    except Exception as exc:  # mteb raises many kinds; each means "not a result file"
        raise UserError(f"{path}: not an mteb result file ({_reason(exc)})") from exc


def _reason(exc: Exception) -> str:
    """One line on why mteb refused a file: pydantic's first complaint with its field, else the message's first line."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        field = ".".join(map(str, first["loc"]))
        return f"{field}: {first['msg']}" if field else first["msg"]
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def split_front_matter(text: str, path: Path) -> tuple[str, str, str]:
    """A README's (opening `---`, front-matter YAML, closing `---` and body); `UserError` when it has none."""
    match = FRONT_MATTER.match(text)
    if match is None:
        raise UserError(f"{path}: no YAML front matter (a model card starts with a `---` block)")
    return match.group(1), match.group(2), match.group(3)


def read_card(path: Path, suite: Suite) -> list[ModelScores]:
    """The suite tasks of a model card's `model-index`, one `ModelScores` per entry (revision `external`)."""
    path = Path(path)
    text = read_text(path, encoding="utf-8-sig")
    head, front, _ = split_front_matter(text, path)
    meta = load_yaml(front, path, head.count("\n") + 1, "front matter is not valid YAML")
    index = meta.get("model-index") if isinstance(meta, dict) else None
    if not isinstance(index, list) or not index:
        raise UserError(f"{located(path, meta, 'model-index')}: the front matter has no `model-index` list")
    return [_card_model(path, i, entry, suite) for i, entry in enumerate(index)]


def _card_model(path: Path, index: int, entry: object, suite: Suite) -> ModelScores:
    where = f"model-index entry #{index + 1}"
    entry = _mapping(path, entry, where)
    results = entry.get("results")
    if not isinstance(entry.get("name"), str) or not isinstance(results, list):
        raise UserError(f"{located(path, entry)}: {where}: needs a `name` and a `results` list")
    model = ModelScores(name=entry["name"], revision=CARD_REVISION, source=path)
    first_at: dict[str, str] = {}
    for number, result in enumerate(results, start=1):
        scores = _card_result(path, f"{where}, result #{number}", result, suite)
        if scores is None:
            continue
        if scores.task in model.tasks:
            raise UserError(
                f"{located(path, result)}: {where}: {scores.task} is listed twice "
                f"(also at {first_at[scores.task]}); a card holds one result per task"
            )
        model.tasks[scores.task], first_at[scores.task] = scores, located(path, result)
    return model


def _card_result(path: Path, where: str, result: object, suite: Suite) -> TaskScores | None:
    result = _mapping(path, result, where)
    task_type = _mapping(path, result.get("task"), f"{where} task", result).get("type")
    dataset = _mapping(path, result.get("dataset"), f"{where} dataset", result)
    metrics = result.get("metrics")
    if not isinstance(metrics, list):
        raise UserError(f"{located(path, result, 'metrics')}: {where}: `metrics` is a list")
    spec = _card_spec(dataset, suite)
    if spec is None:
        return None
    if task_type != spec.type:
        raise UserError(
            f"{located(path, result, 'task')}: {where}: {spec.name} has task type {task_type!r}, "
            f"the suite says {spec.type!r}"
        )
    values = {}
    for metric in metrics:
        metric = _mapping(path, metric, f"{where} metric", result)
        name, value = metric.get("type"), metric.get("value")
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and not abs(value) > sys.float_info.max
        if not isinstance(name, str) or not number:
            raise UserError(
                f"{located(path, metric)}: {where}: each metric needs a `type` name and a numeric `value` "
                f"(got {metric!r})"
            )
        values[mteb_key(spec.type, name)] = from_card(float(value))
    return TaskScores(
        task=spec.mteb_task,
        type=spec.type,
        split=spec.split,
        subset=spec.subset,
        dataset_revision=str(dataset.get("revision")),
        metrics=card_metrics(spec.type, values),
        revision=CARD_REVISION,
        path=path,
    )


def _card_spec(dataset: dict, suite: Suite) -> TaskSpec | None:
    """The suite task a card's dataset block stands for: same split and config, and same name or dataset type."""
    split, config = str(dataset.get("split")), str(dataset.get("config"))
    for spec in suite.tasks:
        card = spec.card
        same_dataset = dataset.get("name") == card.name or dataset.get("type") == card.type
        if same_dataset and (split, config) == (card.split, card.config):
            return spec
    return None


def _mapping(path: Path, value: object, where: str, parent: object = None) -> dict:
    """`value` when it is a mapping, else a `UserError` at its line (or its parent's)."""
    if not isinstance(value, dict):
        raise UserError(f"{located(path, parent)}: {where}: expected a mapping, got {type(value).__name__}")
    return value


def merge_revisions(models: list[ModelScores]) -> ModelScores:
    """One model from several revision folders of the same model (as the public results repository keeps them).

    Each task's scores come from one revision, which `TaskScores.revision` names: a real run wins over published
    scores (a model card's `external`, a repository's `.eval_results`), then the newest run by the date mteb
    recorded. Two runs of a task with different scores and no dates to choose by are a `UserError` naming both
    revisions.
    """
    if len(models) == 1:
        return models[0]
    tasks: dict[str, TaskScores] = {}
    for model in sorted(models, key=lambda m: m.revision):
        for task, scores in model.tasks.items():
            scores = replace(scores, revision=scores.revision or model.revision)
            tasks[task] = scores if task not in tasks else _newer(tasks[task], scores)
    source = Path(os.path.commonpath([str(m.source) for m in models]))
    revisions = sorted({m.revision for m in models}, key=lambda r: (r == CARD_REVISION, r))
    merged = ModelScores(models[0].name, "+".join(revisions), source, tasks)
    sizes = {(m.embed_dim, m.precision, m.variant) for m in models if m.embed_dim}
    if len(sizes) == 1:  # the revisions agree on what a vector is
        merged.embed_dim, merged.precision, merged.variant = sizes.pop()
    merged.texts_per_second = next((m.texts_per_second for m in models if m.texts_per_second), None)
    return merged


def _newer(a: TaskScores, b: TaskScores) -> TaskScores:
    """The result of a task to keep when two revisions hold it (see `merge_revisions`)."""
    if (a.revision in PUBLISHED) != (b.revision in PUBLISHED):
        return b if a.revision in PUBLISHED else a
    if a.date is not None and b.date is not None and a.date != b.date:
        return a if a.date > b.date else b
    if a.metrics != b.metrics:
        raise UserError(
            f"{a.task}: revisions {a.revision} and {b.revision} hold different scores and no date tells which is "
            "newer; pass one revision folder"
        )
    return a


def load_results(path: Path, suite: Suite) -> ModelScores:
    """The one model a results folder or model card holds; its revisions are merged."""
    models = read_scores(path, suite)
    if not models:
        raise no_results(path, suite)
    names = sorted({m.name for m in models})
    if len(names) > 1:
        raise UserError(f"{path} holds {len(names)} models ({', '.join(names[:5])}); pass one model's folder or card")
    if len({sampled_label(m) for m in models}) > 1:
        raise UserError(f"{path} holds sampled (run --limit) and full results; pass one revision folder")
    return merge_revisions(models)


def sampled_label(model: ModelScores) -> str | None:
    """The `run --limit` sample a model's results come from, None for full results."""
    return next((t.sampled for t in model.tasks.values() if t.sampled), None)


def load_models(path: Path, suite: Suite) -> list[ModelScores]:
    """Every model of a results folder, each with its revisions merged (sampled and full results kept apart)."""
    by_name: dict[tuple[str, str | None], list[ModelScores]] = {}
    for model in read_scores(path, suite):
        by_name.setdefault((model.name, sampled_label(model)), []).append(model)
    if not by_name:
        raise no_results(path, suite)
    return [merge_revisions(group) for group in by_name.values()]
