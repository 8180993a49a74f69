"""The CI regression gate: did any task's main score fall by more than its tolerance?

`check CANDIDATE --baseline B` exits 0 when nothing regressed, 1 on a regression or a missing task,
and 2 on bad input (the CLI turns `UserError` into status 2). With a significance level, a drop beyond the
tolerance fails only when a bootstrap of both models' per-example predictions says it is beyond the tolerance
with that confidence; tasks without predictions fall back to the plain tolerance.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.errors import OptionError, UserError
from evalkit.fileio import read_text
from evalkit.report import bootstrap
from evalkit.report.comparison import beyond
from evalkit.results.scores import ModelScores
from evalkit.suite import TASK_TYPES, Suite, TaskSpec
from evalkit.text import md_escape, md_table, printable, suggest, text_table
from evalkit.yamlio import load_yaml, located

DEFAULT_TOLERANCE = 0.5
HEADER = ("status", "task", "type", "baseline", "candidate", "delta", "tolerance")
SIGNIFICANCE_HEADER = ("delta CI", "p")
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
    candidate_has_task: bool
    alpha: float | None = None  # the significance level, when the gate tests significance
    test: bootstrap.DeltaTest | None = None  # the bootstrap of the delta; None without both models' predictions

    @property
    def delta(self) -> float | None:
        return None if self.candidate is None or self.baseline is None else self.candidate - self.baseline

    @property
    def status(self) -> str:
        """`invalid` (no finite main score on either side), `missing`, `regressed`, `noise` (fell beyond the
        tolerance, but not significantly), `improved` (rose by more than the tolerance) or `ok`."""
        if self.baseline is None or (self.candidate is None and self.candidate_has_task):
            return "invalid"
        if self.delta is None:
            return "missing"
        status = beyond(self.delta, self.tolerance)
        if status == "regressed" and self.test is not None and self.test.p_value >= self.alpha:
            return "noise"
        return status

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

    @property
    def decided_by(self) -> str:
        """`significance` where the bootstrap decided, else `tolerance`."""
        return "significance" if self.test is not None else "tolerance"

    def record(self) -> dict:
        """The check as plain data (the JSON report's task entry)."""
        test = self.test
        return {
            "task": self.task, "type": self.type, "metric": self.metric, "status": self.status,
            "baseline": self.baseline, "candidate": self.candidate, "delta": self.delta, "tolerance": self.tolerance,
            "decided_by": self.decided_by, "delta_ci": list(test.ci) if test and test.ci else None,
            "p_value": test.p_value if test else None, "paired": test.paired if test else None,
        }  # fmt: skip


@dataclass(frozen=True)
class GateResult:
    """The verdict over every baseline task of the suite."""

    candidate: str
    baseline: str
    checks: list[TaskCheck]
    allow_missing: bool
    alpha: float | None = None  # the significance level of a significance-aware gate

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


def _delta_test(
    candidate: ModelScores, baseline: ModelScores, spec: TaskSpec, metric: str, tolerance: float, alpha: float,
    resamples: int, seed: int,
) -> bootstrap.DeltaTest | None:  # fmt: skip
    """The bootstrap of the task's delta, None unless both models have predictions that recompute `metric`;
    predictions that do not give back their stored score are a `UserError` (`bootstrap.task_sample`)."""
    cand, base = candidate.tasks.get(spec.mteb_task), baseline.tasks.get(spec.mteb_task)
    if cand is None or cand.predictions is None or base.predictions is None:
        return None
    samples = [bootstrap.task_sample(t, metric) for t in (cand, base)]
    if None in samples:
        return None
    return bootstrap.delta_test(spec.mteb_task, *samples, tolerance, alpha, resamples, seed)


def run_gate(
    candidate: ModelScores,
    baseline: ModelScores,
    suite: Suite,
    tolerances: Tolerances,
    allow_missing: bool = False,
    alpha: float | None = None,
    resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int = bootstrap.DEFAULT_SEED,
) -> GateResult:
    """Check every suite task that the baseline has against the candidate.

    With `alpha`, a drop beyond the tolerance fails only when it is significant at that level (paired bootstrap
    of both models' predictions); tasks without predictions are judged by the tolerance alone.
    """
    if alpha is not None and not 0 < alpha < 1:
        raise OptionError("significance", alpha, "a significance level between 0 and 1, e.g. 0.05")
    specs = [s for s in suite.tasks if s.mteb_task in baseline.tasks]
    if not specs:
        raise UserError(f"baseline {baseline.name} has no task of suite {suite.name!r}")
    _check_sampling(candidate, baseline, specs)
    checks = []
    for s in specs:
        metric, tolerance = suite.main_metrics[s.type], tolerances.for_task(s)
        test = None
        if alpha is not None:
            test = _delta_test(candidate, baseline, s, metric, tolerance, alpha, resamples, seed)
        checks.append(
            TaskCheck(
                task=s.mteb_task,
                type=s.type,
                metric=metric,
                baseline=baseline.main_score(s.mteb_task, suite.main_metrics),
                candidate=candidate.main_score(s.mteb_task, suite.main_metrics),
                tolerance=tolerance,
                candidate_has_task=s.mteb_task in candidate.tasks,
                alpha=alpha,
                test=test,
            )
        )
    return GateResult(candidate.name, baseline.name, checks, allow_missing, alpha)


def _significance_cells(c: TaskCheck) -> tuple[str, str]:
    """The delta's interval and p-value, or what the gate fell back to."""
    if c.test is None:
        return ("tolerance only", "–") if c.candidate is not None else ("–", "–")
    ci = "–" if c.test.ci is None else f"[{c.test.ci[0]:+.2f}, {c.test.ci[1]:+.2f}]"
    return ci, f"{c.test.p_value:.3f}"


def _header(result: GateResult) -> tuple[str, ...]:
    return HEADER + (SIGNIFICANCE_HEADER if result.alpha is not None else ())


def _rows(result: GateResult) -> list[tuple[str, ...]]:
    """Every regressed, missing and noisy task, worst first, then the SHOWN_IMPROVED most improved."""
    regressed = sorted(result.with_status("regressed"), key=lambda c: c.delta)
    noise = sorted(result.with_status("noise"), key=lambda c: c.delta)
    improved = sorted(result.with_status("improved"), key=lambda c: -c.delta)[:SHOWN_IMPROVED]
    shown = result.with_status("invalid") + regressed + result.with_status("missing") + noise + improved
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
        + (_significance_cells(c) if result.alpha is not None else ())
        for c in shown
    ]


def verdict(result: GateResult) -> str:
    """One line: PASS or FAIL with counts, naming the failed tasks (and how a significance gate decided)."""
    counts = {s: len(result.with_status(s)) for s in ("invalid", "regressed", "missing", "noise", "improved", "ok")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if result.alpha is not None:
        tested = sum(c.test is not None for c in result.checks)
        summary += f"; significance {result.alpha:g}: {tested} tested, {len(result.checks) - tested} on tolerance only"
    if result.passed:
        return f"PASS: {result.candidate} vs {result.baseline}, {len(result.checks)} tasks ({summary})"
    names = ", ".join(c.task for c in result.failures)
    return f"FAIL: {result.candidate} vs {result.baseline}, {len(result.checks)} tasks ({summary}): {names}"


def format_table(result: GateResult) -> str:
    """A plain-text table of what regressed, went missing and improved, then the verdict."""
    rows = _rows(result)
    if not rows:
        return printable(verdict(result))
    header = _header(result)
    table = text_table([header, *rows], right=[i for i in range(3, len(header)) if header[i] != "delta CI"])
    return "\n".join([table, "", printable(verdict(result))])


def format_markdown(result: GateResult) -> str:
    """A Markdown summary for $GITHUB_STEP_SUMMARY."""
    icon = "✅" if result.passed else "❌"
    parts = [f"### {icon} evalkit check", "", md_escape(verdict(result)), ""]
    rows = _rows(result)
    if rows:
        parts.append(md_table(list(_header(result)), [list(row) for row in rows]))
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


def gate_json(result: GateResult) -> str:
    """The verdict and every task's check as JSON."""
    data = {
        "passed": result.passed,
        "verdict": verdict(result),
        "candidate": result.candidate,
        "baseline": result.baseline,
        "significance": result.alpha,
        "tasks": [c.record() for c in result.checks],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


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
        if c.status not in ("invalid", "missing") and result.alpha is not None:
            ci, p = _significance_cells(c)
            message += f"; delta CI {ci}, p {p}" if c.test is not None else "; tolerance only, no predictions"
        if result.alpha is not None:  # the JSON report's fields, as JUnit properties
            properties = ET.SubElement(case, "properties")
            for key, value in c.record().items():
                if key not in ("task", "type") and value is not None:
                    text = value if isinstance(value, str) else json.dumps(value)
                    ET.SubElement(properties, "property", name=key, value=text)
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
