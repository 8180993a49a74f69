"""`audit`: does a run reproduce the published results of the same model, and what differs where it does not?

The published side is a results-repository folder (the model's own, or the whole repository, where the model of
the run's name is taken) or a model card. Each task's main score (the card's definition, or an mteb benchmark's with
`-b`) is compared: within the results repository's epsilon (its CI calls a main score that moves by more than 0.001,
0.1 points on the card's scale, a changed score), within the gate's tolerance, or beyond it. Beside each task stand
the facts that its two result files record and that differ (mteb version, dataset revision, task version, splits and
subsets, evaluation date), and for the model those of `model_meta.json` (revision, prompts and instructions, dtype,
max length).

The verdict: `reproduced` when every task both sides have is within the tolerance, `not reproduced` when one is
not, `not comparable` when no task has a score on both sides or the run is a `run --limit` sample.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evalkit.errors import UserError
from evalkit.metrics import to_card
from evalkit.report import benchmark
from evalkit.report.comparison import beyond
from evalkit.report.rows import num
from evalkit.results import official
from evalkit.results.read import load_results, merge_revisions, model_meta, no_results, read_scores, sampled_label
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.suite import Suite
from evalkit.text import md_escape, md_table

EPSILON = 0.001  # the results repository's MTEB_SCORE_EPSILON, on mteb's 0-1 scale
REPRODUCED, NOT_REPRODUCED, NOT_COMPARABLE = "reproduced", "not reproduced", "not comparable"
SAME, WITHIN, DIFFERS = "same", "within tolerance", "differs"  # a task's status, with these:
NOT_RUN, NOT_PUBLISHED, OTHER_VERSION = "not in run", "not published", "other task version"
SHOWN = 80  # characters of a setting shown in Markdown (JSON has all)


@dataclass(frozen=True)
class Difference:
    """A fact both sides record, with different values."""

    what: str
    run: str | None
    published: str | None


@dataclass(frozen=True)
class AuditTask:
    name: str
    mteb_task: str
    type: str
    metric: str
    run: float | None
    published: float | None
    delta: float | None  # run minus published, points
    status: str
    differences: list[Difference] = field(default_factory=list)


@dataclass
class Audit:
    """A run against the published results of the same model."""

    suite: str
    definition: str | None  # None: the card's main metrics; else the mteb benchmark's definitions
    run: str
    run_source: str
    published: str
    published_source: str
    tolerance: float  # points
    epsilon: float  # points: the results repository's 0.001
    tasks: list[AuditTask]
    settings: list[Difference]  # what each side's model_meta.json records (all of it, differing or not)
    verdict: str
    reasons: list[str]


def build_audit(run_path: Path, published_path: Path, suite: Suite, tolerance: float) -> Audit:
    """Audit the run at `run_path` against the published results at `published_path` (see the module)."""
    mine = load_results(run_path, suite)
    revisions = _published_revisions(published_path, mine.name, suite)
    theirs = merge_revisions(revisions)
    view_suite, metrics = suite, {s.mteb_task: suite.main_metrics[s.type] for s in suite.tasks}
    if suite.benchmark:
        view = benchmark.load_view([mine, theirs], [read_scores(run_path, suite), revisions], suite)
        (mine, theirs), view_suite, metrics = view.models, view.suite, view.main_scores
    held = [s for s in view_suite.tasks if s.mteb_task in mine.tasks or s.mteb_task in theirs.tasks]
    tasks = [_task(spec, metrics[spec.mteb_task], mine, theirs, view_suite, tolerance) for spec in held]
    settings = _settings(mine, theirs)
    verdict, reasons = _verdict(tasks, settings, mine, tolerance)
    return Audit(
        suite=suite.name,
        definition=suite.benchmark,
        run=mine.name,
        run_source=str(mine.source),
        published=theirs.name,
        published_source=str(theirs.source),
        tolerance=tolerance,
        epsilon=to_card(EPSILON),
        tasks=tasks,
        settings=settings,
        verdict=verdict,
        reasons=reasons,
    )


def _published_revisions(path: Path, name: str, suite: Suite) -> list[ModelScores]:
    """The revisions of model `name` at `path` (a card, a model's folder or a whole results folder); the only
    model there when it holds one; else a `UserError` listing them."""
    revisions = read_scores(path, suite)
    names = sorted({m.name for m in revisions})
    if not names:
        raise no_results(path, suite)
    short = name.rsplit("/", 1)[-1]
    matches = [n for n in names if n == name] or [n for n in names if n.rsplit("/", 1)[-1] == short]
    if len(matches) != 1 and len(names) > 1:
        raise UserError(f"{path} holds {len(names)} models but not {name!r} alone: {', '.join(names[:10])}")
    chosen = matches[0] if len(matches) == 1 else names[0]
    return [m for m in revisions if m.name == chosen]


def _task(spec, metric: str, mine: ModelScores, theirs: ModelScores, suite: Suite, tolerance: float) -> AuditTask:
    run, published = (
        mine.main_score(spec.mteb_task, suite.main_metrics),
        theirs.main_score(spec.mteb_task, suite.main_metrics),
    )
    a, b = mine.tasks.get(spec.mteb_task), theirs.tasks.get(spec.mteb_task)
    differences = _differences(_facts(a), _facts(b)) if a and b else []
    if run is None or published is None:
        other = _other_version(theirs if run is not None else mine, spec.mteb_task)
        status = OTHER_VERSION if other else NOT_PUBLISHED if run is not None else NOT_RUN
        if other:
            differences = [
                Difference("task version", *((spec.mteb_task, other) if run is not None else (other, spec.mteb_task)))
            ]
        return AuditTask(spec.name, spec.mteb_task, spec.type, metric, run, published, None, status, differences)
    delta = run - published
    status = SAME if abs(delta) <= to_card(EPSILON) + 1e-9 else WITHIN if beyond(delta, tolerance) == "ok" else DIFFERS
    return AuditTask(spec.name, spec.mteb_task, spec.type, metric, run, published, delta, status, differences)


def _facts(scores: TaskScores) -> dict[str, str | None]:
    """What one side records of a task: its result file's facts, or a card's dataset block."""
    if scores.path is not None and scores.path.suffix == ".json":
        return official.file_facts(scores.path)
    revision = None if scores.dataset_revision in ("", "None") else scores.dataset_revision
    return {"dataset revision": revision, "splits": scores.split, "subsets": scores.subset}


def _differences(a: dict[str, str | None], b: dict[str, str | None]) -> list[Difference]:
    return [Difference(k, a[k], b[k]) for k in a if k in b and a[k] is not None and b[k] is not None and a[k] != b[k]]


def _other_version(model: ModelScores, task: str) -> str | None:
    """Another version of `task` (`CLSClusteringS2S` and `CLSClusteringS2S.v2`) among the result files beside the
    model's others, where the model lacks `task` itself."""
    base = task.split(".v")[0]
    folders = {s.path.parent for s in model.tasks.values() if s.path is not None and s.path.suffix == ".json"}
    for folder in sorted(folders):
        for path in sorted(folder.glob(f"{base}*.json")):
            if path.stem != task and (path.stem == base or path.stem.startswith(f"{base}.v")):
                return path.stem
    return None


def settings(meta: dict) -> dict[str, str | None]:
    """The settings a `model_meta.json` records, evalkit's keys or mteb's (`loader_kwargs`), named alike."""
    kwargs = meta.get("loader_kwargs") if isinstance(meta.get("loader_kwargs"), dict) else {}
    model_kwargs = kwargs.get("model_kwargs") if isinstance(kwargs.get("model_kwargs"), dict) else {}
    prompts = meta.get("prompts") or kwargs.get("model_prompts") or kwargs.get("prompts_dict")
    dtype = meta.get("dtype") or kwargs.get("torch_dtype") or kwargs.get("dtype") or model_kwargs.get("torch_dtype")
    return {
        "model revision": _text(meta.get("revision")),
        "prompts": _text(prompts),
        "instructions": _text(kwargs.get("instruction_template") or meta.get("use_instructions")),
        "dtype": _dtype(dtype or model_kwargs.get("dtype")),
        "max length": _text(meta.get("max_seq_length") or kwargs.get("max_seq_length") or kwargs.get("max_tokens")),
    }


def _text(value) -> str | None:
    if value is None or value == {} or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _dtype(value) -> str | None:
    """`fp16`, `bf16`, `fp32` for the ways files write them (`torch.float16`, `float16`, `half`)."""
    if value is None:
        return None
    name = str(value).removeprefix("torch.").lower()
    return {"float16": "fp16", "half": "fp16", "bfloat16": "bf16", "float32": "fp32", "float": "fp32"}.get(name, name)


def _settings(mine: ModelScores, theirs: ModelScores) -> list[Difference]:
    """Each side's settings, from the `model_meta.json` beside most of its compared results."""
    found = []
    for model in (mine, theirs):
        folders = Counter(s.path.parent for s in model.tasks.values() if s.path and s.path.suffix == ".json")
        found.append(settings(model_meta(folders.most_common(1)[0][0])) if folders else {})
    keys = [k for k in settings({}) if found[0].get(k) is not None or found[1].get(k) is not None]
    return [Difference(k, found[0].get(k), found[1].get(k)) for k in keys]


def _verdict(tasks: list[AuditTask], recorded: list[Difference], mine: ModelScores, tolerance: float):
    compared = [t for t in tasks if t.delta is not None]
    reasons = []
    sample = sampled_label(mine)
    if sample or not compared:
        if sample:
            reasons.append(f"the run is a `run --limit` sample ({sample}); audit a full run")
        if not compared:
            reasons.append("no task has a main score on both sides")
        other = [
            f"{t.name} ({t.differences[0].run} vs {t.differences[0].published})"
            for t in tasks
            if t.status == OTHER_VERSION
        ]
        if other:
            reasons.append(f"another task version on one side: {', '.join(other)}")
        return NOT_COMPARABLE, reasons
    differing = [t for t in compared if t.status == DIFFERS]
    same = sum(t.status == SAME for t in compared)
    if differing:
        shown = ", ".join(f"{t.name} ({t.delta:+.2f})" for t in differing)
        reasons.append(f"{len(differing)} of {len(compared)} task(s) differ by more than {tolerance:g} points: {shown}")
    else:
        reasons.append(
            f"all {len(compared)} task(s) within {tolerance:g} points, {same} within the results repository's epsilon"
        )
    base = differing or compared
    causes = Counter(d.what for t in base for d in t.differences)
    if causes:
        whose = "their result files" if differing else "the result files"
        reasons.append(f"{whose} differ in: " + ", ".join(f"{what} ({n} of {len(base)})" for what, n in causes.items()))
    changed = [d.what for d in recorded if d.run is not None and d.published is not None and d.run != d.published]
    if changed:
        reasons.append("model_meta.json differs in: " + ", ".join(changed))
    return (NOT_REPRODUCED if differing else REPRODUCED), reasons


def render_audit_json(audit: Audit) -> str:
    return json.dumps(asdict(audit), indent=2, ensure_ascii=False) + "\n"


def render_audit_markdown(audit: Audit) -> str:
    mark = {REPRODUCED: "✅", NOT_REPRODUCED: "❌", NOT_COMPARABLE: "⚠️"}[audit.verdict]
    definition = (
        f"mteb benchmark {audit.definition}'s definitions"
        if audit.definition
        else f"suite {audit.suite}, the card's definition"
    )
    parts = [
        f"## {mark} {audit.verdict}: {md_escape(audit.run)} against its published results",
        "",
        f"- run: **{md_escape(audit.run)}** from {md_escape(audit.run_source)}",
        f"- published: **{md_escape(audit.published)}** from {md_escape(audit.published_source)}",
        *(f"- {md_escape(reason)}" for reason in audit.reasons),
        "",
        f"Main scores by {md_escape(definition)}, on the card's 0–100 scale; Δ is the run minus the published score. "
        f"ε: the results repository's epsilon, {EPSILON:g} of a 0–1 score ({audit.epsilon:g} points); tolerance: "
        f"±{audit.tolerance:g} points, as `check` gates.",
        "",
    ]
    header = ["task", "type", "metric", "run", "published", "Δ", "status", "differences"]
    rows = [
        [t.name, t.type, t.metric, num(t.run), num(t.published), num(t.delta, signed=True), t.status,
         "; ".join(f"{d.what}: {d.run} → {d.published}" for d in t.differences)]
        for t in audit.tasks
    ]  # fmt: skip
    parts += [md_table(header, rows), ""]
    if audit.settings:
        table = [
            [d.what, _short(d.run), _short(d.published), "≠" if d.run and d.published and d.run != d.published else ""]
            for d in audit.settings
        ]
        parts += ["### What model_meta.json records", "", md_table(["setting", "run", "published", ""], table), ""]
    return "\n".join(parts).rstrip() + "\n"


def _short(value: str | None) -> str:
    if value is None:
        return "–"
    return value if len(value) <= SHOWN else value[: SHOWN - 1] + "…"
