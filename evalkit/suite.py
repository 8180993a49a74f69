"""Task suites: YAML files under `tasks/` that list what to run and what the model card shows."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from evalkit.errors import UserError

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
TASK_TYPES = ("STS", "PairClassification", "Classification", "Clustering", "Reranking", "Retrieval")


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


@dataclass
class Suite:
    """A named list of tasks, with the main metric of each task type and an optional local data folder."""

    name: str
    path: Path
    tasks: list[TaskSpec]
    main_metrics: dict[str, str]
    description: str = ""
    data_dir: Path | None = None
    by_mteb_name: dict[str, TaskSpec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_mteb_name = {t.mteb_task: t for t in self.tasks}

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
                    raise UserError(f"unknown task {name!r} in suite {self.name!r}{_suggest(name, known)}")
                if spec not in picked:
                    picked.append(spec)
            chosen = [t for t in self.tasks if t in picked]
        if types:
            lowered_types = {t.lower(): t for t in TASK_TYPES}
            wanted = set()
            for name in types:
                if name.lower() not in lowered_types:
                    raise UserError(f"unknown task type {name!r}{_suggest(name, TASK_TYPES)}")
                wanted.add(lowered_types[name.lower()])
            chosen = [t for t in chosen if t.type in wanted]
        if not chosen:
            raise UserError("no task of the suite matches the selection")
        return chosen


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""


def suite_path(name_or_path: str) -> Path:
    """A suite file from a bundled suite name (`c-mteb`, `sample`) or a path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UserError(f"suite file {path} does not exist")
        return path
    bundled = TASKS_DIR / f"{name_or_path}.yaml"
    if not bundled.is_file():
        names = sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))
        raise UserError(f"unknown suite {name_or_path!r}{_suggest(name_or_path, names)} (bundled: {', '.join(names)})")
    return bundled


def load_suite(name_or_path: str) -> Suite:
    """Read and validate a suite file; every problem is a one-line `UserError` naming the file."""
    path = suite_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read suite ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), list):
        raise UserError(f"{path}: a suite is a mapping with a `tasks` list")
    main_metrics = raw.get("main_metrics") or {}
    if not isinstance(main_metrics, dict) or set(main_metrics) - set(TASK_TYPES):
        raise UserError(f"{path}: `main_metrics` maps task types ({', '.join(TASK_TYPES)}) to metric names")
    tasks = [_task(path, i, entry) for i, entry in enumerate(raw["tasks"])]
    seen: set[str] = set()
    for task in tasks:
        if task.mteb_task in seen:
            raise UserError(f"{path}: task {task.mteb_task} is listed twice")
        seen.add(task.mteb_task)
    data_dir = raw.get("data_dir")
    return Suite(
        name=str(raw.get("name") or path.stem),
        path=path,
        tasks=tasks,
        main_metrics={str(k): str(v) for k, v in main_metrics.items()},
        description=str(raw.get("description") or ""),
        data_dir=(path.parent / data_dir).resolve() if data_dir else None,
    )


def _task(path: Path, index: int, entry: object) -> TaskSpec:
    where = f"{path}: task #{index + 1}"
    if not isinstance(entry, dict):
        raise UserError(f"{where}: each task is a mapping")
    missing = [k for k in ("name", "type", "split") if not entry.get(k)]
    if missing:
        raise UserError(f"{where}: missing {', '.join(missing)}")
    name = str(entry["name"])
    if entry["type"] not in TASK_TYPES:
        raise UserError(f"{where} ({name}): type {entry['type']!r} is not one of {', '.join(TASK_TYPES)}")
    subset = str(entry.get("subset") or "default")
    split = str(entry["split"])
    card = entry.get("card") or {}
    if not isinstance(card, dict):
        raise UserError(f"{where} ({name}): `card` is a mapping")
    return TaskSpec(
        name=name,
        mteb_task=str(entry.get("mteb_task") or name),
        type=str(entry["type"]),
        subset=subset,
        split=split,
        card=CardDataset(
            type=str(card.get("type", "")),
            name=str(card.get("name") or f"MTEB {name}" + (f" ({subset})" if subset != "default" else "")),
            config=str(card.get("config") or subset),
            split=str(card.get("split") or split),
            revision=str(card.get("revision", "None")),
        ),
    )
