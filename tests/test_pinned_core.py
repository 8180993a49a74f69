"""What a user sees from evalkit's core modules: the API's checks and defaults, option messages, precisions and
variant names, suites, YAML errors, text tables and CSV, snapshots and files (issue 27's survivors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
from conftest import REPO, child_env
from huggingface_hub import constants

import evalkit
from evalkit import arguments, precision
from evalkit.errors import OptionError, UserError


def _stsb_results(folder: Path, spearman: float = 0.8125) -> Path:
    """A results folder holding one mteb 2.x result of the sample suite's STSB."""
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"hf_subset": "default", "languages": ["cmn-Hans"], "main_score": spearman}
    entry |= {f"{f}_{c}": spearman for f in ("cosine", "euclidean", "manhattan") for c in ("pearson", "spearman")}
    result = {
        "dataset_revision": "r", "task_name": "STSB", "mteb_version": "2.26.24", "scores": {"test": [entry]},
        "evaluation_time": 1.0, "kg_co2_emissions": None,
    }  # fmt: skip
    (folder / "STSB.json").write_text(json.dumps(result), encoding="utf-8")
    return folder


# --- the API (evalkit/__init__.py) ---


def test_the_reference_mode_refuses_workers_naming_the_cache_option():
    with pytest.raises(OptionError) as caught:
        evalkit.evaluate("bundled:minilm", suite="sample", cache=False, workers=2)
    assert str(caught.value) == "cache False: the reference mode takes no workers"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("tasks", [1], "tasks [1]: give names: a list of strings, or one string 'A,B'"),
        ("types", " , ", "types ' , ': give at least one name"),
        ("limit", "5", "limit '5': give a whole number above zero"),
        ("cache_max_gb", "2", "cache_max_gb '2': give a number above zero"),
        ("limit", 0, "limit 0: must be above zero"),
        ("batch_size", "big", "batch_size 'big': use a whole number above zero, auto or auto:N (grow from N)"),
        ("batch_size", "auto:0", "batch_size 'auto:0': use a whole number above zero, auto or auto:N (grow from N)"),
        ("dims", 256, "dims 256: give a list of dimensions, or one string '256,128'"),
        ("dims", [], "dims []: give at least one dimension"),
        ("dims", "256,x", "dims '256,x': give whole numbers, e.g. '256,128'"),
        ("seed", 1.5, "seed 1.5: give a whole number"),
        ("model_kwargs", {1: 2}, 'model_kwargs {1: 2}: give a mapping of names, e.g. {"attn_implementation": "sdpa"}'),
        ("name", 7, "name 7: give a string"),
        ("dtype", 16, "dtype 16: give a string"),
        ("query_prompt", "x" * 4097, "query_prompt of 4097 characters: at most 4096 characters"),
        ("cache_dir", 3, "cache_dir 3: give a path"),
    ],
)
def test_a_bad_argument_is_refused_before_anything_loads_with_its_one_line_message(option, value, message, tmp_path):
    with pytest.raises(OptionError) as caught:
        evalkit.evaluate("bundled:minilm", suite="sample", output_dir=tmp_path / "out", **{option: value})
    assert str(caught.value) == message and caught.value.option == option
    assert not (tmp_path / "out").exists()


def test_arguments_give_the_values_evalkit_uses():
    assert arguments.names("tasks", " STSB, ,AFQMC ") == ["STSB", "AFQMC"]
    assert arguments.names("tasks", ("STSB",)) == ["STSB"] and arguments.names("tasks", None) is None
    assert arguments.dims("dims", "256, 128,256") == [256, 128] and arguments.dims("dims", (64, 64)) == [64]
    assert arguments.positive("limit", 3) == 3 and arguments.positive("cache_max_gb", 2, float) == 2.0
    assert isinstance(arguments.positive("cache_max_gb", 2, float), float)
    assert arguments.batch_size("batch_size", "auto:64") == "auto:64" and arguments.batch_size("b", "auto") == "auto"
    assert arguments.batch_size("batch_size", 16) == 16
    assert arguments.whole("seed", 0) == 0 and arguments.whole("seed", -3) == -3
    assert arguments.mapping("model_kwargs", {"a": 1}) == {"a": 1} and arguments.mapping("m", None) is None
    assert arguments.text("name", "x") == "x" and arguments.text("name", None) is None
    assert arguments.prompt("query_prompt", "q" * 4096) == "q" * 4096
    assert arguments.path("output_dir", "out") == Path("out") and arguments.path("output_dir", None) is None
    for bad in (True, 0, -1, float("inf"), float("nan"), 1.5, "3"):
        with pytest.raises(OptionError):
            arguments.positive("limit", bad)
    with pytest.raises(OptionError):
        arguments.whole("seed", True)


def test_option_errors_read_the_same_under_the_apis_and_the_command_lines_names():
    error = OptionError("limit", -1, "must be above zero")
    assert (str(error), error.text("--limit")) == ("limit -1: must be above zero", "--limit -1: must be above zero")
    assert (error.option, error.value, error.reason) == ("limit", -1, "must be above zero")
    unnamed = OptionError("candidate", None, "give the results to compare")
    assert str(unnamed) == "candidate: give the results to compare" and isinstance(unnamed, UserError)


def test_bootstrap_options_are_checked():
    with pytest.raises(OptionError, match=r"^ci 100: a confidence level in percent, between 0 and 100$"):
        evalkit.compare("nowhere", ci=100)
    with pytest.raises(OptionError, match=r"^resamples 9: at least 10 resamples$"):
        evalkit.compare("nowhere", ci=95, resamples=9)


@pytest.fixture
def hub(monkeypatch):
    """The hub online, its commits caught instead of sent."""
    commits = []

    def create_commit(self, **kwargs):
        commits.append(kwargs)
        return SimpleNamespace(pr_url=None, commit_url="https://huggingface.co/my-org/my-model/commit/abc")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", create_commit)
    return commits


def test_push_commits_the_readme_with_the_results_table_under_a_message_naming_the_suite(tmp_path, hub):
    results = _stsb_results(tmp_path / "run")
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: mit\n---\n# My model\n", encoding="utf-8")
    dry = evalkit.push("my-org/my-model", results, suite="sample", readme=readme, dry_run=True)
    assert hub == [] and dry.url is None
    table = evalkit.results_table(results, suite="sample")
    assert "81.25" in table and table in dry.files["README.md"]
    assert dry.files["README.md"].startswith("---\nlicense: mit\nmodel-index:\n")
    published = evalkit.push("my-org/my-model", results, suite="sample", readme=readme, token="hf_test")
    (commit,) = hub
    assert commit["commit_message"] == "Add sample evaluation results"
    assert "published with evalkit" in commit["commit_description"] and published.url.endswith("commit/abc")
    evalkit.push("my-org/my-model", results, suite="sample", readme=readme, token="hf_test", commit_message="Scores")
    assert hub[1]["commit_message"] == "Scores"


def test_python_m_evalkit_is_the_command_line_with_its_exit_status(tmp_path):
    run = [sys.executable, "-m", "evalkit", "tasks", "--suite", str(tmp_path / "missing.yaml")]
    done = subprocess.run(run, capture_output=True, text=True, env=child_env(), cwd=REPO, timeout=1800)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"error: suite file {tmp_path / 'missing.yaml'} does not exist"


# --- precisions and variant names (evalkit/precision.py) ---


def test_the_precisions_are_mtebs_output_dtypes_at_their_storage_cost():
    import torch
    from mteb.types import OutputDType

    assert set(precision.BITS) == {d.value for d in OutputDType}
    packed = {"int4": 4, "uint4": 4, "binary": 1}
    for name, bits in precision.BITS.items():
        assert bits == (packed[name] if name in packed else getattr(torch, name).itemsize * 8), name
    assert precision.bytes_per_vector(384) == 1536.0
    assert precision.bytes_per_vector(256, "int8") == 256.0 and precision.bytes_per_vector(1024, "binary") == 128.0


def test_variants_are_named_by_dimension_precision_and_clipping():
    assert precision.precision_label("int8") == "int8"
    assert precision.precision_label("int8", (0.01, 0.99)) == "int8_clip0.01-0.99"
    assert precision.variant_suffix(256, "int8_clip0.01-0.99") == "_dim256_int8_clip0.01-0.99"
    assert precision.variant_suffix(None, "binary") == "_binary" and precision.variant_suffix(128, None) == "_dim128"
    assert precision.variant_suffix(None, None) == ""
    suffix = precision.experiment_suffix
    assert suffix({"embed_dim": 256, "output_dtypes": "int8", "clipping_margin": [0.01, 0.99]}) == (
        "_dim256_int8_clip0.01-0.99"
    )
    assert suffix({"embed_dim": 256, "output_dtypes": "float32"}) == "_dim256"
    assert suffix({"output_dtypes": "uint4", "clipping_margin": "x"}) == "_uint4"
    assert suffix({"embed_dim": "256", "output_dtypes": "int9"}) == "" and suffix(None) == suffix({}) == ""


# --- suites (evalkit/suite.py) ---


def _suite_file(tmp_path: Path, extra: str = "", tasks: str = "") -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nmain_metrics:\n  STS: cos_sim_spearman\n  Retrieval: ndcg_at_10\ntasks:\n"
        "  - name: STSB\n    type: STS\n    split: test\n"
        "  - name: T2\n    mteb_task: T2Retrieval\n    type: Retrieval\n    split: dev\n" + tasks + extra,
        encoding="utf-8",
    )
    return path


def test_a_suites_prompts_become_mteb_prompt_keys_and_a_prompts_file_too(tmp_path):
    from evalkit.suite import load_prompts, load_suite

    prompts = "prompts:\n  T2:\n    query: 'Find: '\n  Retrieval:\n    document: 'Doc: '\n"
    suite = load_suite(str(_suite_file(tmp_path, prompts)))
    assert suite.prompts == {"T2Retrieval-query": "Find: ", "Retrieval-document": "Doc: "}
    assert load_suite(str(_suite_file(tmp_path))).prompts == {}
    (tmp_path / "p.yaml").write_text("T2Retrieval:\n  query: 'Q: '\nSTS:\n  query: ''\n", encoding="utf-8")
    assert load_prompts(tmp_path / "p.yaml", suite) == {"T2Retrieval-query": "Q: ", "STS-query": ""}


def test_a_prompt_mteb_never_applies_is_refused_and_retrieval_prompts_pass():
    from evalkit.suite import check_prompts, load_suite, load_task, prompt_types

    specs = load_suite("sample").select(["STSB", "CovidRetrieval"])
    tasks = [load_task(spec) for spec in specs]
    assert [prompt_types(task) for task in tasks] == [{"query", "document"}, set()]  # in suite order
    check_prompts({"CovidRetrieval-query": "q", "Retrieval-document": "d"}, specs, tasks)
    with pytest.raises(UserError) as caught:
        check_prompts({"STS-query": "q"}, specs, tasks)
    assert str(caught.value) == (
        "prompts: STS: mteb encodes STSB without a query prompt, so this one would change nothing but the model "
        "identity; remove it"
    )


def test_a_task_split_or_subset_mteb_lacks_is_named_with_suggestions():
    import mteb

    from evalkit.suite import CardDataset, TaskSpec, load_task, split_stats

    def spec(task: str, subset: str = "default", split: str = "test") -> TaskSpec:
        return TaskSpec(task, task, "Classification", subset, split, CardDataset("", "", subset, split, "None"))

    with pytest.raises(UserError, match=r"^mteb has no task 'STSBB'; did you mean STSB"):
        load_task(spec("STSBB"))
    subsets = mteb.get_task("MassiveIntentClassification").hf_subsets
    with pytest.raises(UserError) as caught:
        load_task(spec("MassiveIntentClassification", "zh-XX"))
    shown = ", ".join(subsets[:10])
    assert str(caught.value).startswith(
        f"MassiveIntentClassification: mteb does not evaluate subset 'zh-XX' (it has {shown} and "
        f"{len(subsets) - 10} more); did you mean "
    )
    with pytest.raises(UserError, match=r"does not evaluate split 'tset' \(it has validation, test\); did you mean"):
        load_task(spec("MassiveIntentClassification", "zh-CN", "tset"))
    assert load_task(spec("MassiveIntentClassification", "zh-CN")).hf_subsets == ["zh-CN"]
    stats = mteb.get_task("MassiveIntentClassification").metadata.descriptive_stats["test"]
    assert split_stats(spec("MassiveIntentClassification", "zh-CN")) == stats["hf_subset_descriptive_stats"]["zh-CN"]
    with pytest.raises(UserError, match=r"^MassiveIntentClassification: mteb has no descriptive statistics for subset"):
        split_stats(spec("MassiveIntentClassification", "zh-XX"))


def test_an_mteb_benchmark_is_a_suite_of_its_tasks_as_mteb_defines_them():
    from evalkit.suite import benchmark_suite, load_suite

    german = {t.name: t for t in benchmark_suite("MTEB(deu, v1)").tasks}
    counterfactual = german["AmazonCounterfactualClassification"]
    assert (counterfactual.type, counterfactual.split, counterfactual.subset) == ("Classification", "test", "de")
    assert counterfactual.card.name == "MTEB AmazonCounterfactualClassification (de)"
    assert (counterfactual.card.config, counterfactual.card.split) == ("de", "test")
    reviews = german["AmazonReviewsClassification"]  # in C-MTEB too, but there in Chinese
    assert (reviews.subset, reviews.card.name, reviews.card.config) == (
        "de",
        "MTEB AmazonReviewsClassification (de)",
        "de",
    )
    cmteb = load_suite("c-mteb").by_mteb_name
    assert all(spec == cmteb[spec.mteb_task] for spec in benchmark_suite("MTEB(cmn, v1)").tasks)
    beir = benchmark_suite("BEIR")
    covid = beir.by_mteb_name["TRECCOVID"]
    assert (covid.split, covid.subset, covid.card.name, covid.card.config) == (
        "test",
        "default",
        "MTEB TRECCOVID",
        "default",
    )
    assert beir.main_metrics == {"Retrieval": "ndcg_at_10"}
    with pytest.raises(UserError) as caught:
        benchmark_suite("MTEB(eng, v2)")
    assert str(caught.value) == (
        "benchmark MTEB(eng, v2): task SummEvalSummarization.v2 is of type Summarization; evalkit evaluates STS, "
        "PairClassification, Classification, Clustering, Reranking, Retrieval"
    )
    with pytest.raises(UserError, match=r"^benchmark MTEB\(fra, v1\): task XPQARetrieval has 3 subsets; write a suite"):
        benchmark_suite("MTEB(fra, v1)")


def test_a_suite_file_that_is_missing_is_named_whatever_its_yaml_suffix(tmp_path):
    from evalkit.suite import load_suite

    for name in ("gone.yml", "gone.yaml"):
        with pytest.raises(UserError) as caught:
            load_suite(str(tmp_path / name))
        assert str(caught.value) == f"suite file {tmp_path / name} does not exist"


def test_a_suites_unknown_key_is_named_with_its_line_and_the_closest_allowed_key(tmp_path):
    from evalkit.suite import load_suite

    with pytest.raises(UserError) as caught:
        load_suite(str(_suite_file(tmp_path, "descriptoin: x\n")))
    assert str(caught.value) == (
        f"{tmp_path / 'mine.yaml'}:13: unknown key 'descriptoin'; did you mean description? "
        "(allowed: name, description, data_dir, main_metrics, prompts, tasks)"
    )
    with pytest.raises(UserError) as caught:
        load_suite(str(_suite_file(tmp_path, tasks="  - name: X\n    type: Bitext\n    split: test\n")))
    assert str(caught.value) == f"{tmp_path / 'mine.yaml'}:14: task #3 (X): unknown task type 'Bitext'"


def test_a_suite_entry_takes_its_defaults_from_its_name_and_subset(tmp_path):
    from evalkit.suite import load_suite

    task = "  - name: Ocnli\n    type: STS\n    subset: zh\n    split: validation\n    limit: 5\n"
    suite = load_suite(str(_suite_file(tmp_path, tasks=task)))
    assert suite.name == "mine" and suite.description == "" and suite.data_dir is None
    stsb, t2, ocnli = suite.tasks
    assert (stsb.mteb_task, stsb.subset, stsb.limit, t2.mteb_task) == ("STSB", "default", None, "T2Retrieval")
    assert (stsb.card.type, stsb.card.name, stsb.card.config, stsb.card.split, stsb.card.revision) == (
        "",
        "MTEB STSB",
        "default",
        "test",
        "None",
    )
    assert (ocnli.card.name, ocnli.card.config, ocnli.card.split, ocnli.limit) == (
        "MTEB Ocnli (zh)",
        "zh",
        "validation",
        5,
    )
    assert len({*suite.tasks}) == 3  # a task is a value: hashable, usable as a key


# --- YAML (evalkit/yamlio.py) ---


def test_yaml_errors_name_the_files_line_below_a_front_matter_start():
    from evalkit.yamlio import load_yaml

    with pytest.raises(UserError) as caught:
        load_yaml("a: 1\nb: [2\n", Path("README.md"), first_line=2)
    assert str(caught.value).startswith("README.md:4: not valid YAML (")
    with pytest.raises(UserError) as caught:
        load_yaml("a: 1\na: 2\n", Path("s.yaml"), what="not a suite")
    assert str(caught.value) == "s.yaml:2: not a suite (duplicate key 'a' (first on line 1))"
    loaded = load_yaml("x:\n  y: 1\n", Path("s.yaml"), first_line=3)
    assert loaded == {"x": {"y": 1}} and (loaded.line, loaded.key_lines, loaded["x"].key_lines) == (
        3,
        {"x": 3},
        {"y": 4},
    )
    assert load_yaml("", Path("s.yaml")) is None


def test_yaml_nesting_and_expansion_are_bounded_with_their_line():
    from evalkit.yamlio import MAX_DEPTH, MAX_NODES, load_yaml

    assert (MAX_DEPTH, MAX_NODES) == (200, 200_000)
    deep = load_yaml("[" * 200 + "]" * 200, Path("d.yaml"))
    depth = 0
    while isinstance(deep, list) and deep:
        deep, depth = deep[0], depth + 1
    assert depth == 199
    with pytest.raises(UserError) as caught:
        load_yaml("x:\n " + "[" * 200 + "]" * 200, Path("d.yaml"))
    assert str(caught.value) == "d.yaml:2: not valid YAML (the document is nested more than 200 levels deep)"
    laughs = "a: &a [" + ", ".join(["x"] * 10) + "]\n"
    for i in range(1, 6):
        laughs += f"{'abcdef'[i]}: &{'abcdef'[i]} [" + ", ".join([f"*{'abcdef'[i - 1]}"] * 10) + "]\n"
    with pytest.raises(UserError) as caught:
        load_yaml(laughs, Path("b.yaml"))
    assert str(caught.value).endswith("(the document is more than 200000 values once its aliases are expanded)")
    assert load_yaml(laughs.rsplit("\n", 2)[0] + "\n", Path("b.yaml"))["e"][0][0][0][0] == ["x"] * 10


def test_a_yaml_name_field_is_a_scalar_or_its_default(tmp_path):
    from evalkit.yamlio import load_yaml, text_field

    data = load_yaml("n: 12\nf: 1.5\nl: [1]\nb: true\ne: ''\n", tmp_path / "y.yaml")
    assert (text_field(tmp_path, data, "n", ""), text_field(tmp_path, data, "f", "")) == ("12", "1.5")
    assert text_field(tmp_path, data, "e", "", default="d") == "d" and text_field(tmp_path, data, "z", "", "") == ""
    for key, shown in (("l", "a list, not a name"), ("b", "a bool, not a name"), ("e", "missing")):
        with pytest.raises(UserError) as caught:
            text_field(tmp_path / "y.yaml", data, key, "task #1: ")
        assert str(caught.value) == f"{tmp_path / 'y.yaml'}:{data.key_lines[key]}: task #1: `{key}` is {shown}"


# --- text for people (evalkit/text.py) ---


def test_text_tables_pad_their_columns_and_escape_control_characters():
    from evalkit.text import text_table

    rows = [["task", "score", "note"], ["STSB", "81.25", "ok"], ["T2Retrieval", "7.5", "new\x1b[2J"]]
    assert text_table(rows, right=(1,), rule=True) == (
        "task         score  note\n"
        "------------------------------\n"
        "STSB         81.25  ok\n"
        "T2Retrieval    7.5  new\\x1b[2J"
    )
    assert text_table([["only", "header"]]) == "only  header"
    assert text_table([["a", "b"], ["long", "x"]]) == "a     b\nlong  x"


def test_markdown_tables_and_escapes():
    from evalkit.text import md_escape, md_table

    assert md_escape("a|b <i>&\nc *x* snake_case _em_ ~~s~~") == (
        "a\\|b &lt;i&gt;&amp; c \\*x\\* snake_case \\_em\\_ \\~\\~s\\~\\~"
    )
    assert md_table(["task", "Δ"], [["S|T", "+1.0"], ["<b>", "2"]]) == (
        "| task | Δ |\n|---|---|\n| S\\|T | +1.0 |\n| &lt;b&gt; | 2 |"
    )


def test_csv_is_spreadsheet_safe_with_bare_numbers():
    import csv
    import io

    from evalkit.text import csv_text

    rows = [{"model": "=HYPERLINK(1)", "score": 81.25, "n": 3}, {"model": "a\rb", "score": -1.5, "n": 0}]
    text = csv_text(["model", "score", "n"], rows)
    assert text == '"model","score","n"\n"\'=HYPERLINK(1)",81.25,3\n"a\rb",-1.5,0\n'
    assert list(csv.DictReader(io.StringIO(text, newline="")))[1] == {"model": "a\rb", "score": "-1.5", "n": "0"}
    assert csv_text(["m"], [{"m": m} for m in ("+1", "-x", "@a", "\tt", "\rr", "ok")]).splitlines()[1:] == [
        '"\'+1"',
        '"\'-x"',
        '"\'@a"',
        '"\'\tt"',
        "\"'",
        'r"',
        '"ok"',
    ]


def test_suggestions_and_first_lines():
    from evalkit.text import first_line, printable, suggest

    assert suggest("stsb", ["STSB", "STS22", "AFQMC"]) == "; did you mean STSB, STS22?"
    assert suggest("zzz", ["STSB"]) == ""
    assert first_line(ValueError("\n  first\nsecond")) == "first" and first_line(KeyError()) == "KeyError"
    assert printable("a\u202eb\x00") == "a\\u202eb\\x00"


# --- files (evalkit/fileio.py) ---


def test_reading_refuses_what_is_not_a_bounded_regular_text_file(tmp_path):
    import os

    from evalkit.fileio import MAX_INPUT_BYTES, read_text

    assert MAX_INPUT_BYTES == 64 * 2**20
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES)
    assert len(read_text(big, "results")) == MAX_INPUT_BYTES
    with big.open("ab") as f:
        f.write(b" ")
    with pytest.raises(UserError) as caught:
        read_text(big, "results")
    assert str(caught.value) == f"{big}: cannot read results (larger than 64 MiB)"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(UserError) as caught:
        read_text(latin, "suite")
    assert str(caught.value) == f"{latin}: cannot read suite (not utf-8 text: invalid continuation byte at byte 9)"
    os.mkfifo(tmp_path / "fifo")
    for special in (tmp_path / "fifo", tmp_path):
        with pytest.raises(UserError) as caught:
            read_text(special, "suite")
        assert str(caught.value) == f"{special}: cannot read suite (not a regular file)"
    with pytest.raises(UserError, match=r"cannot read \(No such file or directory\)$"):
        read_text(tmp_path / "none")


def test_gzip_lines_are_read_as_they_inflate_and_bounded(tmp_path):
    import gzip

    from evalkit.fileio import gzip_lines

    good = tmp_path / "good.jsonl.gz"
    good.write_bytes(gzip.compress("一\n二\n".encode()))
    assert list(gzip_lines(good, "data")) == ["一\n", "二\n"]
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(b"0" * (2 * 2**20 + 10)))
    with pytest.raises(UserError) as caught:
        list(gzip_lines(bomb, "data", limit=2 * 2**20))
    assert str(caught.value) == f"{bomb}: cannot read data (larger than 2 MiB uncompressed)"
    plain = tmp_path / "plain.gz"
    plain.write_bytes(b"not gzip at all\n")
    with pytest.raises(UserError, match=rf"^{plain}: cannot read data \(not gzip: "):
        list(gzip_lines(plain, "data"))
    latin = tmp_path / "latin.gz"
    latin.write_bytes(gzip.compress("caf\u00e9\n".encode("latin-1")))
    with pytest.raises(UserError) as caught:
        list(gzip_lines(latin, "data"))
    assert str(caught.value) == f"{latin}: cannot read data (not utf-8 text: invalid continuation byte)"


def test_files_are_written_atomically_as_readable_json_into_new_folders(tmp_path):
    import os

    from evalkit.fileio import write_bytes_atomic, write_json_atomic, write_text_atomic

    path = tmp_path / "a" / "b" / "r.json"
    write_json_atomic(path, {"名": [1, 2.5]})
    assert path.read_text(encoding="utf-8") == '{\n  "名": [\n    1,\n    2.5\n  ]\n}\n'
    with pytest.raises(ValueError):
        write_json_atomic(path, {"x": float("nan")})
    write_json_atomic(path, {"x": float("nan")}, allow_nan=True)
    assert path.read_text(encoding="utf-8") == '{\n  "x": NaN\n}\n' and os.listdir(path.parent) == ["r.json"]
    target, link = tmp_path / "target.md", tmp_path / "link.md"
    target.write_text("theirs", encoding="utf-8")
    for write in (write_bytes_atomic, write_text_atomic):  # a link is replaced, never written through
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        write(link, "mine".encode() if write is write_bytes_atomic else "mine")
        assert not link.is_symlink() and link.read_text(encoding="utf-8") == "mine"
        assert target.read_text(encoding="utf-8") == "theirs"
    link.unlink()
    link.symlink_to(target)
    write_bytes_atomic(link, "ours".encode(), follow_link=True)
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "ours"
    (tmp_path / "ro").mkdir(mode=0o500)
    if os.geteuid() != 0:
        with pytest.raises(UserError, match=r"ro/x.json: cannot write \(Permission denied\)$"):
            write_json_atomic(tmp_path / "ro" / "x.json", {})


# --- snapshots (evalkit/snapshot.py) ---


def _front_matter(folder: Path) -> dict:
    import yaml

    text = (folder / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n") and text.endswith("---\n")
    return yaml.safe_load(text[4:-4])


def test_plain_snapshots_are_written_in_the_hubs_layout(tmp_path):
    import pandas as pd

    from evalkit import snapshot

    rows = [{"sentence1": "一", "sentence2": "二", "score": 1.5}]
    snapshot.write_splits(tmp_path / "p", {"test": rows})
    frame = pd.read_parquet(tmp_path / "p" / "data" / "test-00000-of-00001.parquet")
    assert list(frame.columns) == ["sentence1", "sentence2", "score"] and frame.to_dict("records") == rows
    snapshot.write_splits(tmp_path / "j", {"dev": rows, "test": rows[:0]}, fmt="jsonl", config="zh")
    assert (tmp_path / "j" / "zh" / "dev-00000-of-00001.jsonl").read_text(encoding="utf-8") == (
        '{"sentence1": "一", "sentence2": "二", "score": 1.5}\n'
    )
    files = [{"split": split, "path": f"zh/{split}-00000-of-00001.jsonl"} for split in ("dev", "test")]
    assert _front_matter(tmp_path / "j") == {"configs": [{"config_name": "zh", "data_files": files}]}
    with pytest.raises(ValueError, match=r"^format 'csv' is not one of \('parquet', 'jsonl'\)$"):
        snapshot.write_splits(tmp_path / "c", {"test": rows}, fmt="csv")


def test_jsonl_snapshots_are_utf_8_whatever_the_locale(tmp_path):
    code = (
        "import sys; from evalkit import snapshot; "
        "snapshot.write_splits(sys.argv[1], {'test': [{'text': '\\u4e2d\\u6587'}]}, fmt='jsonl')"
    )
    env = child_env(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, cwd=REPO, check=True, timeout=1800)
    written = tmp_path / "data" / "test-00000-of-00001.jsonl"
    assert written.read_text(encoding="utf-8") == '{"text": "中文"}\n'


def test_retrieval_and_reranking_snapshots_from_sentence_pairs(tmp_path):
    import pandas as pd

    from evalkit import snapshot

    sentences = [f"句子{i}" for i in range(30)]
    snapshot.write_stsb_tasks(
        {
            "test": [
                (sentences[0], sentences[1], 4.5),
                (sentences[2], sentences[3], 1.0),
                (sentences[4], sentences[4], 5.0),
            ],
            "validation": [(s, t, 3.0) for s, t in zip(sentences[5::2], sentences[6::2])],
        },
        tmp_path,
    )
    retrieval, reranking = tmp_path / "mteb/T2Retrieval", tmp_path / "mteb/T2Reranking"
    assert _front_matter(retrieval) == {"configs": [
        {"config_name": name, "data_files": [{"split": "dev", "path": f"{name}/dev-00000-of-00001.parquet"}]}
        for name in ("corpus", "queries", "default")
    ]}  # fmt: skip
    assert [c["config_name"] for c in _front_matter(reranking)["configs"]] == [
        "corpus",
        "queries",
        "default",
        "top_ranked",
    ]

    def read(folder: Path, part: str) -> list[dict]:
        return pd.read_parquet(folder / part / "dev-00000-of-00001.parquet").to_dict("records")

    corpus = read(retrieval, "corpus")
    assert [(d["id"], d["title"], d["text"]) for d in corpus[:3]] == [
        ("d0", "", "句子0"),
        ("d1", "", "句子1"),
        ("d2", "", "句子2"),
    ]
    assert len(corpus) == 29  # every distinct sentence of both splits, once
    assert read(retrieval, "queries") == [{"id": "q0", "text": "句子0"}]  # score >= 4, two distinct sentences
    assert read(retrieval, "default") == [{"query-id": "q0", "corpus-id": "d1", "score": 1}]
    (ranked,) = read(reranking, "top_ranked")
    candidates = list(ranked["corpus-ids"])
    assert ranked["query-id"] == "q0" and candidates[0] == "d1" and len(set(candidates)) == 20
    assert {d["id"] for d in read(reranking, "corpus")} == set(candidates)
    assert read(reranking, "default") == read(retrieval, "default")
    stsb = pd.read_parquet(tmp_path / "mteb/STSB/data/test-00000-of-00001.parquet")
    assert stsb.to_dict("records")[0] == {"sentence1": "句子0", "sentence2": "句子1", "score": 4.5}


# --- the card's metrics (evalkit/metrics.py) ---


def test_every_card_metric_is_read_from_its_mteb_key_and_scaled():
    from evalkit.metrics import card_metrics

    functions = {"cos_sim": "cosine", "dot": "dot", "euclidean": "euclidean", "manhattan": "manhattan"}
    sts = {f"{new}_{c}": 0.5 for new in functions.values() for c in ("pearson", "spearman")}
    assert card_metrics("STS", sts) == {
        f"{card}_{c}": 50.0 for card in ("cos_sim", "euclidean", "manhattan") for c in ("pearson", "spearman")
    }
    pair = {f"{new}_{m}": 0.25 for new in functions.values() for m in ("accuracy", "ap", "f1", "precision", "recall")}
    pair["cosine_ap"] = 0.75
    expected = {f"{card}_{m}": 25.0 for card in functions for m in ("accuracy", "ap", "f1", "precision", "recall")}
    expected |= {"cos_sim_ap": 75.0, "max_accuracy": 25.0, "max_ap": 75.0, "max_f1": 25.0}
    assert card_metrics("PairClassification", pair) == expected
    assert card_metrics("Classification", {"accuracy": 0.5, "f1": 0.25, "ap": float("nan")}) == {
        "accuracy": 50.0,
        "f1": 25.0,
    }
    assert card_metrics("Clustering", {"v_measure": 0.5, "v_measure_std": 0.1}) == {"v_measure": 50.0}
    assert card_metrics("Reranking", {"map_at_1000": 0.5, "mrr_at_10": 0.25, "map": 0.1}) == {"map": 50.0, "mrr": 25.0}
    assert card_metrics("Reranking", {"map": 0.5, "mrr": 0.25}) == {"map": 50.0, "mrr": 25.0}  # 1.12-1.38 files
    cutoffs = (1, 3, 5, 10, 100, 1000)
    names = [f"{m}_at_{k}" for m in ("map", "mrr", "ndcg", "precision", "recall") for k in cutoffs]
    retrieval = card_metrics("Retrieval", {**dict.fromkeys(names, 0.5), "ndcg_at_20": 0.5, "cv_recall_at_10": 0.5})
    assert retrieval == dict.fromkeys(names, 50.0)
    with pytest.raises(ValueError, match="unknown task type 'Bitext'"):
        card_metrics("Bitext", {})


def test_scores_that_are_no_number_are_no_score():
    from evalkit.metrics import card_metrics, finite, from_card, to_card

    for value in (True, "0.5", None, float("nan"), float("inf"), 10**400, [0.5]):
        assert finite(value) is None
    assert finite(0) == 0.0 and finite(0.5) == 0.5
    assert card_metrics("Clustering", {"v_measure": True}) == {} and card_metrics("Clustering", {"v_measure": 0}) == {
        "v_measure": 0.0
    }
    assert to_card(0.55) == 55.00000000000001 and from_card(to_card(0.55)) == 0.55


def test_card_metrics_and_mteb_keys_map_both_ways():
    from evalkit.metrics import card_metric_of, card_name, mteb_key

    assert mteb_key("Reranking", "map") == "map_at_1000" and mteb_key("STS", "cos_sim_spearman") == "cosine_spearman"
    assert mteb_key("STS", "unknown") == "unknown" and mteb_key("Bitext", "f1") == "f1"
    assert card_name("Reranking", "map_at_1000") == "map" and card_name("Reranking", "map") is None
    assert card_name("Classification", "accuracy") == "accuracy" and card_name("STS", "spearman") is None
    assert card_metric_of("PairClassification", "max_ap") == "max_ap"
    assert card_metric_of("PairClassification", "cosine_ap") == "cos_sim_ap"
    assert card_metric_of("PairClassification", "max_precision") is None
    assert card_metric_of("STS", "max_ap") is None and card_metric_of("Retrieval", "max_ndcg_at_10") is None
    assert card_metric_of("Retrieval", "ndcg_at_10") == "ndcg_at_10"
