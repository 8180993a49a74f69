"""Issue 6: random and truncated cards and result files give a clean `UserError` or a correct result, nothing else."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import SHARED, shared_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.errors import UserError
from evalkit.results.card import update_readme
from evalkit.results.read import read_card, read_scores, read_task_file, split_front_matter
from evalkit.results.scores import ModelScores, TaskScores
from evalkit.suite import load_suite
from evalkit.yamlio import load_yaml

SUITE = load_suite("c-mteb")
SEED_CARD = SHARED / "seed" / "zpoint_large_embedding_zh.README.md"
REFERENCE = SHARED / "reference-results"
BLOCK = "model-index:\n- name: m\n  results:\n  - task:\n      type: STS\n    metrics:\n    - type: x\n      value: 1\n"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON-like values, as a YAML front matter or a JSON result file may hold them.
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# Text that looks enough like YAML to reach past the first character.
yamlish = st.text(alphabet=st.sampled_from("-:#'\"[]{}|>&*!%@`,? \t\n\rab01.\ufeff\x00"), max_size=120)


def _reference_files() -> list[Path]:
    return sorted(REFERENCE.rglob("*.json")) if REFERENCE.is_dir() else []


def _check_card(models: object) -> None:
    """What `_read_card_text` gave: None (a clean `UserError`) or sane scores of suite tasks."""
    if models is None:
        return
    assert isinstance(models, list)
    for model in models:
        assert isinstance(model, ModelScores) and isinstance(model.name, str)
        for name, scores in model.tasks.items():
            _assert_scores(scores)
            assert name == scores.task


def _assert_scores(scores: object) -> None:
    assert isinstance(scores, TaskScores)
    assert scores.task in SUITE.by_mteb_name
    assert all(isinstance(k, str) and math.isfinite(v) for k, v in scores.metrics.items())


def _read_card_text(folder: Path, text: str | bytes):
    path = folder / "README.md"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    try:
        return read_card(path, SUITE)
    except UserError as exc:
        assert "\n" not in str(exc)
        return None


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(text=st.text(max_size=200) | yamlish)
def test_split_front_matter_splits_or_refuses(text):
    try:
        head, front, tail = split_front_matter(text, Path("README.md"))
    except UserError:
        return
    assert head + front + tail == text
    assert head.strip() == "---"


@FUZZ
@given(meta=values, body=st.text(max_size=30))
def test_random_front_matter_structures(scratch, meta, body):
    text = "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body
    _check_card(_read_card_text(scratch, text))
    text = "---\n" + yaml.safe_dump({"model-index": [{"name": "m", "results": [meta]}]}) + "---\n"
    _check_card(_read_card_text(scratch, text))


card_numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6)
metric_names = st.sampled_from(["cos_sim_spearman", "cos_sim_pearson", "map", "mrr", "ndcg_at_10", "accuracy", "x"])


@FUZZ
@given(
    spec=st.sampled_from(SUITE.tasks),
    task_type=st.sampled_from(["STS", "Reranking", "Retrieval"]),
    metrics=st.lists(st.fixed_dictionaries({"type": metric_names, "value": card_numbers}), max_size=4),
)
def test_card_results_read_back_as_written(scratch, spec, task_type, metrics):
    card = spec.card
    dataset = {"type": card.type, "name": card.name, "config": card.config, "split": card.split, "revision": "r"}
    result = {"task": {"type": task_type}, "dataset": dataset, "metrics": metrics}
    text = "---\n" + yaml.safe_dump({"model-index": [{"name": "m", "results": [result]}]}) + "---\n"
    models = _read_card_text(scratch, text)
    _check_card(models)
    if models is None:
        assert task_type != spec.type  # the only mistake in this card
        return
    (model,) = models
    written = {m["type"]: m["value"] for m in metrics if m["type"] in model.tasks[spec.mteb_task].metrics}
    for name, value in written.items():
        assert model.tasks[spec.mteb_task].metrics[name] == pytest.approx(value, rel=1e-12, abs=1e-12)


@FUZZ
@given(text=yamlish | st.text(max_size=120), raw=st.binary(max_size=120))
def test_random_card_text_and_bytes(scratch, text, raw):
    _check_card(_read_card_text(scratch, "---\n" + text + "\n---\n"))
    _check_card(_read_card_text(scratch, raw))


@pytest.mark.skipif(not SEED_CARD.is_file(), reason="../shared is absent")
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_truncated_seed_card(scratch, data):
    full = SEED_CARD.read_bytes()
    cut = data.draw(st.integers(0, len(full)), label="cut")
    whole = {m.name: m.tasks for m in read_card(SEED_CARD, SUITE)}
    models = _read_card_text(scratch, full[:cut])
    _check_card(models)
    for model in models or []:
        # a truncated card shows a subset of the card's tasks (a value cut mid-number may read differently)
        assert set(model.tasks) <= set(whole[model.name])


@FUZZ
@given(
    front=st.one_of(
        st.builds(
            lambda v: yaml.safe_dump(v, allow_unicode=True), st.dictionaries(st.text(max_size=8), values, max_size=3)
        ),
        yamlish,
    ),
    body=st.text(max_size=40),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.sampled_from(["", "\ufeff"]),
)
def test_update_readme_gives_a_card_with_the_new_model_index(front, body, newline, bom):
    text = bom + "---" + newline + front.replace("\n", newline) + newline + "---" + newline + body
    try:
        updated = update_readme(text, BLOCK)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert updated.startswith(bom) and updated.endswith(body)
    _, new_front, _ = split_front_matter(updated.removeprefix(bom), Path("README.md"))
    meta = load_yaml(new_front, Path("README.md"))
    assert meta["model-index"] == yaml.safe_load(BLOCK)["model-index"]
    try:
        old = load_yaml(split_front_matter(text.removeprefix(bom), Path("README.md"))[1], Path("README.md")) or {}
    except UserError:  # no front matter: one was added in front of the text
        assert updated == bom + "---\n" + BLOCK + "---\n" + text.removeprefix(bom)
        return
    assert {k: v for k, v in meta.items() if k != "model-index"} == {k: v for k, v in old.items() if k != "model-index"}
    assert update_readme(updated, BLOCK) == updated


@pytest.mark.skipif(not SEED_CARD.is_file(), reason="../shared is absent")
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_update_of_a_truncated_seed_card(data):
    full = SEED_CARD.read_text(encoding="utf-8")
    text = full[: data.draw(st.integers(0, len(full)), label="cut")]
    try:
        updated = update_readme(text, BLOCK)
    except UserError:
        return
    meta = load_yaml(split_front_matter(updated, Path("README.md"))[1], Path("README.md"))
    assert meta["model-index"] == yaml.safe_load(BLOCK)["model-index"]


def _read_result(folder: Path, content: bytes, task: str = "STSB"):
    """`read_task_file` and `read_scores` on one file: a clean `UserError`, None or sane scores."""
    shutil.rmtree(folder / "org__model", ignore_errors=True)
    path = folder / "org__model" / "rev" / f"{task}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    try:
        scores = read_task_file(path, SUITE.by_mteb_name[task])
    except UserError as exc:
        assert "\n" not in str(exc)
        with pytest.raises(UserError):
            read_scores(folder, SUITE)
        return None
    if scores is not None:
        _assert_scores(scores)
    models = read_scores(folder, SUITE)
    assert [list(m.tasks) for m in models] == ([[task]] if scores else [])
    return scores


@FUZZ
@given(data=values, raw=st.binary(max_size=100))
def test_random_result_files(scratch, data, raw):
    _read_result(scratch, json.dumps(data).encode())
    _read_result(scratch, raw)


numbers = st.floats() | st.integers() | st.sampled_from([10**400, -(10**400), "0.5", None, True, []])
METRIC_KEYS = ("cosine_spearman", "cosine_pearson", "map_at_1000", "mrr_at_10", "cosine_ap", "max_ap", "accuracy")


@FUZZ
@given(
    task=st.sampled_from([("STSB", "test"), ("T2Reranking", "dev"), ("Ocnli", "validation"), ("STSB", "dev")]),
    entry=st.fixed_dictionaries(
        {
            "hf_subset": st.sampled_from(["default", "zh"]),
            "main_score": st.floats(0, 1) | numbers,
            "languages": st.just([]),
        },
        optional={key: numbers for key in METRIC_KEYS},
    ),
    revision=st.text(max_size=8) | st.none(),
)
def test_result_files_of_the_right_shape_with_random_values(scratch, task, entry, revision):
    task_name, split = task
    data = {
        "task_name": task_name,
        "dataset_revision": revision,
        "mteb_version": "2.0.0",
        "scores": {split: [entry]},
        "evaluation_time": None,
        "kg_co2_emissions": None,
    }
    _read_result(scratch, json.dumps(data).encode(), task_name)


@pytest.mark.skipif(not _reference_files(), reason="../shared is absent")
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_truncated_reference_results(scratch, data):
    source = data.draw(st.sampled_from(_reference_files()), label="file")
    task = source.stem if source.stem in SUITE.by_mteb_name else None
    if task is None:
        return
    full = source.read_bytes()
    cut = data.draw(st.integers(0, len(full)), label="cut")
    complete = _read_result(scratch, full, task)
    truncated = _read_result(scratch, full[:cut], task)
    if cut < len(full.rstrip()):
        assert truncated is None  # a cut JSON file never reads as a result
    else:
        assert truncated == complete


def test_reference_files_exist_for_the_truncation_test():
    shared_path("reference-results")
    assert _reference_files()
