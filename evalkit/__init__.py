"""evalkit: evaluate Chinese text-embedding models on C-MTEB through mteb, and publish the scores as model cards do.

The Python API; the command line (`run_eval.py`, `evalkit`) is a thin shell over these functions.

    import evalkit

    report = evalkit.evaluate(model, tasks=["STSB"], data_dir="snapshots")   # a name, a folder or a SentenceTransformer
    scores = evalkit.load_results("results/my-org__my-model/REV")
    print(evalkit.compare("results/my-org__my-model/REV", ["zpoint/README.md"]).average.aggregates)
    gate = evalkit.check("results/my-org__my-model/REV", baseline="results/reference", tolerance=0.5)
    print(evalkit.audit("results/my-org__my-model/REV", against="results-repo/results").verdict)
    print(evalkit.model_index("results/my-org__my-model/REV"))
    evalkit.push("my-org/my-model", "results/my-org__my-model/REV", create_pr=True)   # README and .eval_results/

User mistakes raise `evalkit.errors.UserError` with a one-line message.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalkit.report.audit import Audit
    from evalkit.report.comparison import Comparison
    from evalkit.report.gate import GateResult
    from evalkit.results.publish import EvalResults, Publication
    from evalkit.results.scores import ModelScores
    from evalkit.run.distributed import ClusterObserver
    from evalkit.run.runner import RunObserver, RunReport
    from evalkit.suite import Suite

try:
    __version__ = version("evalkit")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "evaluate",
    "evaluate_many",
    "load_results",
    "compare",
    "audit",
    "check",
    "model_index",
    "update_card",
    "results_table",
    "eval_results",
    "push",
    "import_card",
    "list_tasks",
    "prefetch",
    "__version__",
]

DEFAULT_CACHE_GB = 20.0


def _suite(suite: str | Path | Suite) -> Suite:
    from evalkit.suite import Suite, load_suite

    return suite if isinstance(suite, Suite) else load_suite(str(suite))


def evaluate(
    model: Any,
    *,
    tasks: list[str] | None = None,
    types: list[str] | None = None,
    suite: str | Path = "c-mteb",
    output_dir: str | Path = "results",
    data_dir: str | Path | None = None,
    name: str | None = None,
    revision: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int | str = 32,
    max_seq_length: int | None = None,
    query_prompt: str | None = None,
    passage_prompt: str | None = None,
    prompts: str | Path | None = None,
    model_source: str = "auto",
    trust_remote_code: bool = False,
    model_kwargs: dict[str, Any] | None = None,
    overwrite: bool = False,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    cache_max_gb: float | None = None,
    dims: list[int] | None = None,
    quantize: list[str] | None = None,
    clipping_margin: tuple[float, float] | None = None,
    limit: int | None = None,
    seed: int = 42,
    save_predictions: bool = False,
    workers: int | None = None,
    show_progress: bool = False,
    observer: RunObserver | None = None,
) -> RunReport:
    """Evaluate `model` on a suite's tasks through mteb and write the results, exactly as `run_eval.py run` does.

    `model` is `bundled:minilm`, a local folder (an embedding model, or a cross-encoder for the reranking tasks), a
    name mteb's model registry knows (loaded by its registry loader: prompts, instructions, dtype, pinned revision),
    another hub id (plain sentence-transformers), or a `SentenceTransformer` already in memory (a checkpoint inside
    a training loop; `name` names its results folder, its weights hash is its identity). `model_source` forces
    `registry` or `sentence-transformers` for a hub id; `model_kwargs` go to the loader (transformers'
    `from_pretrained`). `prompts` is a YAML file (task or type -> {query, document}) that overrides the model's
    prompts and the suite's `prompts:`.
    Results go to `output_dir/<org>__<name>/<revision>/<Task>.json` with `model_meta.json`, `run_summary.json`
    and, for full runs, `model-index.yaml`. Tasks whose result is there (same data, same model identity) are
    skipped unless `overwrite`. `cache=False` is the reference mode: mteb called exactly as plain mteb would.
    `dims` evaluates Matryoshka truncations; `quantize` (mteb's output dtypes: int8, uint8, int4, uint4, binary, the
    float types, and float32 for unquantized) evaluates each dimension quantized by mteb's `CompressionWrapper`,
    with its optional `clipping_margin` (lower, upper percentiles); every pair goes to `<org>__<name>_dim256_int8/`,
    all from one encode in cached mode. `limit` evaluates a seeded sample of at most `limit` examples per task.
    `save_predictions` keeps each task's per-example predictions beside its result (for confidence intervals).
    In cached mode a sentence-transformers model loads only when a text is missing from the cache. What is all
    cached is evaluated first, by `workers` processes (default: one per core, at most 8); on a GPU, or with more
    than one worker (default there: one per core but one), every missing text is then encoded, task by task, and
    the workers evaluate the rest from the cache too. Each worker is single-threaded, so the scores do not depend
    on `workers`. `batch_size="auto"` (or `"auto:N"`) grows the batch of that stream while GPU memory allows.
    Progress goes to `observer` (default: logging). A failing task is recorded in the report, never raised.
    """
    settings = _checked(locals())  # every argument checked as the command line checks its flag
    tasks, types, dims = settings["tasks"], settings["types"], settings["dims"]  # names and dimensions as lists
    from evalkit.errors import OptionError
    from evalkit.run import parallel
    from evalkit.run.cache import EmbeddingStore, holds_embeddings
    from evalkit.run.lazy import can_defer, open_model
    from evalkit.run.models import load_model, resolve
    from evalkit.run.runner import RunObserver, run_tasks, variants, write_run_files

    if not isinstance(model, (str, Path)):
        from sentence_transformers import SentenceTransformer

        if not isinstance(model, SentenceTransformer):
            raise OptionError("model", repr(model), "give a name, a folder or a SentenceTransformer")
    if not cache and workers:
        raise OptionError("cache", False, "the reference mode takes no workers")
    setup = _Setup.of(
        suite, tasks, types, output_dir, data_dir, cache, cache_dir, cache_max_gb, prompts, quantize, clipping_margin
    )
    if setup.cache_dir is not None and holds_embeddings(setup.cache_dir):
        parallel.start_server(workers, len(setup.specs))  # a rerun's workers: their imports overlap this process's
    setup.prepare()
    found = resolve(str(model), model_source) if isinstance(model, (str, Path)) else model
    cross = [s.name for s in setup.specs if s.type != "Reranking"] if getattr(found, "cross_encoder", False) else []
    if cross:
        raise OptionError(
            "model",
            model,
            f"is a cross-encoder: it scores the candidate lists of Reranking tasks only, not {cross[0]}"
            + (f" and {len(cross) - 1} other task(s)" if len(cross) > 1 else ""),
        )
    options = setup.model_options(
        device, dtype, batch_size, max_seq_length, query_prompt, passage_prompt, model_source, trust_remote_code,
        model_kwargs,
    )  # fmt: skip
    if options.grow_batch and setup.cache_dir is None:
        raise OptionError("batch_size", batch_size, "grows in the encode phase of cached mode; give a number")
    if setup.cache_dir is not None and can_defer(found):  # loaded only when a text is missing from the cache
        loaded = open_model(found, options, setup.cache_dir, revision=revision, name=name)
    else:
        loaded = load_model(found, options, revision=revision, name=name)
    run_options = setup.run_options(overwrite, show_progress, dims, limit, seed, save_predictions)
    run_options.workers = workers
    if setup.cache_dir is not None and not loaded.cross_encoder:
        try:
            run_options.store = EmbeddingStore(setup.cache_dir, loaded.model_identity, max_bytes=setup.cache_max_bytes)
        except OSError as exc:
            raise OptionError("cache_dir", setup.cache_dir, f"cannot use it ({exc.strerror})") from exc
    plan = variants(loaded, run_options)
    observer = observer or RunObserver()
    observer.started(loaded, setup.specs, setup.suite.name, run_options.store is not None)
    try:
        report = run_tasks(loaded, setup.specs, run_options, plan, observer)
    finally:
        loaded.close()
    write_run_files(loaded, run_options, plan, report, setup.suite)
    return report


def evaluate_many(
    models: list[str],
    *,
    ray: str | None = None,
    ray_cpus_per_worker: float = 1.0,
    observer: RunObserver | ClusterObserver | None = None,
    **options: Any,
) -> list[RunReport]:
    """Evaluate several models (hub ids, folders, or globs of folders such as `ckpts/step-*`), each into its own
    results folder, with the keywords of `evaluate`; one report per model, in order.

    Without `ray` the models run one after another in this process. With `ray` ("local": a private cluster on this
    machine, "auto": the cluster this node belongs to, or a head's address) every (model, task) pair is a unit of
    work for one evaluation actor per GPU (or per `ray_cpus_per_worker` CPUs); this process writes every file,
    and `observer` is then a `ClusterObserver`.
    """
    from evalkit.errors import OptionError
    from evalkit.run.checkpoints import expand

    params = inspect.signature(evaluate).parameters
    unknown = set(options) - (set(params) - {"model", "observer"})
    if unknown:
        raise TypeError(f"evaluate_many() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    options = _checked(options)
    specs = expand(models)
    if options.get("name") and len(specs) > 1:
        raise OptionError("name", options["name"], "names one model; several are evaluated")
    if ray is None:
        return [evaluate(spec, observer=observer, **options) for spec in specs]
    from evalkit.run.distributed import evaluate_on_ray

    settings = {key: p.default for key, p in params.items() if p.default is not p.empty} | options
    setup = _Setup.of(**{key: settings[key] for key in inspect.signature(_Setup.of).parameters})
    setup.prepare()
    return evaluate_on_ray(specs, setup, settings, ray, ray_cpus_per_worker, observer)


def _checked(settings: dict[str, Any]) -> dict[str, Any]:
    """`evaluate`'s keyword arguments (those given of them) checked as the command line checks its flags, by the
    same functions (`evalkit.arguments`): a bad value is an `OptionError` before anything is made or loaded. Names
    and dimensions given as one string (`"STSB,AFQMC"`) become lists."""
    from evalkit import arguments as a

    def number(option: str, value: object) -> float | None:
        return a.positive(option, value, float)

    checks = {
        "tasks": a.names, "types": a.names, "dims": a.dims, "limit": a.positive, "max_seq_length": a.positive,
        "workers": a.positive, "cache_max_gb": number, "seed": a.whole, "batch_size": a.batch_size,
        "model_kwargs": a.mapping, "query_prompt": a.prompt, "passage_prompt": a.prompt, "name": a.text,
        "revision": a.text, "device": a.text, "dtype": a.text, "model_source": a.text, "output_dir": a.path,
        "data_dir": a.path, "cache_dir": a.path, "prompts": a.path,
    }  # fmt: skip
    return {key: checks[key](key, value) if key in checks else value for key, value in settings.items()}


def _batch_size(value: int | str) -> tuple[int, bool]:
    """A checked `batch_size` as (the first batch size, whether it grows): an int, `auto` (from 32) or `auto:N`."""
    if isinstance(value, str):
        return int(value[5:] or 32), True
    return value, False


@dataclass
class _Setup:
    """What a run checks and prepares before any model loads: the suite's tasks, their data, the folders."""

    suite: Suite
    specs: list
    data_dir: Path | None
    output_dir: Path
    cache_dir: Path | None  # None: the reference mode
    cache_max_bytes: int
    prompts: dict[str, str]  # the suite's `prompts:` with a prompts file's on top, as mteb prompt keys
    precisions: list | None = None  # `quantize` as `compress.Precision`s (None: unquantized); None without it

    @classmethod
    def of(
        cls, suite, tasks, types, output_dir, data_dir, cache, cache_dir, cache_max_gb, prompts, quantize=None,
        clipping_margin=None,
    ) -> _Setup:  # fmt: skip
        """The run's suite, tasks and folders as given; `prepare` checks them and makes the folders."""
        from evalkit.errors import OptionError
        from evalkit.run.cache import default_cache_dir
        from evalkit.run.compress import precisions
        from evalkit.suite import load_prompts

        if not cache and (cache_dir or cache_max_gb):
            raise OptionError("cache", False, "the reference mode takes no cache_dir or cache_max_gb")
        the_suite = _suite(suite)
        specs = the_suite.select(tasks, types)
        data_dir = Path(data_dir) if data_dir is not None else the_suite.data_dir
        if data_dir is not None and not data_dir.is_dir():
            raise OptionError("data_dir", data_dir, "is not a folder")
        cache_dir = None if not cache else Path(cache_dir) if cache_dir else default_cache_dir()
        max_bytes = int((cache_max_gb or DEFAULT_CACHE_GB) * 2**30)
        merged = the_suite.prompts | (load_prompts(Path(prompts), the_suite) if prompts else {})
        return cls(
            the_suite, specs, data_dir, Path(output_dir), cache_dir, max_bytes, merged,
            precisions(quantize, clipping_margin),
        )  # fmt: skip

    def prepare(self) -> None:
        """Check every task and its data (this imports mteb), then make the folders: mistakes show before the model
        loads, and before anything is written."""
        from evalkit.errors import OptionError
        from evalkit.run.cache import claim_root
        from evalkit.run.data import check_snapshot
        from evalkit.suite import check_prompts, load_task

        tasks = [load_task(spec) for spec in self.specs]
        if self.data_dir is not None:
            for task in tasks:
                check_snapshot(task, self.data_dir)
        check_prompts(self.prompts, self.specs, tasks)
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OptionError("output_dir", self.output_dir, f"cannot use it ({exc.strerror})") from exc
        if self.cache_dir is not None:
            claim_root(self.cache_dir, new_run=True)  # a folder not an evalkit cache is refused before the model loads

    def model_options(
        self, device, dtype, batch_size, max_seq_length, query_prompt, passage_prompt, source, trust_remote_code,
        model_kwargs,
    ):  # fmt: skip
        """How to load and call the model, with the run's prompts."""
        from evalkit.run.models import ModelOptions

        start, grow = _batch_size(batch_size)
        return ModelOptions(
            device,
            dtype,
            start,
            max_seq_length,
            query_prompt,
            passage_prompt,
            source=source,
            trust_remote_code=trust_remote_code,
            model_kwargs=dict(model_kwargs or {}),
            prompts=self.prompts,
            grow_batch=grow,
        )

    def run_options(self, overwrite: bool, show_progress: bool, dims, limit, seed: int, save_predictions: bool):
        from evalkit.run.runner import RunOptions

        return RunOptions(
            output_dir=self.output_dir,
            data_dir=self.data_dir,
            overwrite=overwrite,
            show_progress=show_progress,
            dims=dims,
            precisions=self.precisions,
            limit=limit,
            seed=seed,
            main_metrics=self.suite.main_metrics,
            save_predictions=save_predictions,
            suite_sampling=self.suite.name if any(s.limit for s in self.specs) else None,
        )


def load_results(path: str | Path, *, suite: str | Path | Suite = "c-mteb") -> ModelScores:
    """The one model a results folder (any mteb result format, revisions merged) or a model card holds."""
    from evalkit.results.read import load_results as read

    return read(Path(path), _suite(suite))


def _check_bootstrap(ci: float | None, resamples: int, option: str = "ci") -> None:
    from evalkit.errors import OptionError

    if ci is not None and not 0 < ci < 100:
        raise OptionError(option, ci, "a confidence level in percent, between 0 and 100")
    if resamples < 10:
        raise OptionError("resamples", resamples, "at least 10 resamples")


def compare(
    candidate: str | Path | None = None,
    baselines: list[str | Path] = (),
    *,
    suite: str | Path | Suite = "c-mteb",
    leaderboard: str | Path | None = None,
    tolerance: float | None = None,
    ci: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
    sweep: str | Path | list[str | Path] | None = None,
    pareto: bool = False,
) -> Comparison:
    """Compare the candidate's main scores with each baseline's: per task, per type and over the suite.

    Inputs are results folders or model cards; `leaderboard` ranks the candidate among every model of a folder
    laid out like the public results repository; task deltas beyond `tolerance` points (default: the gate's)
    are marked. `ci` (a percentage, e.g. 95) adds bootstrap confidence intervals, from `resamples` seeded
    resamples of each task's saved predictions, to task scores, deltas and averages, and with `leaderboard` each
    model's rank interval (resampling the tasks too) and its tie group. With an mteb benchmark as `suite`
    (`"MTEB(cmn, v1)"`) every number follows the benchmark's definitions, as its official leaderboard shows them
    (`evalkit.report.benchmark`). Tasks a model was trained on (mteb's registry) are marked. `sweep` (checkpoints
    of one model: folders, or a glob such as `results/my-model_step-*`) adds the suite and per-type averages of
    each against its step (`comparison.sweep`); the candidate is then its last checkpoint unless given. `pareto`
    adds quality per byte: each model's suite and type averages against its bytes per vector, and the Pareto front
    of each (for a `quantize`/`dims` sweep, or any set of models). Render with
    `evalkit.report.render.render(comparison, fmt)`.
    """
    from evalkit.errors import OptionError
    from evalkit.report import benchmark
    from evalkit.report.comparison import add_intervals, build_comparison, build_leaderboard
    from evalkit.report.gate import DEFAULT_TOLERANCE
    from evalkit.report.pareto import build_pareto
    from evalkit.report.ranks import add_leaderboard_intervals
    from evalkit.report.sweep import build_sweep
    from evalkit.report.training import mark_training
    from evalkit.results.read import load_models

    _check_bootstrap(ci, resamples)
    the_suite = _suite(suite)
    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    if not 0 <= tolerance < float("inf"):
        raise OptionError("tolerance", tolerance, "a tolerance is a number of points >= 0")
    if sweep is not None and the_suite.benchmark:
        raise OptionError("sweep", sweep, "a sweep is read with a suite's definitions, not an mteb benchmark's")
    checkpoints = _checkpoints(sweep, the_suite) if sweep is not None else []
    if candidate is None and not checkpoints:
        raise OptionError("candidate", None, "give the results to compare, or a sweep of checkpoints")
    paths = [Path(p) for p in ([] if candidate is None else [candidate]) + list(baselines)]
    board = Path(leaderboard) if leaderboard is not None else None
    view = (
        benchmark.load_view(*benchmark.read_inputs(paths, the_suite), the_suite, board) if the_suite.benchmark else None
    )
    models = view.models if view else [load_results(p, suite=the_suite) for p in paths]
    if candidate is None:
        models.insert(0, checkpoints[-1][1])
    view_suite = view.suite if view else the_suite
    comparison = build_comparison(models[0], models[1:], view_suite, tolerance)
    if view:
        benchmark.apply_view(comparison, view)
    if checkpoints:
        comparison.sweep = build_sweep(checkpoints, the_suite, ci / 100 if ci else None, resamples, seed)
    if ci is not None:
        add_intervals(comparison, models, view_suite, ci / 100, resamples, seed)
    if pareto:
        comparison.pareto = build_pareto(comparison)
    if board is not None:
        comparison.leaderboard_source = str(leaderboard)
        if view:
            comparison.leaderboard, comparison.unlisted = benchmark.leaderboard_rows(view, models[0]), view.unlisted
        else:
            ranked = [models[0], *load_models(board, the_suite)]
            comparison.leaderboard = build_leaderboard(ranked[0], ranked[1:], the_suite)
        if ci is not None:
            table = view.leaderboard if view else ranked
            add_leaderboard_intervals(comparison, table, models[0], view_suite, ci / 100, resamples, seed)
    mark_training(comparison)
    return comparison


def _checkpoints(sweep: str | Path | list[str | Path], suite: Suite) -> list[tuple[Path, ModelScores]]:
    """The checkpoints of a sweep, each with its results, in checkpoint order (a glob expands as `--model` globs)."""
    from evalkit.report.sweep import step_of
    from evalkit.run.checkpoints import expand

    given = [sweep] if isinstance(sweep, (str, Path)) else list(sweep)
    paths = [Path(p) for p in expand([str(p) for p in given], option="sweep")]
    return sorted(((p, load_results(p, suite=suite)) for p in paths), key=lambda item: step_of(item[0]))


def audit(
    results: str | Path, *, against: str | Path, suite: str | Path | Suite = "c-mteb", tolerance: float | None = None
) -> Audit:
    """Does the run in `results` reproduce the published results of the same model in `against` (a results
    folder laid out like the public repository, the model's own folder, or a model card)?

    Per task: both main scores, the delta, whether it is within the results repository's epsilon (0.001 on mteb's
    0-1 scale) and within `tolerance` points (default: the gate's), and the differences the files record (mteb
    version, dataset revision, task version, splits and subsets, prompts, model revision, dtype, max length,
    evaluation date). `audit.verdict` is `reproduced`, `not reproduced` or `not comparable`, `audit.reasons` says
    why. Render with `evalkit.report.audit.render_audit_markdown` or `render_audit_json`.
    """
    from evalkit.errors import OptionError
    from evalkit.report.audit import build_audit
    from evalkit.report.gate import DEFAULT_TOLERANCE

    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    if not 0 <= tolerance < float("inf"):
        raise OptionError("tolerance", tolerance, "a tolerance is a number of points >= 0")
    return build_audit(Path(results), Path(against), _suite(suite), tolerance)


def check(
    candidate: str | Path,
    *,
    baseline: str | Path,
    tolerance: float | None = None,
    tolerance_file: str | Path | None = None,
    allow_missing: bool = False,
    suite: str | Path | Suite = "c-mteb",
    significance: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> GateResult:
    """The regression gate: did any baseline task's main score fall by more than its tolerance (points, 0-100)?

    `tolerance_file` maps task or type names to points (and `default:`); `result.passed` is the verdict. With
    `significance` (e.g. 0.05), a task fails only when its drop exceeds the tolerance with that confidence, by a
    paired bootstrap (`resamples`, `seed`) of both models' saved predictions; tasks without predictions are
    judged by the tolerance alone.
    """
    from evalkit.report.gate import DEFAULT_TOLERANCE, load_tolerances, run_gate

    the_suite = _suite(suite)
    default = DEFAULT_TOLERANCE if tolerance is None else tolerance
    tolerances = load_tolerances(Path(tolerance_file) if tolerance_file else None, the_suite, default)
    cand = load_results(candidate, suite=the_suite)
    base = load_results(baseline, suite=the_suite)
    _check_bootstrap(None, resamples)
    return run_gate(cand, base, the_suite, tolerances, allow_missing, significance, resamples, seed)


def model_index(results: str | Path, *, suite: str | Path | Suite = "c-mteb", name: str | None = None) -> str:
    """The model card's `model-index` YAML for one model revision's results (folder or card), in the card's layout."""
    from evalkit.results.card import emit_model_index
    from evalkit.results.read import read_one

    the_suite = _suite(suite)
    return emit_model_index(read_one(Path(results), the_suite), the_suite, name)


def update_card(readme: str | Path, model_index_yaml: str, *, table: str | None = None) -> bool:
    """Replace the model-index in a README's front matter and, given a `table` (see `results_table`), the results
    table between evalkit's markers in its body (appended the first time); every other byte is kept, and the file
    keeps its line endings, mode and symbolic link. False when nothing changed."""
    from evalkit.results.card import update_card as update

    return update(Path(readme), model_index_yaml, table)


def results_table(results: str | Path, *, suite: str | Path | Suite = "c-mteb") -> str:
    """The Markdown results table of a card's body for one model revision's results (folder, card or
    `.eval_results`): each task's main score grouped by task type, with the type and suite averages."""
    from evalkit.report.card_table import results_table as table
    from evalkit.results.read import read_one

    the_suite = _suite(suite)
    return table(read_one(Path(results), the_suite), the_suite)


def eval_results(
    results: str | Path,
    output_dir: str | Path | None = None,
    *,
    suite: str | Path | Suite = "c-mteb",
    user: str | None = None,
    benchmark_repo: str | None = None,
) -> EvalResults:
    """The hub's `.eval_results` files of one model revision's mteb result files: `<Task>.yaml` per suite task,
    exactly as mteb's `push_eval_results` writes it (an entry per split and subset, the main score x 100 rounded to
    5 decimals, and the task's overall entry). With `benchmark_repo` (the hub dataset of the suite's leaderboard) and
    every suite task scored, `<suite>.yaml` holds the suite's Mean (Task) as mteb writes a benchmark's. `user` is
    each entry's source user. Written into `output_dir` (a model repository's `.eval_results/`) when given;
    `.notes` says what was left out and why."""
    from evalkit.results.publish import eval_results as build
    from evalkit.results.publish import write_eval_results
    from evalkit.results.read import read_one

    the_suite = _suite(suite)
    published = build(read_one(Path(results), the_suite), the_suite, user, benchmark_repo)
    if output_dir is not None:
        write_eval_results(Path(output_dir), published.files)
    return published


def push(
    repo_id: str,
    results: str | Path,
    *,
    suite: str | Path | Suite = "c-mteb",
    readme: str | Path | None = None,
    name: str | None = None,
    create_pr: bool = False,
    revision: str | None = None,
    token: str | None = None,
    dry_run: bool = False,
    user: str | None = None,
    benchmark_repo: str | None = None,
    commit_message: str | None = None,
) -> Publication:
    """Publish one model revision's results to the hub model repository `repo_id` in one commit: its README with
    the model-index and the results table updated (all else kept), and `.eval_results/` (see `eval_results`).

    The README starts from `readme` (a local file, left as it is), else from the repository's own at `revision`.
    `create_pr` opens a pull request, the way to add results to someone else's model; `token` defaults to
    huggingface_hub's (`HF_TOKEN`, then the saved login). `dry_run` returns what would be committed and touches
    nothing. The hub offline (`HF_HUB_OFFLINE`), or no token, is a `UserError`; `.url` is the commit or the pull
    request.
    """
    from evalkit.fileio import read_text
    from evalkit.report.card_table import results_table as table
    from evalkit.results import publish
    from evalkit.results.card import emit_model_index, updated_readme
    from evalkit.results.read import read_one

    the_suite = _suite(suite)
    publish.check_repo_id(repo_id)
    if not dry_run:
        token = publish.hub_token(token)
    model = read_one(Path(results), the_suite)
    published = publish.eval_results(model, the_suite, user, benchmark_repo)
    where = Path(readme) if readme is not None else Path(repo_id) / publish.README
    before = read_text(where, "README") if readme is not None else publish.hub_readme(repo_id, revision, token)
    after = updated_readme(before, emit_model_index(model, the_suite, name), table(model, the_suite), where)
    files = {publish.README: after} | {f"{publish.EVAL_RESULTS}/{n}": text for n, text in published.files.items()}
    publication = publish.Publication(repo_id, files, before, published.notes, revision, create_pr)
    if not dry_run:
        message = commit_message or f"Add {the_suite.name} evaluation results"
        description = (
            f"Scores of {model.name} on suite {the_suite.name} ({len(model.tasks)} tasks), computed by mteb and "
            f"published with evalkit {__version__}: the model-index and a results table in README.md, and "
            "`.eval_results/` for the hub's model page and benchmark leaderboards."
        )
        publication.url = publish.commit(publication, token, message, description)
    return publication


def import_card(card: str | Path, output_dir: str | Path, *, suite: str | Path | Suite = "c-mteb") -> list[Path]:
    """Write a model card's results as mteb result JSON under `output_dir/<name>/external/`; the folders written."""
    from evalkit.results.card import import_card as write

    return write(Path(card), Path(output_dir), _suite(suite))


def list_tasks(suite: str | Path | Suite = "c-mteb") -> list[dict[str, Any]]:
    """A suite's tasks: name, type, split, subset, the dataset repo each one needs, the suite's sample size
    (`limit`, None for every example) and `texts`, about how many texts it encodes on the hub's data (from mteb's
    descriptive statistics; None for a suite that brings its own data, or a task mteb has no statistics of)."""
    from evalkit.errors import UserError
    from evalkit.run.data import repo_id
    from evalkit.run.sampling import texts_to_encode
    from evalkit.suite import load_task

    def texts(spec) -> int | None:
        try:
            return None if the_suite.data_dir else texts_to_encode(spec, spec.limit)
        except UserError:
            return None

    the_suite = _suite(suite)
    return [
        {
            "task": s.name,
            "type": s.type,
            "split": s.split,
            "subset": s.subset,
            "repo": repo_id(load_task(s)),
            "limit": s.limit,
            "texts": texts(s),
        }
        for s in the_suite.tasks
    ]


def prefetch(
    data_dir: str | Path,
    *,
    suite: str | Path | Suite = "c-mteb",
    tasks: list[str] | None = None,
    model: str | None = None,
) -> None:
    """Download each task's dataset repo (at mteb's pinned revision) into `data_dir`, and optionally a model."""
    from evalkit.run.data import prefetch as download

    download(_suite(suite).select(tasks), Path(data_dir), model)
