"""Issue 27: what a user of the command line (and of `CMTEBEvaluator`) sees, pinned by value: the usage of every
command, the values each flag hands the Python API, exit codes, messages and files written. Each test fails on
survivors of the mutation campaign on evalkit/cli and evalkit/integrations (docs/mutation.md)."""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import evalkit
from evalkit.cli import _all_parsers, build_parser, main, program_name
from evalkit.cli.run import Printer, RayPrinter, next_steps, summary_table
from evalkit.run.runner import RunReport, TaskOutcome
from evalkit.suite import load_suite

SAMPLE = load_suite("sample")
RESULTS = {  # the sample suite's tasks: (mteb score key, score on mteb's 0-1 scale)
    "STSB": ("cosine_spearman", 0.61),
    "Ocnli": ("cosine_ap", 0.85),
    "Waimai": ("accuracy", 0.52),
    "CLSClusteringS2S": ("v_measure", 0.47),
    "T2Reranking": ("map_at_1000", 0.66),
    "CovidRetrieval": ("ndcg_at_10", 0.83),
}


def write_results(folder: Path, tasks=tuple(RESULTS), suite=SAMPLE) -> Path:
    """A model revision's results folder as mteb writes it: one result file per task of `tasks`, each at the split
    `suite` reports."""
    folder.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        key, value = RESULTS[task]
        entry = {"hf_subset": "default", "languages": ["cmn-Hans"], key: value, "main_score": value}
        scores = {suite.by_mteb_name[task].split: [entry]}
        data = {"dataset_revision": "d1", "task_name": task, "mteb_version": "2.26.24", "scores": scores,
                "evaluation_time": 1.0, "date": 1767225600.0}  # fmt: skip
        (folder / f"{task}.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


# ---------------------------------------------------------------- the usage of every command

USAGE = {
    "evalkit": "[-h] [--version] [-v] COMMAND ...",
    "evalkit run": "[-h] -m MODEL [--model-source {auto,registry,sentence-transformers}] [--revision REVISION] "
    "[--trust-remote-code] [--model-kwargs MODEL_KWARGS] [-b SUITE] [-t NAME [NAME ...]] [--types NAME [NAME ...]] "
    "[--data-dir DATA_DIR] [-o OUTPUT_DIR] [--batch-size BATCH_SIZE] [--device DEVICE] [--dtype DTYPE] "
    "[--max-seq-length MAX_SEQ_LENGTH] [--query-prompt QUERY_PROMPT] [--passage-prompt PASSAGE_PROMPT] "
    "[--prompts PROMPTS] [--overwrite] [--no-cache] [--cache-dir CACHE_DIR] [--cache-max-gb CACHE_MAX_GB] "
    "[--dims DIMS] [--quantize DTYPES] [--clipping-margin LOW,HIGH] [--limit LIMIT] [--seed SEED] "
    "[--save-predictions] [--workers WORKERS] [--ray local|auto|ADDRESS] "
    "[--ray-cpus-per-worker RAY_CPUS_PER_WORKER] [-v]",
    "evalkit tasks": "[-h] [-b SUITE] [-v]",
    "evalkit prefetch": "[-h] [-b SUITE] [-t NAME [NAME ...]] --data-dir DATA_DIR [-m MODEL] [-v]",
    "evalkit compare": "[-h] [--sweep GLOB] [--format {md,html,csv,json}] [-o OUTPUT] [--leaderboard DIR] "
    "[--tolerance POINTS] [--pr-comment] [-b SUITE] [--ci PERCENT] [--resamples N] [--bootstrap-seed S] "
    "[--pareto] [-v] [candidate] [BASELINE ...]",
    "evalkit audit": "[-h] --against PUBLISHED [--tolerance POINTS] [--format {md,json}] [-o OUTPUT] [-b SUITE] [-v] "
    "results",
    "evalkit check": "[-h] --baseline BASELINE [--tolerance POINTS] [--tolerance-file FILE] [--significance ALPHA] "
    "[--resamples N] [--bootstrap-seed S] [--junit FILE] [--json FILE] [--allow-missing] [-b SUITE] [-v] candidate",
    "evalkit card": "[-h] [-v] ACTION ...",
    "evalkit card emit": "[-h] [--format {model-index,eval-results}] [--output OUTPUT] [--update README] [--table] "
    "[--name NAME] [--output-dir DIR] [--user USER] [--benchmark-repo REPO_ID] [-b SUITE] [-v] results",
    "evalkit card import": "[-h] -o OUTPUT_DIR [-b SUITE] [-v] card",
    "evalkit card push": "[-h] [--readme README] [--name NAME] [--create-pr] [--revision REVISION] [--token TOKEN] "
    "[--commit-message COMMIT_MESSAGE] [--dry-run] [--user USER] [--benchmark-repo REPO_ID] [-b SUITE] [-v] "
    "REPO_ID results",
}


def test_every_command_shows_its_options_metavars_and_choices_in_its_usage():
    usages = {}
    for parser in _all_parsers(build_parser("evalkit")):
        usages[parser.prog] = " ".join(parser.format_usage().split()).removeprefix(f"usage: {parser.prog} ")
    assert usages == USAGE


@pytest.mark.parametrize("columns, width", [(200, 100), (60, 58)])
def test_descriptions_fill_the_terminal_up_to_100_columns(monkeypatch, columns, width):
    monkeypatch.setenv("COLUMNS", str(columns))
    described = [p for p in _all_parsers(build_parser("evalkit")) if p.epilog]  # the commands with examples
    commands = ["evalkit", "evalkit run", "evalkit compare", "evalkit audit", "evalkit check"]
    assert [p.prog for p in described] == commands
    widths = []
    for parser in described:
        assert parser.description in parser.format_help()
        widths += [len(line) for line in parser.description.splitlines()]
    assert max(widths) == width


def test_help_names_every_alias_of_the_suite_and_debug_flags(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for parser in _all_parsers(build_parser("evalkit")):
        text = parser.format_help()
        assert "-v, --debug, --verbose" in text
        assert ("-b SUITE, --benchmark SUITE, --suite SUITE" in text) == ("[-b SUITE]" in parser.format_usage())
    run = next(p for p in _all_parsers(build_parser("evalkit")) if p.prog == "evalkit run").format_help()
    assert "-o OUTPUT_DIR, --output-dir OUTPUT_DIR, --output-folder OUTPUT_DIR" in run
    assert "--types NAME [NAME ...], --task-types NAME [NAME ...]" in run


def test_a_value_outside_an_options_choices_is_a_usage_error(tmp_path, capsys):
    for command in (["audit", "r", "--against", "p"], ["compare", "c"], ["card", "emit", "r"]):
        with pytest.raises(SystemExit) as stop:
            main([*command, "--format", "xml"])
        assert stop.value.code == 2
        assert "argument --format: invalid choice: 'xml'" in capsys.readouterr().err


# ---------------------------------------------------------------- each flag reaches the Python API as typed


@pytest.fixture
def api(monkeypatch):
    """Records each call of an `evalkit` function a command makes; the call then stops the command as Ctrl-C
    would (exit 130), so that only what the CLI hands the API is seen."""
    calls = []

    def recorder(name):
        def call(*args, **kwargs):
            calls.append((name, args, kwargs))
            raise KeyboardInterrupt

        return call

    for name in ("audit", "check", "compare", "evaluate_many", "push", "eval_results", "model_index", "import_card",
                 "prefetch"):  # fmt: skip
        monkeypatch.setattr(evalkit, name, recorder(name))
    return calls


def called(api, argv: list[str]):
    assert main(argv) == 130
    (call,) = api
    api.clear()
    return call


def test_audit_hands_the_api_its_flags(api):
    assert called(api, ["audit", "R", "--against", "P"]) == (
        "audit", ("R",), {"against": "P", "suite": "c-mteb", "tolerance": 0.5}
    )  # fmt: skip
    assert called(api, ["audit", "R", "--against", "P", "--tolerance", "0.25", "--benchmark", "sample"]) == (
        "audit", ("R",), {"against": "P", "suite": "sample", "tolerance": 0.25}
    )  # fmt: skip


CHECK_DEFAULTS = {"tolerance": 0.5, "tolerance_file": None, "allow_missing": False, "suite": "c-mteb",
                  "significance": None, "resamples": 1000, "seed": 0}  # fmt: skip


def test_check_hands_the_api_its_flags(api):
    assert called(api, ["check", "C", "--baseline", "B"]) == ("check", ("C",), {"baseline": "B", **CHECK_DEFAULTS})
    argv = ["check", "C", "--baseline", "B", "--tolerance", "0.25", "--tolerance-file", "t.yaml", "--allow-missing",
            "--significance", "0.05", "--resamples", "50", "--bootstrap-seed", "3", "--suite", "sample"]  # fmt: skip
    expected = {"baseline": "B", "tolerance": 0.25, "tolerance_file": Path("t.yaml"), "allow_missing": True,
                "suite": "sample", "significance": 0.05, "resamples": 50, "seed": 3}  # fmt: skip
    assert called(api, argv) == ("check", ("C",), expected)


COMPARE_DEFAULTS = {"sweep": None, "suite": "c-mteb", "leaderboard": None, "tolerance": 0.5, "ci": None,
                    "resamples": 1000, "seed": 0, "pareto": False}  # fmt: skip


def test_compare_hands_the_api_the_candidate_the_baselines_and_its_flags(api, capsys):
    assert called(api, ["compare", "C", "B1", "B2"]) == ("compare", ("C", ["B1", "B2"]), COMPARE_DEFAULTS)
    argv = ["compare", "C", "-b", "sample", "--leaderboard", "L", "--tolerance", "0.25", "--ci", "95",
            "--resamples", "50", "--bootstrap-seed", "3", "--pareto"]  # fmt: skip
    expected = {"sweep": None, "suite": "sample", "leaderboard": Path("L"), "tolerance": 0.25, "ci": 95.0,
                "resamples": 50, "seed": 3, "pareto": True}  # fmt: skip
    assert called(api, argv) == ("compare", ("C", []), expected)
    # with --sweep the last checkpoint is the candidate and every positional input a baseline
    sweep = {**COMPARE_DEFAULTS, "sweep": "ckpt_*"}
    assert called(api, ["compare", "--sweep", "ckpt_*", "B1", "B2"]) == ("compare", (None, ["B1", "B2"]), sweep)
    assert called(api, ["compare", "--sweep", "ckpt_*"]) == ("compare", (None, []), sweep)
    capsys.readouterr()
    assert main(["compare"]) == 2 and api == []
    assert capsys.readouterr().err == "error: compare: give the candidate's results, or --sweep with its checkpoints\n"


RUN_DEFAULTS = {
    "ray": None, "ray_cpus_per_worker": 1.0, "tasks": None, "types": None, "suite": "c-mteb",
    "output_dir": Path("results"), "data_dir": None, "revision": None, "device": "auto", "dtype": "auto",
    "batch_size": 32, "max_seq_length": None, "query_prompt": None, "passage_prompt": None, "prompts": None,
    "model_source": "auto", "trust_remote_code": False, "model_kwargs": None, "overwrite": False, "cache": True,
    "cache_dir": None, "cache_max_gb": None, "dims": None, "quantize": None, "clipping_margin": None, "limit": None,
    "seed": 42, "save_predictions": False, "workers": None, "show_progress": False,
}  # fmt: skip


def test_run_hands_the_api_every_flag(api):
    name, args, kwargs = called(api, ["run", "-m", "M"])
    assert (name, args) == ("evaluate_many", (["M"],)) and type(kwargs.pop("observer")) is Printer
    assert kwargs == RUN_DEFAULTS
    argv = ["run", "-m", "A", "--model", "B", "--model-source", "registry", "--revision", "r1", "--trust-remote-code",
            "--model-kwargs", '{"attn_implementation": "sdpa"}', "--suite", "sample", "-t", "STSB,Ocnli", "-t",
            "Waimai", "--task-types", "STS", "Classification", "--data-dir", "D", "--output-folder", "O",
            "--batch-size", "auto:64", "--device", "cpu", "--dtype", "fp32", "--max-seq-length", "128",
            "--query-prompt", "q: ", "--passage-prompt", "p: ", "--prompts", "P.yaml", "--overwrite", "--cache-dir",
            "C", "--cache-max-gb", "1.5", "--dims", "64,32,64", "--quantize", "int8,binary", "--clipping-margin",
            "0.01,0.99", "--limit", "5", "--seed", "7", "--save-predictions", "--workers", "2"]  # fmt: skip
    name, args, kwargs = called(api, argv)
    assert (name, args) == ("evaluate_many", (["A", "B"],)) and type(kwargs.pop("observer")) is Printer
    assert kwargs == {
        **RUN_DEFAULTS, "tasks": ["STSB", "Ocnli", "Waimai"], "types": ["STS", "Classification"], "suite": "sample",
        "output_dir": Path("O"), "data_dir": Path("D"), "revision": "r1", "device": "cpu", "dtype": "fp32",
        "batch_size": "auto:64", "max_seq_length": 128, "query_prompt": "q: ", "passage_prompt": "p: ",
        "prompts": Path("P.yaml"), "model_source": "registry", "trust_remote_code": True,
        "model_kwargs": {"attn_implementation": "sdpa"}, "overwrite": True, "cache_dir": Path("C"),
        "cache_max_gb": 1.5, "dims": [64, 32], "quantize": ["int8", "binary"], "clipping_margin": (0.01, 0.99),
        "limit": 5, "seed": 7, "save_predictions": True, "workers": 2,
    }  # fmt: skip
    name, args, kwargs = called(api, ["run", "-m", "M", "--ray", "local", "--ray-cpus-per-worker", "2"])
    assert type(kwargs.pop("observer")) is RayPrinter
    assert kwargs == {**RUN_DEFAULTS, "ray": "local", "ray_cpus_per_worker": 2.0}
    assert called(api, ["run", "-m", "M", "--no-cache"])[2]["cache"] is False


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--no-cache", "--workers", "2"], "--no-cache is the reference mode without the embedding cache; it takes no "
         "--cache-dir, --cache-max-gb or --workers"),
        (["--workers", "2", "--ray", "local"], "--workers applies to runs on this machine; with --ray every worker "
         "evaluates its own tasks"),
        (["--ray-cpus-per-worker", "2"], "--ray-cpus-per-worker applies to --ray runs"),
    ],
)  # fmt: skip
def test_run_refuses_options_that_do_not_go_together(api, capsys, flags, message):
    assert main(["run", "-m", "M", *flags]) == 2 and api == []
    assert capsys.readouterr().err == f"error: {message}\n"


def test_card_commands_and_prefetch_hand_the_api_their_flags(api):
    assert called(api, ["card", "emit", "R"]) == ("model_index", ("R",), {"suite": "c-mteb", "name": None})
    assert called(api, ["card", "emit", "R", "--name", "N", "-b", "sample"]) == (
        "model_index", ("R",), {"suite": "sample", "name": "N"}
    )  # fmt: skip
    argv = ["card", "emit", "R", "--format", "eval-results", "--output-dir", "E", "--user", "U", "--benchmark-repo",
            "org/board", "--suite", "sample"]  # fmt: skip
    assert called(api, argv) == (
        "eval_results", ("R", Path("E")), {"suite": "sample", "user": "U", "benchmark_repo": "org/board"}
    )  # fmt: skip
    assert called(api, ["card", "import", "README.md", "-o", "O"]) == (
        "import_card", ("README.md", Path("O")), {"suite": "c-mteb"}
    )  # fmt: skip
    argv = ["card", "push", "org/model", "R", "--readme", "README.md", "--name", "N", "--create-pr", "--revision",
            "dev", "--token", "hf_x", "--commit-message", "scores", "--dry-run", "--user", "U", "--benchmark-repo",
            "org/board", "-b", "sample"]  # fmt: skip
    assert called(api, argv) == (
        "push",
        ("org/model", "R"),
        {"suite": "sample", "readme": Path("README.md"), "name": "N", "create_pr": True, "revision": "dev",
         "token": "hf_x", "dry_run": True, "user": "U", "benchmark_repo": "org/board", "commit_message": "scores"},
    )  # fmt: skip
    assert called(api, ["card", "push", "org/model", "R"]) == (
        "push",
        ("org/model", "R"),
        {"suite": "c-mteb", "readme": None, "name": None, "create_pr": False, "revision": None, "token": None,
         "dry_run": False, "user": None, "benchmark_repo": None, "commit_message": None},
    )  # fmt: skip
    assert called(api, ["prefetch", "--data-dir", "D"]) == (
        "prefetch", (Path("D"),), {"suite": "c-mteb", "tasks": None, "model": None}
    )  # fmt: skip
    assert called(api, ["prefetch", "--data-dir", "D", "-b", "sample", "-t", "STSB", "-m", "org/m"]) == (
        "prefetch", (Path("D"),), {"suite": "sample", "tasks": ["STSB"], "model": "org/m"}
    )  # fmt: skip


def test_ctrl_c_says_the_results_are_kept_and_exits_130(api, capsys):
    assert main(["check", "candidate", "--baseline", "baseline"]) == 130
    err = capsys.readouterr().err
    assert err == "\ninterrupted: finished results are on disk; run the same command again to continue\n"


# ---------------------------------------------------------------- run: progress lines, closing tables, exit status


def outcome(task: str, status: str, score: float | None = None, **fields) -> TaskOutcome:
    spec = SAMPLE.by_mteb_name[task]
    return TaskOutcome(spec, status, main_metric=SAMPLE.main_metrics[spec.type], main_score=score, **fields)


def test_progress_lines_give_each_tasks_score_and_time_or_why_it_did_not_run(capsys):
    model = SimpleNamespace(name="org/m", devices=["cpu"], dtype="fp32", options=SimpleNamespace(batch_size=16),
                            prompts={"query": "q: "}, loader="sentence-transformers")  # fmt: skip
    printer = Printer()
    printer.started(model, SAMPLE.tasks[:3], "sample", cached=True)
    printer.task_finished(outcome("STSB", "done", 71.234, seconds=2.26, position=(1, 3)))
    printer.task_finished(outcome("Ocnli", "skipped", path=Path("r/Ocnli.json"), position=(2, 3)))
    printer.task_finished(outcome("Waimai", "failed", error="the data is corrupt", position=(3, 3)))
    assert capsys.readouterr().out.splitlines() == [
        "evalkit: org/m on cpu (fp32, batch size 16), 3 task(s) of suite sample, cached mode",
        "loader: sentence-transformers; prompts: query='q: '",
        "[1/3] STSB: cos_sim_spearman 71.23 (2.3 s)",
        "[2/3] Ocnli: already done (r/Ocnli.json), skipped",
        "[3/3] Waimai: FAILED: the data is corrupt",
    ]
    ray = RayPrinter()
    ray.cluster_ready({"nodes": 2, "workers": 3, "worker": "1 CPU", "startup_seconds": 4.04})
    ray.unit_finished("org/m", outcome("STSB", "done", 71.234, seconds=2.26, position=(1, 3)), "node-1", 99,
                      {"done": 1, "running": 2, "queued": 0})  # fmt: skip
    ray.unit_finished("org/m", outcome("Ocnli", "failed", error="boom", position=(2, 3)), "", 98,
                      {"done": 2, "running": 1, "queued": 0})  # fmt: skip
    assert capsys.readouterr().out.splitlines() == [
        "evalkit: Ray cluster of 2 node(s), 3 worker(s) of 1 CPU, ready in 4.0 s",
        "[1/3] STSB org/m on node-1: cos_sim_spearman 71.23 (2.3 s) | done 1, running 2, queued 0",
        "[2/3] Ocnli org/m: FAILED: boom | done 2, running 1, queued 0",
    ]


def fake_run(monkeypatch, *reports: RunReport) -> list:
    calls = []

    def evaluate_many(models, **options):
        calls.append((models, options))
        return list(reports)

    monkeypatch.setattr(evalkit, "evaluate_many", evaluate_many)
    return calls


def test_run_prints_each_models_table_the_count_and_model_index_files_and_exits_1_on_a_failure(monkeypatch, capsys):
    first = RunReport([outcome("STSB", "done", 70.0)], folders=[Path("O/org__a/r")],
                      model_index_files=[Path("O/org__a/r/model-index.yaml")], suite=SAMPLE)  # fmt: skip
    second = RunReport([outcome("STSB", "done", 60.0), outcome("Ocnli", "failed", error="boom")],
                       folders=[Path("O/org__b/r")], suite=SAMPLE)  # fmt: skip
    fake_run(monkeypatch, first, second)
    assert main(["run", "-m", "org/a", "-m", "org/b", "-o", "O"]) == 1
    assert capsys.readouterr().out == (
        f"\nO/org__a/r:\n{summary_table(first)}\n\nO/org__b/r:\n{summary_table(second)}\n"
        "\n2 of 3 result(s) are in O\nmodel-index YAML: O/org__a/r/model-index.yaml\n"
    )
    fake_run(monkeypatch, first)  # one model: no folder heading; every task done: 0
    assert main(["run", "-m", "org/a", "-o", "O"]) == 0
    assert capsys.readouterr().out == (
        f"\n{summary_table(first)}\n\n1 of 1 result(s) are in O\nmodel-index YAML: O/org__a/r/model-index.yaml\n"
    )


def test_an_interrupted_run_says_its_results_are_on_disk_and_exits_130(monkeypatch, capsys):
    report = RunReport([outcome("STSB", "done", 70.0)], interrupted=True, folders=[Path("O/org__a/r")],
                       model_index_files=[Path("O/org__a/r/model-index.yaml")], suite=SAMPLE)  # fmt: skip
    fake_run(monkeypatch, report)
    assert main(["run", "-m", "org/a", "-o", "O"]) == 130
    out, err = capsys.readouterr()
    assert out == f"\n{summary_table(report)}\n\n1 of 1 result(s) are in O\n"
    assert err == "interrupted: the results above are on disk; run the same command again to continue\n"


def test_with_no_arguments_the_demo_runs_the_bundled_model_on_the_sample_suite_and_says_what_next(monkeypatch, capsys):
    calls = fake_run(monkeypatch, RunReport([outcome("STSB", "done", 70.0)], suite=SAMPLE))
    assert main([]) == 0
    ((models, options),) = calls
    assert (models, options["suite"], options["output_dir"]) == (["bundled:minilm"], "sample", Path("results/sample"))
    out = capsys.readouterr().out
    assert out.endswith(f"result(s) are in results/sample\n{next_steps(program_name())}\n")
    assert "That was the demo" in out and f"  {program_name()} --help  " in out


# ---------------------------------------------------------------- tasks


def table_rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.split("\n\n")[0].splitlines()]


HEADER = ["task", "type", "split", "subset", "sample", "texts", "dataset repo"]


def test_tasks_lists_what_the_api_lists_and_the_texts_to_encode(capsys):
    assert main(["tasks", "-b", "c-mteb-lite"]) == 0
    out = capsys.readouterr().out
    lite, full = evalkit.list_tasks("c-mteb-lite"), evalkit.list_tasks("c-mteb")
    assert table_rows(out) == [HEADER] + [
        [t["task"], t["type"], t["split"], t["subset"], str(t["limit"] or "all"), f"{t['texts']:,}", t["repo"]]
        for t in lite
    ]
    total, everything = sum(t["texts"] for t in lite), sum(t["texts"] for t in full)
    assert f"\n\n{len(lite)} tasks in {load_suite('c-mteb-lite').origin}\n" in out
    assert f"\nAbout {total:,} texts to encode, {total / everything:.1%} of the 35-task c-mteb suite's " in out
    assert f"suite's {everything:,} (at most; from mteb's descriptive statistics of the hub data)." in out
    assert main(["tasks", "--suite", "sample"]) == 0  # a suite with its own data has no counts
    out = capsys.readouterr().out
    listed = evalkit.list_tasks("sample")
    assert table_rows(out) == [HEADER] + [[t["task"], t["type"], t["split"], t["subset"], "all", "–", t["repo"]]
                                          for t in listed]  # fmt: skip
    assert {t["texts"] for t in listed} == {None}
    assert out.endswith(
        f"\n\n6 tasks in {SAMPLE.origin}\nThe suite brings its own data ({SAMPLE.data_dir}): no hub statistics, "
        "no text counts.\n"
    )


# ---------------------------------------------------------------- CMTEBEvaluator


class CardData:
    """A model's `model_card_data`: what the evaluator stores in it."""

    def __init__(self):
        self.stored = []

    def set_evaluation_metrics(self, evaluator, metrics, epoch, step):
        self.stored.append((dict(metrics), epoch, step))


@pytest.fixture
def evaluate(monkeypatch):
    """`evalkit.evaluate` writing RESULTS' result files (the failing tasks' left out) into the run's folder; the
    calls it got."""
    calls, failing = [], set()

    @functools.wraps(evalkit.evaluate)  # its signature: the evaluator takes evaluate's keywords
    def fake(model, **options):
        calls.append(options)
        done = [task for task in options["tasks"] if task not in failing]
        folder = Path(options["output_dir"]) / options["name"] / "no_revision_available"
        write_results(folder, done, options["suite"])
        outcomes = [
            TaskOutcome(
                options["suite"].by_mteb_name[task], "done" if task in done else "failed", error="the data is corrupt"
            )
            for task in options["tasks"]
        ]
        return RunReport(outcomes, folders=[folder], suite=options["suite"])

    monkeypatch.setattr(evalkit, "evaluate", fake)
    return calls, failing


def test_the_evaluator_logs_each_task_each_type_and_the_suite_average_and_stores_them_in_the_card(evaluate, tmp_path):
    from evalkit.integrations.sentence_transformers import CMTEBEvaluator

    calls, _ = evaluate
    model = SimpleNamespace(model_card_data=CardData())
    evaluator = CMTEBEvaluator(suite="sample", name="m", output_dir=tmp_path, seed=3)
    metrics = evaluator(model, epoch=1.0, steps=20)
    comparison = evalkit.compare(tmp_path / "m_step-20", suite="sample")
    assert comparison.average.aggregates[0].score == pytest.approx((61 + 85 + 52 + 47 + 66 + 83) / 6)
    expected = {f"sample_{task}": pytest.approx(value * 100) for task, (_, value) in RESULTS.items()}
    expected |= {f"sample_{row.name}_average": row.aggregates[0].score for row in comparison.types}
    assert metrics == {**expected, "sample_average": comparison.average.aggregates[0].score}
    assert model.model_card_data.stored == [(metrics, 1.0, 20)]
    (options,) = calls
    assert {k: v for k, v in options.items() if k not in ("suite", "observer")} == {
        "tasks": [t.mteb_task for t in SAMPLE.tasks], "limit": None, "data_dir": None, "name": "m_step-20",
        "output_dir": tmp_path, "batch_size": 32, "workers": 1, "seed": 3,
    }  # fmt: skip
    assert evaluator.get_config_dict() == {"suite": "sample", "tasks": [t.name for t in SAMPLE.tasks]}


def test_outside_training_the_evaluator_writes_to_its_name_and_the_trainers_folder(evaluate, tmp_path):
    from evalkit.integrations.sentence_transformers import CMTEBEvaluator

    calls, _ = evaluate
    evaluator = CMTEBEvaluator(suite="sample", tasks=["STSB"], limit=5, name="m", main_metric="sts", batch_size=8,
                               prefix="")  # fmt: skip
    assert evaluator.primary_metric == "STS_average"
    metrics = evaluator(SimpleNamespace(model_card_data=CardData()), output_path=str(tmp_path))
    assert metrics == {"STSB": pytest.approx(61.0), "STS_average": pytest.approx(61.0), "average": pytest.approx(61.0)}
    (options,) = calls
    assert (options["name"], options["output_dir"], options["tasks"]) == ("m", str(tmp_path), ["STSB"])
    assert (options["limit"], options["batch_size"], options["workers"]) == (5, 8, 1)
    assert evaluator.get_config_dict() == {"suite": "sample", "tasks": ["STSB"], "limit": 5}


def test_the_evaluator_reads_the_scores_at_its_suites_split(evaluate, tmp_path):
    from evalkit.integrations.sentence_transformers import CMTEBEvaluator

    lite = load_suite("c-mteb-lite")  # STSB on its validation split, where the card (c-mteb) reports its test split
    assert (lite.by_mteb_name["STSB"].split, load_suite("c-mteb").by_mteb_name["STSB"].split) == ("validation", "test")
    evaluator = CMTEBEvaluator(suite=lite, tasks=["STSB"], name="m", output_dir=tmp_path)
    metrics = evaluator(SimpleNamespace(model_card_data=CardData()), steps=1)
    assert metrics == {f"c-mteb-lite_{key}": pytest.approx(61.0) for key in ("STSB", "STS_average", "average")}


def test_a_failed_task_leaves_out_its_metric_and_the_averages_over_it(evaluate, tmp_path, caplog):
    from evalkit.integrations.sentence_transformers import CMTEBEvaluator

    _, failing = evaluate
    failing.add("Ocnli")
    evaluator = CMTEBEvaluator(suite="sample", tasks=["STSB", "Ocnli"], name="m", output_dir=tmp_path, prefix="lite")
    with caplog.at_level(logging.WARNING, logger="evalkit.integrations.sentence_transformers"):
        metrics = evaluator(SimpleNamespace(model_card_data=CardData()), steps=4)
    assert set(metrics) == {"lite_STSB", "lite_STS_average", "lite_average"} and math.isnan(metrics["lite_average"])
    assert metrics["lite_STSB"] == metrics["lite_STS_average"] == pytest.approx(61.0)
    assert "C-MTEB task Ocnli failed at m_step-4: the data is corrupt" in caplog.text


def test_the_evaluators_arguments_are_checked_with_messages_that_name_them(tmp_path):
    from evalkit.errors import OptionError
    from evalkit.integrations.sentence_transformers import CMTEBEvaluator

    absent = tmp_path / "absent"
    with pytest.raises(OptionError) as error:
        CMTEBEvaluator(suite="sample", data_dir=absent)
    assert str(error.value) == f"data_dir {absent}: is not a folder"
    with pytest.raises(OptionError) as error:
        CMTEBEvaluator(suite="sample", limit=0)
    assert str(error.value) == "limit 0: must be at least 1"
    with pytest.raises(TypeError) as error:
        CMTEBEvaluator(suite="sample", observer=None, model="m", overwite=True)
    assert str(error.value) == "CMTEBEvaluator() got unexpected keyword argument(s): model, observer, overwite"
    # a type is the main metric when the evaluation has a task of it, whatever else it has
    assert CMTEBEvaluator(suite="sample", tasks=["STSB"], main_metric="STS").primary_metric == "sample_STS_average"
    assert CMTEBEvaluator(suite="sample", main_metric="covidretrieval").primary_metric == "sample_CovidRetrieval"
    assert CMTEBEvaluator(suite="sample").description == "C-MTEB (sample)"


# ---------------------------------------------------------------- card emit --format eval-results, card push --dry-run


@pytest.fixture
def revision(tmp_path) -> Path:
    folder = write_results(tmp_path / "results" / "my-org__my-model" / "abc")
    (folder / "model_meta.json").write_text(json.dumps({"name": "my-org/my-model", "revision": "abc"}))
    return folder


def test_card_emit_writes_the_eval_results_files_the_api_writes_and_names_each(revision, tmp_path, capsys):
    published = evalkit.eval_results(revision, tmp_path / "api", suite="sample")
    out = tmp_path / "eval_results"
    assert (
        main(["card", "emit", str(revision), "-b", "sample", "--format", "eval-results", "--output-dir", str(out)]) == 0
    )
    printed, notes = capsys.readouterr()
    assert printed == "".join(f"wrote {out / name}\n" for name in published.files)
    assert notes == "".join(f"note: {note}\n" for note in published.notes) and published.notes
    assert sorted(p.name for p in out.iterdir()) == sorted(published.files) and len(published.files) == 6
    for name in published.files:
        assert (out / name).read_bytes() == (tmp_path / "api" / name).read_bytes()
    assert main(["card", "emit", str(revision), "-b", "sample", "--format", "eval-results"]) == 2
    assert capsys.readouterr().err == (
        "error: --format eval-results needs --output-dir (a model repository's .eval_results folder)\n"
    )
    assert (
        main(["card", "emit", str(revision), "--format", "eval-results", "--output-dir", str(out), "--name", "N"]) == 2
    )
    assert capsys.readouterr().err.startswith("error: --format eval-results writes into --output-dir; --output,")


def test_card_push_dry_run_prints_the_commit_the_api_would_make(revision, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n# my model\n", encoding="utf-8")
    before = readme.read_bytes()
    argv = ["card", "push", "my-org/my-model", str(revision), "-b", "sample", "--readme", str(readme), "--dry-run"]
    pull_request = (["--create-pr", "--revision", "dev"], "a pull request to my-org/my-model (revision dev)")
    for flags, target in [([], "a commit to my-org/my-model"), pull_request]:
        publication = evalkit.push("my-org/my-model", revision, suite="sample", readme=readme, dry_run=True)
        assert main([*argv, *flags]) == 0
        out, err = capsys.readouterr()
        sizes = "".join(f"  {path} ({len(text.encode())} bytes)\n" for path, text in publication.files.items())
        assert out == f"dry run: {target} would hold\n{sizes}\n{publication.readme_diff()}"
        assert "+model-index:\n" in out and err == "".join(f"note: {note}\n" for note in publication.notes)
    assert readme.read_bytes() == before  # a dry run changes nothing
    readme.write_text(publication.files["README.md"], encoding="utf-8")  # already up to date: no diff
    assert main(argv) == 0
    assert capsys.readouterr().out.endswith(" bytes)\n\nREADME.md: unchanged\n")


def test_tasks_totals_only_what_mteb_has_statistics_of(monkeypatch, capsys):
    """`list_tasks` gives no text count (None) for a task mteb has no statistics of: then no total is printed, and
    no share of the c-mteb suite when one of its tasks has none."""
    lite, full = evalkit.list_tasks("c-mteb-lite"), evalkit.list_tasks("c-mteb")
    for uncounted in ("c-mteb-lite", "c-mteb"):

        def listed(suite, uncounted=uncounted):
            rows = [dict(row) for row in (full if suite == "c-mteb" else lite)]
            if (suite == "c-mteb") == (uncounted == "c-mteb"):
                rows[0]["texts"] = None
            return rows

        monkeypatch.setattr(evalkit, "list_tasks", listed)
        assert main(["tasks", "-b", "c-mteb-lite"]) == 0
        out = capsys.readouterr().out
        total = sum(t["texts"] for t in lite)
        if uncounted == "c-mteb-lite":
            assert table_rows(out)[1][5] == "–" and "About" not in out
        else:
            assert f"\nAbout {total:,} texts to encode (at most; from mteb's descriptive statistics" in out
