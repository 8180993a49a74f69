"""The CI regression gate: did any task's main score fall by more than its tolerance?

`check CANDIDATE --baseline B` exits 0 when nothing regressed, 1 on a regression or a missing task,
and 2 on bad input (the CLI turns `UserError` into status 2).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.errors import OptionError, UserError
from evalkit.fileio import read_text
from evalkit.report.comparison import beyond
from evalkit.results.scores import ModelScores
from evalkit.suite import TASK_TYPES, Suite, TaskSpec
from evalkit.text import md_escape, md_table, suggest, text_table
from evalkit.yamlio import load_yaml, located

DEFAULT_TOLERANCE = 0.5
HEADER = ("status", "task", "type", "baseline", "candidate", "delta", "tolerance")
SHOWN_IMPROVED = 10  # the tables list at most this many improved tasks; the JUnit report has every task
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # characters XML 1.0 cannot hold


@dataclass(frozen=True)
class Tolerances:
    """Allowed drop in points: per task (mteb or card name), else per type, else the default."""

    default: float = DEFAULT_TOLERANCE
    by_task: dict[str, float] = field(default_factory=dict)
    by_type: dict[str, float] = field(default_factory=dict)

    def for_task(self, spec: TaskSpec) -> float:
        for key in (spec.mteb_task, spec.name):
            if key in self.by_task:
                return self.by_task[key]
        return self.by_type.get(spec.type, self.default)


def _points(value: object, where: str) -> float:
    if not _is_points(value):
        raise UserError(f"{where}: a tolerance is a number of points >= 0, not {value!r}")
    return float(value)


def _is_points(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def load_tolerances(path: Path | None, suite: Suite, default: float = DEFAULT_TOLERANCE) -> Tolerances:
    """Tolerances from a YAML mapping of task or type name -> points, with an optional `default:` key.

    The file's `default` overrides `default`; unknown names are a `UserError`.
    """
    if not _is_points(default):
        raise OptionError("tolerance", default, "a tolerance is a number of points >= 0")
    if path is None:
        return Tolerances(float(default))
    raw = load_yaml(read_text(Path(path), "tolerance file"), path) or {}
    if not isinstance(raw, dict):
        raise OptionError("tolerance_file", path, "expected a mapping of task or type name to points")
    task_names = set(suite.by_mteb_name) | {t.name for t in suite.tasks}
    by_task, by_type = {}, {}
    for key, value in raw.items():
        where = located(path, raw, key)
        points = _points(value, f"{where}: {key}")
        if key == "default":
            default = points
        elif key in TASK_TYPES:
            by_type[key] = points
        elif key in task_names:
            by_task[key] = points
        else:
            raise UserError(
                f"{where}: {key!r} is neither a task of suite {suite.name!r}, a task type, nor `default`"
                f"{suggest(str(key), sorted(task_names) + [*TASK_TYPES, 'default'])}"
            )
    return Tolerances(default, by_task, by_type)


@dataclass(frozen=True)
class TaskCheck:
    """One baseline task: its main score in both models and the verdict.

    A score is None where the model lacks it: `candidate_has_task` tells a task the candidate never ran from one
    whose main score is not a finite number (NaN in the result file or on the card).
    """

    task: str  # mteb task name
    type: str
    metric: str
    baseline: float | None
    candidate: float | None
    tolerance: float
    candidate_has_task: bool = True

    @property
    def delta(self) -> float | None:
        return None if self.candidate is None or self.baseline is None else self.candidate - self.baseline

    @property
    def status(self) -> str:
        """`invalid` (no finite main score on either side), `missing`, `regressed`, `improved` or `ok`."""
        if self.baseline is None or (self.candidate is None and self.candidate_has_task):
            return "invalid"
        return "missing" if self.delta is None else beyond(self.delta, self.tolerance)

    @property
    def message(self) -> str:
        """One line on this task's verdict."""
        if self.status == "invalid":
            side = "baseline" if self.baseline is None else "candidate"
            return f"{self.task}: the {side} has no finite {self.metric} (NaN?); a score that is no number never passes"
        if self.status == "missing":
            return f"{self.task} is missing from the candidate (baseline {self.metric} {self.baseline:.2f})"
        change = f"{self.delta:+.2f}, tolerance {self.tolerance:g}"
        return f"{self.metric} {self.baseline:.2f} -> {self.candidate:.2f} ({change})"


@dataclass(frozen=True)
class GateResult:
    """The verdict over every baseline task of the suite."""

    candidate: str
    baseline: str
    checks: list[TaskCheck]
    allow_missing: bool

    def with_status(self, *statuses: str) -> list[TaskCheck]:
        return [c for c in self.checks if c.status in statuses]

    @property
    def failures(self) -> list[TaskCheck]:
        missing = [] if self.allow_missing else self.with_status("missing")
        return self.with_status("invalid") + self.with_status("regressed") + missing

    @property
    def passed(self) -> bool:
        return not self.failures


def _check_sampling(candidate: ModelScores, baseline: ModelScores, specs: list[TaskSpec]) -> None:
    """Refuse to compare sampled (`run --limit`) results with full ones, or samples of another size or seed."""
    mixed = []
    for spec in specs:
        cand, base = candidate.tasks.get(spec.mteb_task), baseline.tasks.get(spec.mteb_task)
        if cand is not None and cand.sampled != base.sampled:
            mixed.append(
                f"{spec.mteb_task} (candidate {cand.sampled or 'full run'}, baseline {base.sampled or 'full run'})"
            )
    if mixed:
        raise UserError(
            f"cannot compare sampled with full results or samples of another size or seed: {'; '.join(mixed[:5])}"
            f"{f' and {len(mixed) - 5} more' if len(mixed) > 5 else ''}; run both with the same --limit and seed"
        )


def run_gate(
    candidate: ModelScores, baseline: ModelScores, suite: Suite, tolerances: Tolerances, allow_missing: bool = False
) -> GateResult:
    """Check every suite task that the baseline has against the candidate."""
    specs = [s for s in suite.tasks if s.mteb_task in baseline.tasks]
    if not specs:
        raise UserError(f"baseline {baseline.name} has no task of suite {suite.name!r}")
    _check_sampling(candidate, baseline, specs)
    checks = [
        TaskCheck(
            task=s.mteb_task,
            type=s.type,
            metric=suite.main_metrics[s.type],
            baseline=baseline.main_score(s.mteb_task, suite.main_metrics),
            candidate=candidate.main_score(s.mteb_task, suite.main_metrics),
            tolerance=tolerances.for_task(s),
            candidate_has_task=s.mteb_task in candidate.tasks,
        )
        for s in specs
    ]
    return GateResult(candidate.name, baseline.name, checks, allow_missing)


def _rows(result: GateResult) -> list[tuple[str, ...]]:
    """Every regressed and missing task, worst first, then the SHOWN_IMPROVED most improved."""
    regressed = sorted(result.with_status("regressed"), key=lambda c: c.delta)
    improved = sorted(result.with_status("improved"), key=lambda c: -c.delta)[:SHOWN_IMPROVED]
    shown = result.with_status("invalid") + regressed + result.with_status("missing") + improved
    return [
        (
            c.status.upper() if c in result.failures else c.status,
            c.task,
            c.type,
            "–" if c.baseline is None else f"{c.baseline:.2f}",
            "–" if c.candidate is None else f"{c.candidate:.2f}",
            "–" if c.delta is None else f"{c.delta:+.2f}",
            f"{c.tolerance:g}",
        )
        for c in shown
    ]


def verdict(result: GateResult) -> str:
    """One line: PASS or FAIL with counts, naming the failed tasks."""
    counts = {s: len(result.with_status(s)) for s in ("invalid", "regressed", "missing", "improved", "ok")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if result.passed:
        return f"PASS: {result.candidate} vs {result.baseline}, {len(result.checks)} tasks ({summary})"
    names = ", ".join(c.task for c in result.failures)
    return f"FAIL: {result.candidate} vs {result.baseline}, {len(result.checks)} tasks ({summary}): {names}"


def format_table(result: GateResult) -> str:
    """A plain-text table of what regressed, went missing and improved, then the verdict."""
    rows = _rows(result)
    if not rows:
        return verdict(result)
    table = text_table([HEADER, *rows], right=range(3, len(HEADER)))
    return "\n".join([table, "", verdict(result)])


def format_markdown(result: GateResult) -> str:
    """A Markdown summary for $GITHUB_STEP_SUMMARY."""
    icon = "✅" if result.passed else "❌"
    parts = [f"### {icon} evalkit check", "", md_escape(verdict(result)), ""]
    rows = _rows(result)
    if rows:
        parts.append(md_table(list(HEADER), [list(row) for row in rows]))
    return "\n".join(parts) + "\n\n"


def _workflow_text(text: str, property: bool = False) -> str:
    """`text` escaped for a GitHub Actions workflow command (a property value also escapes `:` and `,`)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property else text


def github_annotations(result: GateResult) -> list[str]:
    """A GitHub Actions `::error` line for each task that fails the gate; the job log shows them as annotations."""
    lines = []
    for c in result.failures:
        title = _workflow_text(f"evalkit check: {c.task} {c.status}", property=True)
        if c.candidate is None:
            message = f"{c.task} is missing from {result.candidate} (baseline {result.baseline}: {c.metric} "
            message += f"{c.baseline:.2f})"
        else:
            message = (
                f"{c.task} {c.metric} fell from {c.baseline:.2f} ({result.baseline}) to {c.candidate:.2f} "
                f"({result.candidate}): {c.delta:+.2f} points, tolerance {c.tolerance:g}"
            )
        lines.append(f"::error title={title}::{_workflow_text(message)}")
    return lines


def junit_xml(result: GateResult) -> str:
    """JUnit XML: one test case per baseline task; regressions and missing tasks fail, allowed missing ones skip."""
    failures = result.failures
    skipped = [c for c in result.with_status("missing") if c not in failures]
    suite_el = ET.Element(
        "testsuite",
        name=f"evalkit check {result.candidate} vs {result.baseline}",
        tests=str(len(result.checks)),
        failures=str(len(failures)),
        errors="0",
        skipped=str(len(skipped)),
    )
    for c in result.checks:
        case = ET.SubElement(suite_el, "testcase", classname=f"evalkit.check.{c.type}", name=c.task, time="0")
        message = c.message
        if c in failures:
            ET.SubElement(case, "failure", message=message, type=c.status).text = message
        elif c in skipped:
            ET.SubElement(case, "skipped", message=message)
        else:
            ET.SubElement(case, "system-out").text = message
    root = ET.Element("testsuites")
    root.append(suite_el)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + NOT_XML.sub("\ufffd", text) + "\n"
