"""Zero-shot marks: the tasks a model was trained on, as mteb's registry lists them (`training_datasets`, with the
tasks mteb counts as similar), which the official leaderboard's zero-shot filter and column use."""

from __future__ import annotations

from dataclasses import replace

from evalkit.report.comparison import Comparison


def trained_on(name: str) -> frozenset[str] | None:
    """The tasks model `name` was trained on, by mteb's registry; None where the registry does not say."""
    from mteb.benchmarks._create_table import _training_datasets_cached

    return _training_datasets_cached(name)


def zero_shot(name: str, tasks: list[str]) -> int | None:
    """The percentage of `tasks` the model was not trained on, as the leaderboard's Zero-shot column gives it."""
    from mteb.benchmarks._create_table import _zero_shot_pct_cached

    return _zero_shot_pct_cached(name, tuple(sorted(tasks)))


def mark_training(comp: Comparison) -> None:
    """Mark each task a compared model was trained on, and give each leaderboard row its zero-shot percentage."""
    trained = [trained_on(model.name) for model in comp.models]
    comp.tasks = [
        replace(row, trained=[None if tasks is None else row.mteb_task in tasks for tasks in trained])
        for row in comp.tasks
    ]
    names = [row.mteb_task for row in comp.tasks]
    if comp.leaderboard is not None:
        comp.leaderboard = [replace(row, zero_shot=zero_shot(row.name, names)) for row in comp.leaderboard]
