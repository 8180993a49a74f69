"""Choose the tasks and per-task sample sizes of `tasks/c-mteb-lite.yaml` by measured fidelity, and measure it.

Reads the published C-MTEB results of every model in a folder laid out like the public results repository (the
`results/` folder of a clone of github.com/embeddings-benchmark/results), through evalkit's own reader, and:

1. Sample sizes: a task is kept whole when it encodes at most `--task-texts` texts (from mteb's descriptive
   statistics, `evalkit.run.sampling.texts_to_encode`); a larger one is sampled (as `run --limit` samples) to the
   largest round size that fits, and left out when that is under `--min-examples` examples.
2. Selection, on the models complete on the 31 C-MTEB tasks of mteb's `MTEB(cmn, v1)` but not on all 35: every
   choice of one task per type (from those 31, so that each can be scored there), then, greedily, the task that
   raises the Spearman correlation of the lite average with these models' 31-task average most, while the lite
   suite stays within `--budget` of the full suite's texts.
3. Fidelity, on the models complete on all 35 tasks, which the selection never saw: the Spearman correlation
   between the lite average and the full 35-task average, with a bootstrap interval over the models.

What is measured: the choice of tasks, on published full-task scores. What is not: the per-example sampling of
the sampled tasks and the splits the lite suite evaluates instead of the card's (published results hold neither),
so a lite run's own fidelity can be lower than the figure printed.

Usage: python benchmarks/lite_suite.py RESULTS_DIR [--budget 0.10] [--task-texts 15000] [--write FILE]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import warnings
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
from scipy.stats import rankdata, spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evalkit.results.read import load_models  # noqa: E402
from evalkit.run.sampling import texts_to_encode  # noqa: E402
from evalkit.suite import TASK_TYPES, TaskSpec, load_suite, load_task  # noqa: E402

TASK_TEXTS = (5000, 10000, 15000, 20000)  # the largest number of texts of one lite task, tried
SIZES = (100, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 7000, 10000)  # round sample sizes to try
POOL_BENCHMARK = "MTEB(cmn, v1)"


def sample_size(spec: TaskSpec, task_texts: int, min_examples: int) -> tuple[int | None, int] | None:
    """(sample size or None for the whole task, texts it encodes); None when no sample of `min_examples` fits."""
    whole = texts_to_encode(spec)
    if whole <= task_texts:
        return None, whole
    fits = [(n, texts) for n in SIZES if n >= min_examples and (texts := texts_to_encode(spec, n)) <= task_texts]
    return fits[-1] if fits else None


def lite_split(spec: TaskSpec) -> str:
    """The split a lite run evaluates: one that mteb evaluates and the card does not report, where there is one."""
    others = [s for s in load_task(spec).metadata.eval_splits if s != spec.split]
    return next((s for s in ("validation", "dev", "test") if s in others), spec.split)


def spearman(scores: np.ndarray, columns: list[int], reference: np.ndarray) -> float:
    """Spearman's correlation of the mean of `columns` with `reference`, over the rows (models)."""
    return float(spearmanr(scores[:, columns].mean(axis=1), reference).statistic)


def spearman_many(averages: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Spearman's correlation of each row of `averages` with `reference`: Pearson's of their ranks (ties averaged),
    as scipy defines it, for thousands of candidate suites at once."""
    ranks = rankdata(averages, axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    target = rankdata(reference) - rankdata(reference).mean()
    return ranks @ target / np.sqrt((ranks**2).sum(axis=1) * (target**2).sum())


def select(scores, reference, tasks, types, texts, budget, fill: bool) -> list[int]:
    """Column indices of the chosen tasks: the best choice of one task per type, then greedily the task that raises
    the Spearman correlation most, within the budget; with `fill`, until the budget is spent even where no task
    raises it (more tasks average out more of each task's own quirks)."""
    by_type = [[i for i in tasks if types[i] == t] for t in TASK_TYPES]
    combos = np.array(list(itertools.product(*by_type)))
    values = spearman_many(scores[:, combos].mean(axis=2).T, reference)
    cost = np.array([sum(texts[i] for i in combo) for combo in combos])
    chosen = list(combos[np.lexsort((cost, -values))[0]])
    while True:
        spent = sum(texts[i] for i in chosen)
        candidates = [i for i in tasks if i not in chosen and spent + texts[i] <= budget]
        if not candidates:
            return chosen
        gains = spearman_many(np.array([scores[:, [*chosen, i]].mean(axis=1) for i in candidates]), reference)
        best = min(range(len(candidates)), key=lambda k: (-gains[k], texts[candidates[k]]))
        if gains[best] <= spearman(scores, chosen, reference) and not fill:
            return chosen
        chosen.append(candidates[best])


def bootstrap(scores, columns, reference, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A 95% percentile interval of the Spearman correlation, resampling the models."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = rng.integers(0, len(reference), len(reference))
        if len(set(reference[rows])) > 2:
            values.append(spearman(scores[rows], columns, reference[rows]))
    return float(np.nanpercentile(values, 2.5)), float(np.nanpercentile(values, 97.5))


def suite_yaml(specs: list[TaskSpec], limits: dict[str, int | None], splits: dict[str, str], args) -> str:
    """The lite suite's YAML, in the layout of tasks/c-mteb.yaml."""
    full = load_suite("c-mteb")
    n, total = len(specs), len(full.tasks)
    command = f"benchmarks/lite_suite.py RESULTS_DIR --budget {args.budget:g} --min-examples {args.min_examples}"
    lines = [
        f"# C-MTEB lite: {n} of the {total} C-MTEB tasks, the large ones sampled, chosen so that their average ranks",
        f"# models as the {total}-task average does, at {args.budget:.0%} of its texts at most.",
        "# Written by (RESULTS_DIR: the results/ folder of github.com/embeddings-benchmark/results):",
        f"#   python {command} --repeats {args.repeats} --write {args.write}",
        "# Its measured fidelity, and what it does not measure: docs/lite.md. `limit`: the task's sample size",
        "# (examples; queries for retrieval and reranking), as `run --limit` samples; a task without one runs whole.",
        "# Where mteb evaluates a split the card does not report, the lite suite evaluates that one. Sampled results",
        "# never reach a card, so the tasks carry no `card` block.",
        "name: c-mteb-lite",
        f"description: {n} C-MTEB tasks of all six types, the large ones sampled; an affordable stand-in for the "
        f"{total}-task average (training-time evaluation).",
        "main_metrics:",
        *(f"  {t}: {m}" for t, m in full.main_metrics.items()),
        "tasks:",
    ]
    for spec in sorted(specs, key=lambda s: (TASK_TYPES.index(s.type), s.name)):
        lines += [
            f"  - name: {spec.name}",
            f"    mteb_task: {spec.mteb_task}",
            f"    type: {spec.type}",
            f"    subset: {spec.subset}",
            f"    split: {splits[spec.mteb_task]}",
        ]
        if limits[spec.mteb_task]:
            lines.append(f"    limit: {limits[spec.mteb_task]}")
    return "\n".join(lines) + "\n"


def cross_validate(scores, reference, configs, repeats: int = 10, seed: int = 0) -> dict:
    """Each configuration's mean held-out Spearman over `repeats` random halvings of the selection models (select on
    one half, measure on the other): how well its selection carries to models it did not see."""
    rng = np.random.default_rng(seed)
    results: dict = {key: [] for key in configs}
    for _ in range(repeats):
        order = rng.permutation(len(reference))
        halves = (order[: len(order) // 2], order[len(order) // 2 :])
        for fit, check in (halves, halves[::-1]):
            for key, choose in configs.items():
                chosen = choose(scores[fit], reference[fit])
                results[key].append(spearman(scores[check], chosen, reference[check]))
    return {key: float(np.mean(values)) for key, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the results/ folder of a clone of the public results repository")
    parser.add_argument("--budget", type=float, default=0.10, help="largest share of the full suite's texts")
    parser.add_argument("--min-examples", type=int, default=200, help="smallest sample size of a sampled task")
    parser.add_argument("--repeats", type=int, default=10, help="random halvings of the selection models")
    parser.add_argument("--write", type=Path, help="write the suite YAML here (e.g. tasks/c-mteb-lite.yaml)")
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)  # mteb's notes on old result files
    import mteb

    suite = load_suite("c-mteb")
    specs = suite.tasks
    pool_names = {t.metadata.name for t in mteb.get_benchmark(POOL_BENCHMARK).tasks}
    pool = [i for i, s in enumerate(specs) if s.mteb_task in pool_names]
    types = {i: s.type for i, s in enumerate(specs)}
    models = load_models(args.results, suite)
    table = np.array([[m.main_score(s.mteb_task, suite.main_metrics) for s in specs] for m in models], dtype=float)
    complete = ~np.isnan(table).any(axis=1)
    selecting = ~np.isnan(table[:, pool]).any(axis=1) & ~complete
    selection, held_out = table[selecting], table[complete]
    models_complete = [m.name for m, whole in zip(models, complete) if whole]
    selection_reference, reference = selection[:, pool].mean(axis=1), held_out.mean(axis=1)
    full_texts = {i: texts_to_encode(s) for i, s in enumerate(specs)}
    total = sum(full_texts.values())
    budget = args.budget * total

    lite_specs = {i: replace(specs[i], split=lite_split(specs[i])) for i in pool}  # sized on the split they run
    sizes = {cap: {i: sample_size(lite_specs[i], cap, args.min_examples) for i in pool} for cap in TASK_TEXTS}
    configs = {}
    for cap, fill in itertools.product(TASK_TEXTS, (False, True)):
        eligible = [i for i in pool if sizes[cap][i] is not None]
        texts = {i: sizes[cap][i][1] for i in eligible}
        configs[cap, fill] = partial(select, tasks=eligible, types=types, texts=texts, budget=budget, fill=fill)
    validated = cross_validate(selection, selection_reference, configs, args.repeats)
    cap, fill = max(validated, key=validated.get)
    chosen = configs[cap, fill](selection, selection_reference)
    limits = {specs[i].mteb_task: sizes[cap][i][0] for i in chosen}
    texts = {i: sizes[cap][i][1] for i in chosen}
    splits = {specs[i].mteb_task: lite_specs[i].split for i in chosen}
    lite_texts = sum(texts.values())
    fidelity = spearman(held_out, chosen, reference)
    low, high = bootstrap(held_out, chosen, reference)

    print(
        f"{len(models)} models in {args.results}: {int(complete.sum())} complete on all {len(specs)} tasks "
        f"(fidelity), {int(selecting.sum())} more complete on the {len(pool)} tasks of {POOL_BENCHMARK} (selection)"
    )
    print(
        f"full suite: {total:,} texts; budget {args.budget:.0%}: {budget:,.0f} texts; a sample keeps at least "
        f"{args.min_examples} examples\n"
    )
    print(
        "configuration (largest texts of a lite task, fill the budget): mean Spearman on the other half of the "
        f"selection models over {args.repeats} halvings [held-out fidelity, shown only, not used to choose]"
    )
    for (c, f), value in validated.items():
        shown = spearman(held_out, configs[c, f](selection, selection_reference), reference)
        mark = "  <- chosen" if (c, f) == (cap, fill) else ""
        print(f"  {c:>6,} {'fill' if f else 'stop':5} {value:.3f} [{shown:.3f}]{mark}")
    print(f"\n{'task':32} {'type':20} {'split (card)':24} {'sample':>7} {'texts':>9} {'full':>9}")
    for i in sorted(chosen, key=lambda i: (TASK_TYPES.index(types[i]), specs[i].name)):
        s = specs[i]
        split = splits[s.mteb_task] + ("" if splits[s.mteb_task] == s.split else f" ({s.split})")
        print(
            f"{s.name:32} {s.type:20} {split:24} {limits[s.mteb_task] or 'all':>7} {texts[i]:>9,} {full_texts[i]:>9,}"
        )
    print(f"\nlite: {len(chosen)} tasks, {lite_texts:,} texts = {lite_texts / total:.1%} of the full suite")
    print(
        f"selection: Spearman {spearman(selection, chosen, selection_reference):.3f} with the {len(pool)}-task "
        f"average over the {int(selecting.sum())} selection models (in sample)"
    )
    print(
        f"fidelity:  Spearman {fidelity:.3f} (95% bootstrap interval over models {low:.3f}-{high:.3f}) with the "
        f"{len(specs)}-task average over the {int(complete.sum())} complete models (held out)"
    )
    lite_average = held_out[:, chosen].mean(axis=1)
    print(f"\n{'complete model':46} {'35-task average (rank)':>23} {'lite average (rank)':>20}")
    for k in np.argsort(-reference):
        full_rank, lite_rank = (int((values > values[k]).sum()) + 1 for values in (reference, lite_average))
        full, lite = f"{reference[k]:.2f} ({full_rank:>2})", f"{lite_average[k]:.2f} ({lite_rank:>2})"
        print(f"{models_complete[k]:46} {full:>23} {lite:>20}")
    print(
        f"reference: the {len(pool)} tasks of {POOL_BENCHMARK}: Spearman {spearman(held_out, pool, reference):.3f} "
        f"with the {len(specs)}-task average over the complete models"
    )
    print("not measured: per-example sampling and the swapped splits (published results hold neither)")
    if args.write:
        args.write.write_text(suite_yaml([specs[i] for i in chosen], limits, splits, args), encoding="utf-8")
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
