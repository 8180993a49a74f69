"""Task suites: YAML files under `tasks/` that list what to run and what the model card shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evalkit.arguments import MAX_PROMPT_CHARS
from evalkit.errors import UserError
from evalkit.fileio import read_text
from evalkit.metrics import PAIR_MAX_METRICS, SOURCES
from evalkit.text import suggest
from evalkit.yamlio import check_keys, load_yaml, located, text_field


def _tasks_dir() -> Path:
    """The bundled suites: `evalkit/tasks` in an installed wheel, else the checkout's top-level `tasks/`."""
    packaged = Path(__file__).resolve().parent / "tasks"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "tasks"


TASKS_DIR = _tasks_dir()
TASK_TYPES = ("STS", "PairClassification", "Classification", "Clustering", "Reranking", "Retrieval")
SUITE_KEYS = ("name", "description", "data_dir", "main_metrics", "prompts", "tasks")
PROMPT_TYPES = ("query", "document")
TASK_KEYS = ("name", "mteb_task", "type", "subset", "split", "limit", "card")
CARD_KEYS = ("type", "name", "config", "split", "revision")
LISTED = 10  # the splits or subsets an error names


@dataclass(frozen=True)
class CardDataset:
    """The `dataset` block that a model card shows for a task."""

    type: str
    name: str
    config: str
    split: str
    revision: str


@dataclass(frozen=True)
class TaskSpec:
    """One task of a suite: the mteb task to run and how the card names it."""

    name: str
    mteb_task: str
    type: str
    subset: str
    split: str
    card: CardDataset
    limit: int | None = None  # the suite's sample size for the task (as `run --limit`); None: every example


@dataclass
class Suite:
    """A named list of tasks, with the main metric of each task type and an optional local data folder."""

    name: str
    path: Path
    tasks: list[TaskSpec]
    main_metrics: dict[str, str]
    description: str = ""
    data_dir: Path | None = None
    prompts: dict[str, str] = field(default_factory=dict)  # mteb prompt keys (`T2Retrieval-query`) -> prompt
    origin: str = ""  # where the suite comes from, for people: its file, or the mteb benchmark
    benchmark: str | None = None  # the mteb benchmark this suite is, whose definitions reports then follow
    by_mteb_name: dict[str, TaskSpec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_mteb_name = {t.mteb_task: t for t in self.tasks}
        self.origin = self.origin or str(self.path)

    def select(self, names: list[str] | None = None, types: list[str] | None = None) -> list[TaskSpec]:
        """Tasks picked by card or mteb name and by type; unknown names are a `UserError` with suggestions."""
        chosen = self.tasks
        if names:
            known = {t.name: t for t in self.tasks} | self.by_mteb_name
            lowered = {k.lower(): v for k, v in known.items()}
            picked = []
            for name in names:
                spec = known.get(name) or lowered.get(name.lower())
                if spec is None:
                    raise UserError(f"unknown task {name!r} in suite {self.name!r}{suggest(name, known)}")
                if spec not in picked:
                    picked.append(spec)
            chosen = [t for t in self.tasks if t in picked]
        if types:
            lowered_types = {t.lower(): t for t in TASK_TYPES}
            wanted = set()
            for name in types:
                if name.lower() not in lowered_types:
                    raise UserError(f"unknown task type {name!r}{suggest(name, TASK_TYPES)}")
                wanted.add(lowered_types[name.lower()])
            chosen = [t for t in chosen if t.type in wanted]
        if not chosen:
            raise UserError("no task of the suite matches the selection")
        return chosen


def load_task(spec: TaskSpec):
    """The mteb task of `spec`, restricted to the card's split and subset; a split or subset that mteb does not
    evaluate for the task is a `UserError` with suggestions."""
    import mteb

    try:
        task = mteb.get_task(spec.mteb_task, eval_splits=[spec.split])
    except KeyError as exc:
        known = [t.metadata.name for t in mteb.get_tasks()]
        raise UserError(f"mteb has no task {spec.mteb_task!r}{suggest(spec.mteb_task, known)}") from exc
    for what, value, known in (
        ("split", spec.split, task.metadata.eval_splits),  # `task.eval_splits` is what was asked for, checked or not
        ("subset", spec.subset, task.hf_subsets),
    ):
        if value not in known:
            shown = ", ".join(known[:LISTED]) + (f" and {len(known) - LISTED} more" if len(known) > LISTED else "")
            raise UserError(
                f"{spec.mteb_task}: mteb does not evaluate {what} {value!r} (it has {shown}){suggest(value, known)}"
            )
    return task.filter_languages(None, hf_subsets=[spec.subset])


def prompt_types(task) -> set[str]:
    """The prompt types mteb encodes an mteb task's texts with: `query` and `document` for a retrieval or reranking
    task, an asymmetric STS or pair-classification task's two inputs; none for the others (symmetric STS,
    classification, clustering), whose texts never get a query or document prompt."""
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    if isinstance(task, AbsTaskRetrieval):
        return {"query", "document"}
    inputs = (getattr(task, "input1_prompt_type", None), getattr(task, "input2_prompt_type", None))
    return {prompt_type.value for prompt_type in inputs if prompt_type is not None}


def check_prompts(prompts: dict[str, str], specs: list[TaskSpec], tasks: list) -> None:
    """Refuse a prompt (mteb prompt keys, as `prompt_keys` makes them) that mteb applies to none of the tasks it
    names (`specs` and their mteb `tasks`): a query prompt of an STS task would change nothing but the identity."""
    for key in prompts:
        target, side = key.rsplit("-", 1)
        named = [(spec.mteb_task, task) for spec, task in zip(specs, tasks) if target in (spec.mteb_task, spec.type)]
        if named and not any(side in prompt_types(task) for _, task in named):
            shown = ", ".join(name for name, _ in named[:3]) + (" ..." if len(named) > 3 else "")
            raise UserError(
                f"prompts: {target}: mteb encodes {shown} without a {side} prompt, so this one would change nothing "
                "but the model identity; remove it"
            )


def split_stats(spec: TaskSpec) -> dict:
    """mteb's descriptive statistics of `spec`'s split and subset (`mteb/descriptive_stats/<Type>/<Task>.json`,
    the subset's own entry for a multilingual task); a `UserError` where mteb has none."""
    import mteb

    stats = mteb.get_task(spec.mteb_task).metadata.descriptive_stats or {}
    split = stats.get(spec.split)
    if split is None:
        raise UserError(f"{spec.mteb_task}: mteb has no descriptive statistics for split {spec.split!r}")
    subsets = split.get("hf_subset_descriptive_stats")
    if subsets is None:
        return split
    if spec.subset not in subsets:
        raise UserError(f"{spec.mteb_task}: mteb has no descriptive statistics for subset {spec.subset!r}")
    return subsets[spec.subset]


def suite_path(name_or_path: str) -> Path | None:
    """A suite file from a bundled suite name (`c-mteb`, `sample`) or a path; None for another name."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UserError(f"suite file {path} does not exist")
        return path
    bundled = TASKS_DIR / f"{name_or_path}.yaml"
    return bundled if bundled.is_file() else None


def benchmark_suite(name: str) -> Suite:
    """The suite of the mteb benchmark `name` (e.g. `MTEB(cmn, v1)`); an unknown name is a `UserError`.

    A task that the bundled C-MTEB suite has, in a subset the benchmark evaluates, keeps its entry there (the split,
    subset and dataset block the cards report); another (Amazon reviews in German, say) takes its type, split and
    subset from mteb, and the main metrics are C-MTEB's.
    """
    import mteb

    try:
        benchmark = mteb.get_benchmark(name)
    except (KeyError, ValueError):
        bundled = sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))
        known = bundled + [b.name for b in mteb.get_benchmarks()]
        raise UserError(
            f"unknown suite {name!r}: give a bundled suite ({', '.join(bundled)}), a suite YAML file or an mteb "
            f"benchmark name such as 'MTEB(cmn, v1)'{suggest(name, known)}"
        ) from None
    cmteb = load_suite("c-mteb")
    tasks = []
    for task in benchmark.tasks:
        kept = cmteb.by_mteb_name.get(task.metadata.name)
        tasks.append(kept if kept and kept.subset in task.hf_subsets else _benchmark_task(benchmark.name, task))
    return Suite(
        name=benchmark.name,
        path=cmteb.path,
        tasks=tasks,
        main_metrics={t: m for t, m in cmteb.main_metrics.items() if any(s.type == t for s in tasks)},
        description=f"mteb benchmark {benchmark.name}",
        origin=f"mteb benchmark {benchmark.name} (C-MTEB tasks as in {cmteb.path})",
        benchmark=benchmark.name,
    )


def _benchmark_task(benchmark: str, task) -> TaskSpec:
    """The suite entry of a benchmark task that the C-MTEB suite lacks, from mteb's metadata."""
    meta = task.metadata
    where = f"benchmark {benchmark}: task {meta.name}"
    if meta.type not in TASK_TYPES:
        raise UserError(f"{where} is of type {meta.type}; evalkit evaluates {', '.join(TASK_TYPES)}")
    if len(task.hf_subsets) != 1:
        raise UserError(f"{where} has {len(task.hf_subsets)} subsets; write a suite file that picks one")
    splits = task.eval_splits
    split = splits[0] if len(splits) == 1 or "test" not in splits else "test"
    subset = task.hf_subsets[0]
    return TaskSpec(
        name=meta.name,
        mteb_task=meta.name,
        type=meta.type,
        subset=subset,
        split=split,
        card=CardDataset(
            type=str(meta.dataset["path"]),
            name=f"MTEB {meta.name}" + (f" ({subset})" if subset != "default" else ""),
            config=subset,
            split=split,
            revision="None",
        ),
    )


def card_metric_names(task_type: str) -> set[str]:
    """The metric names a card shows for a task type (the candidates for its main metric)."""
    extra = {f"max_{m}" for m in PAIR_MAX_METRICS} if task_type == "PairClassification" else set()
    return set(SOURCES[task_type]) | extra


def load_suite(name_or_path: str) -> Suite:
    """A bundled suite, a suite file or an mteb benchmark; every problem in a file is a one-line `UserError`
    naming the file, line and key."""
    path = suite_path(name_or_path)
    if path is None:
        return benchmark_suite(name_or_path)
    raw = load_yaml(read_text(path, "suite"), path)
    if isinstance(raw, dict):
        check_keys(path, raw, SUITE_KEYS, "")
    if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), list) or not raw["tasks"]:
        raise UserError(f"{located(path, raw, 'tasks')}: a suite is a mapping with a non-empty `tasks` list")
    tasks = [_task(path, i, entry) for i, entry in enumerate(raw["tasks"])]
    seen: set[str] = set()
    for entry, task in zip(raw["tasks"], tasks):
        if task.mteb_task in seen:
            raise UserError(f"{located(path, entry)}: task {task.mteb_task} is listed twice")
        seen.add(task.mteb_task)
    data_dir = text_field(path, raw, "data_dir", label="", default="")
    return Suite(
        name=text_field(path, raw, "name", label="", default=path.stem),
        path=path,
        tasks=tasks,
        main_metrics=_main_metrics(path, raw, tasks),
        description=text_field(path, raw, "description", label="", default=""),
        data_dir=(path.parent / data_dir).resolve() if data_dir else None,
        prompts=prompt_keys(path, raw.get("prompts"), tasks) if "prompts" in raw else {},
    )


def load_prompts(path: Path, suite: Suite) -> dict[str, str]:
    """A prompts file (YAML: task or task type -> {query, document}) as mteb prompt keys for `suite`'s tasks."""
    return prompt_keys(Path(path), load_yaml(read_text(Path(path), "prompts"), Path(path)), suite.tasks)


def prompt_keys(path: Path, raw: object, tasks: list[TaskSpec]) -> dict[str, str]:
    """`prompts:` (task name or task type -> {query, document}) as the keys mteb resolves prompts by:
    `<mteb task>-query`, `<type>-document`, ... (a task's own prompt wins over its type's)."""
    if not isinstance(raw, dict):
        raise UserError(f"{located(path, raw)}: prompts map a task or task type to {{query, document}}")
    names = {t.name: t.mteb_task for t in tasks} | {t.mteb_task: t.mteb_task for t in tasks}
    keys = {}
    for key, sides in raw.items():
        target = names.get(str(key)) or (str(key) if key in TASK_TYPES else None)
        if target is None:
            raise UserError(
                f"{located(path, raw, key)}: prompts: {key!r} is neither a task of the suite nor a task type"
                f"{suggest(str(key), [*names, *TASK_TYPES])}"
            )
        if not isinstance(sides, dict):
            raise UserError(f"{located(path, raw, key)}: prompts: {key} maps query and/or document to a prompt")
        check_keys(path, sides, PROMPT_TYPES, f"prompts: {key}: ")
        for side in sides:
            prompt = text_field(path, sides, side, f"prompts: {key}: ", default="")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise UserError(
                    f"{located(path, sides, side)}: prompts: {key}: {side}: a prompt of {len(prompt)} characters; "
                    f"at most {MAX_PROMPT_CHARS}"
                )
            keys[f"{target}-{side}"] = prompt
    return keys


def _main_metrics(path: Path, raw: dict, tasks: list[TaskSpec]) -> dict[str, str]:
    """The suite's `main_metrics`: a card metric name for each task type, and one for every type its tasks use."""
    metrics = raw.get("main_metrics")
    if not isinstance(metrics, dict):
        raise UserError(f"{located(path, raw, 'main_metrics')}: `main_metrics` maps each task type to a card metric")
    check_keys(path, metrics, TASK_TYPES, "main_metrics: ")
    for task_type in metrics:
        metric = text_field(path, metrics, task_type, "main_metrics: ")
        names = card_metric_names(task_type)
        if metric not in names:
            raise UserError(
                f"{located(path, metrics, task_type)}: main_metrics: {task_type} has no card metric {metric!r}"
                f"{suggest(metric, names)}"
            )
    lacking = [t.type for t in tasks if t.type not in metrics]
    if lacking:
        raise UserError(f"{located(path, raw, 'main_metrics')}: `main_metrics` has no entry for task type {lacking[0]}")
    return {str(k): str(v) for k, v in metrics.items()}


def _task(path: Path, index: int, entry: object) -> TaskSpec:
    label = f"task #{index + 1}: "
    if not isinstance(entry, dict):
        raise UserError(f"{located(path, entry)}: {label}each task is a mapping")
    name = text_field(path, entry, "name", label)
    label = f"task #{index + 1} ({name}): "
    check_keys(path, entry, TASK_KEYS, label)
    task_type = text_field(path, entry, "type", label)
    if task_type not in TASK_TYPES:
        raise UserError(
            f"{located(path, entry, 'type')}: {label}unknown task type {task_type!r}{suggest(task_type, TASK_TYPES)}"
        )
    subset = text_field(path, entry, "subset", label, "default")
    split = text_field(path, entry, "split", label)
    mteb_task = text_field(path, entry, "mteb_task", label, name)
    limit = entry.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"{located(path, entry, 'limit')}: {label}`limit` is a sample size, a whole number >= 1")
    card = entry.get("card") or {}
    if not isinstance(card, dict):
        raise UserError(f"{located(path, entry, 'card')}: {label}`card` is a mapping")
    label = f"task #{index + 1} ({name}) card: "
    check_keys(path, card, CARD_KEYS, label)
    default_name = f"MTEB {name}" + (f" ({subset})" if subset != "default" else "")
    return TaskSpec(
        name=name,
        mteb_task=mteb_task,
        type=task_type,
        subset=subset,
        split=split,
        card=CardDataset(
            type=text_field(path, card, "type", label, ""),
            name=text_field(path, card, "name", label, default_name),
            config=text_field(path, card, "config", label, subset),
            split=text_field(path, card, "split", label, split),
            revision=text_field(path, card, "revision", label, "None"),
        ),
        limit=limit,
    )
