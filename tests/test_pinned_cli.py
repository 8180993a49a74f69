"""Issue 27: what a user of the command line (and of `CMTEBEvaluator`) sees, pinned by value: the usage of every
command, the values each flag hands the Python API, exit codes, messages and files written. Each test fails on
survivors of the mutation campaign on evalkit/cli and evalkit/integrations (docs/mutation.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

import evalkit
from evalkit.cli import _all_parsers, build_parser, main
from evalkit.cli.run import Printer, RayPrinter

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
