"""The benchmark view (`-b NAME`): mteb's definitions and its official leaderboard's numbers, checked against mteb."""

from __future__ import annotations

import csv
import io
import json
import shutil
import warnings
from pathlib import Path

import pytest
from conftest import shared_path

import evalkit
from evalkit.cli import main
from evalkit.report.html import render_html
from evalkit.report.render import render_csv, render_json, render_markdown

BENCHMARK = "MTEB(cmn, v1)"
CANDIDATE = "Qwen/Qwen3-Embedding-0.6B"
# The benchmark's tasks the folders hold: type and the splits of the benchmark's task.
TASKS = {
    "AFQMC": ("STS", ["validation"]),
    "Cmnli": ("PairClassification", ["validation"]),
    "MultilingualSentiment": ("Classification", ["validation", "test"]),
    "CLSClusteringS2S": ("Clustering", ["test"]),
    "T2Reranking": ("Reranking", ["dev"]),
    "CMedQAv1-reranking": ("Reranking", ["test"]),
    "T2Retrieval": ("Retrieval", ["dev"]),
}


def _scores_2x(task_type: str, s: float) -> dict:
    """A 2.x score entry (0-1) whose main score is mteb's main metric for the type."""
    if task_type == "STS":
        return {"cosine_spearman": s, "cosine_pearson": s - 0.01, "main_score": s}
    if task_type == "PairClassification":
        return {"cosine_ap": s, "cosine_accuracy": s - 0.1, "max_ap": s, "max_accuracy": s - 0.07,
                "main_score": s - 0.07}  # fmt: skip
    if task_type == "Classification":
        return {"accuracy": s, "f1": s - 0.01, "main_score": s}
    if task_type == "Clustering":
        return {"v_measure": s, "main_score": s}
    if task_type == "Reranking":
        return {"map_at_1000": s, "mrr_at_10": s + 0.01, "main_score": s}
    return {"ndcg_at_10": s, "main_score": s}


def _scores_1x(task_type: str, s: float) -> dict:
    """A split's scores as mteb 1.0 wrote them: pair metrics nested by similarity, reranking with `map`."""
    if task_type == "STS":
        return {"cos_sim": {"pearson": s - 0.01, "spearman": s}, "euclidean": {"pearson": s, "spearman": s - 0.02}}
    if task_type == "PairClassification":
        pair = {"accuracy": s - 0.1, "ap": s, "f1": s - 0.05}
        return {"cos_sim": pair, "dot": pair, "max": {"accuracy": s - 0.08, "ap": s, "f1": s - 0.05}}
    if task_type == "Classification":
        return {"accuracy": s, "f1": s - 0.01, "main_score": s}
    if task_type == "Clustering":
        return {"v_measure": s}
    if task_type == "Reranking":
        return {"map": s, "mrr": s + 0.01}
    return {"ndcg_at_10": s}


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def write_2x(folder: Path, task: str, base: float, splits=None, version: str | None = "2.10.12", stem=None) -> None:
    task_type, all_splits = TASKS[task]
    scores = {
        split: [{"hf_subset": "default", "languages": ["cmn-Hans"], **_scores_2x(task_type, base + 0.01 * k)}]
        for k, split in enumerate(splits or all_splits)
    }
    _write(folder / f"{stem or task}.json", {
        "dataset_revision": "r", "task_name": task, "mteb_version": version, "scores": scores,
        "evaluation_time": 1.0, "kg_co2_emissions": None,
    })  # fmt: skip


def write_1x(folder: Path, task: str, base: float, stem=None, version: str = "1.0.2") -> None:
    task_type, splits = TASKS[task]
    name = stem or task
    _write(folder / f"{name}.json", {
        "dataset_revision": None, "mteb_dataset_name": name, "mteb_version": version,
        splits[0]: {"evaluation_time": 1.0, **_scores_1x(task_type, base)},
    })  # fmt: skip


def build_folder(root: Path) -> Path:
    """A results-repository folder of mixed formats (see the module's tests for what each model exercises)."""
    # 1.x files: Cmnli with `max`, MultilingualSentiment with validation only, T2Reranking and CMedQAv1 (old name)
    # with `map` and no `map_at_1000`.
    bge = root / "BAAI__bge-small-zh" / "no_revision_available"
    for i, task in enumerate(t for t in TASKS if t != "CMedQAv1-reranking"):
        write_1x(bge, task, 0.50 + 0.02 * i)
    write_1x(bge, "CMedQAv1-reranking", 0.60, stem="CMedQAv1")
    # 2.x files at the registry's revision, every split; a card conversion of AFQMC in `external` loses to it.
    e5 = root / "intfloat__multilingual-e5-base" / "d13f1b27baf31030b7fd040960d60d909913633f"
    for i, task in enumerate(TASKS):
        write_2x(e5, task, 0.55 + 0.015 * i)
    write_2x(root / "intfloat__multilingual-e5-base" / "external", "AFQMC", 0.99, version=None)
    # A card conversion (no mteb version), validation only, and both CMedQAv1.json (1.2.0, `map`) and
    # CMedQAv1-reranking.json: mteb's loader keeps the versioned one, which has no main score.
    conan = root / "TencentBAC__Conan-embedding-v1" / "external"
    for i, task in enumerate(TASKS):
        write_2x(conan, task, 0.62 + 0.01 * i, splits=["validation"] if task == "MultilingualSentiment" else None,
                 version=None)  # fmt: skip
    write_1x(conan, "CMedQAv1-reranking", 0.70, stem="CMedQAv1", version="1.2.0")
    # Renamed by mteb's registry (voyageai -> mongodb), and never in it: the leaderboard lists neither.
    for task in TASKS:
        write_2x(root / "voyageai__voyage-3" / "1", task, 0.90)
        write_2x(root / "my-org__private-model" / "r1", task, 0.95)
    return root


def build_candidate(root: Path) -> Path:
    folder = root / "Qwen__Qwen3-Embedding-0.6B" / "b22da495047858cce924d27d76261e96be6febc0"
    for i, task in enumerate(TASKS):
        write_2x(folder, task, 0.58 + 0.012 * i, version="2.26.24")
    _write(folder / "model_meta.json", {"name": CANDIDATE, "revision": folder.name})
    return folder.parent


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("leaderboard")
    return build_folder(root / "results"), build_candidate(root / "candidate")


@pytest.fixture(scope="module")
def view(folders):
    board, candidate = folders
    return evalkit.compare(candidate, suite=BENCHMARK, leaderboard=board, ci=95, resamples=200)


def mtebs_summary_table(board: Path, candidate: Path):
    """The official leaderboard's summary of `board` with the candidate's folder added, computed by mteb alone."""
    from typing import get_args

    import mteb
    from mteb.cache import ResultCache
    from mteb.models.model_meta import MODEL_TYPES

    cache = board.parent / "mteb-cache"
    shutil.copytree(board, cache / "results")
    shutil.copytree(candidate, cache / "results" / candidate.name)
    bench = mteb.get_benchmark(BENCHMARK)
    registry = [m.name for m in mteb.get_model_metas() if m.name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = ResultCache(cache).load_results(
            models=registry, only_main_score=True, require_model_meta=False, include_remote=False,
            load_experiments="match_name",
        )  # fmt: skip
        frame = results._to_results_df(bench.tasks)
        listed = mteb.get_model_metas(
            model_names=frame["model_name"].unique().to_list(), open_weights=None, use_instructions=None,
            frameworks=[], n_parameters_range=(None, None), model_types=list(get_args(MODEL_TYPES)),
        )  # fmt: skip
    frame = frame.filter(frame["model_name"].is_in([m.name for m in listed]))
    return bench._create_summary_table(frame).df


def test_the_leaderboard_equals_mtebs_own_summary_table(folders, view):
    table = mtebs_summary_table(*folders)
    rows = {r.name: r for r in view.leaderboard}
    assert sorted(rows) == sorted(table["Model"].to_list())
    assert sum(r.candidate for r in view.leaderboard) == 1 and rows[CANDIDATE].candidate
    compared = 0
    for official in table.iter_rows(named=True):
        row = rows[official["Model"]]
        assert row.borda_rank == row.rank == official["Rank (Borda)"], official["Model"]
        pairs = [(row.average, official["Mean (Task)"]), (row.mean_task_type, official["Mean (TaskType)"])]
        pairs += [(row.types[t], official[t]) for t in row.types if t in official]
        for mine, theirs in pairs:
            assert (mine.score is None) == (theirs is None), official["Model"]
            if theirs is not None:
                assert abs(mine.score - 100 * theirs) <= 1e-9
                compared += 1
    assert compared >= 8  # complete models have every mean
    assert [r.borda_rank for r in view.leaderboard] == sorted(r.borda_rank for r in view.leaderboard)


def test_the_leaderboard_leaves_out_what_the_official_one_does(view):
    assert "voyageai/voyage-3 (mteb's registry renamed it mongodb/voyage-3)" in view.unlisted
    assert "my-org/private-model (not in mteb's registry)" in view.unlisted
    assert not {"voyageai/voyage-3", "my-org/private-model"} & {r.name for r in view.leaderboard}
    rows = {r.name: r for r in view.leaderboard}
    # mteb's loader keeps CMedQAv1.json (mteb 1.2.0) over CMedQAv1-reranking.json: no main score there.
    assert "no map_at_1000" in rows["TencentBAC/Conan-embedding-v1"].gaps["CMedQAv1-reranking"]
    assert "validation only" in rows["TencentBAC/Conan-embedding-v1"].gaps["MultilingualSentiment"]
    assert rows["TencentBAC/Conan-embedding-v1"].average.score is None
    assert "no map_at_1000" in rows["BAAI/bge-small-zh"].gaps["T2Reranking"]
    assert "left out: my-org/private-model (not in mteb's registry), voyageai/voyage-3" in render_markdown(view)


def test_scores_the_leaderboard_lacks_are_shown_marked_and_left_out_of_the_means(folders):
    board, candidate = folders
    comp = evalkit.compare(candidate, [board / "BAAI__bge-small-zh"], suite=BENCHMARK, leaderboard=board)
    rows = {r.mteb_task: r for r in comp.tasks}
    # the 1.x reranking file's `map`, and MultilingualSentiment's validation split: shown, marked, with the reason
    assert rows["T2Reranking"].scores[1] == pytest.approx(100 * (0.50 + 0.02 * 4))
    assert "no map_at_1000" in rows["T2Reranking"].unofficial[1]
    assert "no map_at_1000" in rows["CMedQAv1-reranking"].unofficial[1]
    assert "validation only" in rows["MultilingualSentiment"].unofficial[1]
    assert rows["T2Reranking"].unofficial[0] is None and rows["AFQMC"].unofficial == [None, None]
    # ... and in no mean: the baseline has no Mean (Task), no Reranking mean, 4 of 7 tasks officially
    assert comp.average.aggregates[1].score is None and comp.average.aggregates[1].n_tasks == 4
    reranking = next(r for r in comp.types if r.name == "Reranking")
    assert reranking.aggregates[1].score is None and reranking.aggregates[0].score is not None
    # the candidate's numbers in the comparison are its leaderboard row's
    cand = next(r for r in comp.leaderboard if r.candidate)
    assert comp.average.aggregates[0].score == pytest.approx(cand.average.score, abs=1e-9)
    assert comp.mean_task_type.aggregates[0].score == pytest.approx(cand.mean_task_type.score, abs=1e-9)
    md = render_markdown(comp)
    assert "T2Reranking (the result the leaderboard keeps has no map_at_1000)" in md
    assert "Definitions of mteb benchmark MTEB(cmn, v1)" in md and "§" in md


def test_the_cards_suite_keeps_the_cards_definitions(folders):
    board, candidate = folders
    base = board / "intfloat__multilingual-e5-base"
    card = evalkit.compare(candidate, [base], suite="c-mteb")
    bench = evalkit.compare(candidate, [base], suite=BENCHMARK)
    cmnli = {c.definition: next(r for r in c.tasks if r.mteb_task == "Cmnli") for c in (card, bench)}
    assert (cmnli[None].metric, cmnli[BENCHMARK].metric) == ("cos_sim_ap", "max_accuracy")
    s = 0.58 + 0.012 * 1
    assert cmnli[None].scores[0] == pytest.approx(100 * s) and cmnli[BENCHMARK].scores[0] == pytest.approx(
        100 * (s - 0.07)
    )
    sentiment = {
        c.definition: next(r for r in c.tasks if r.mteb_task == "MultilingualSentiment") for c in (card, bench)
    }
    v = 0.58 + 0.012 * 2
    assert sentiment[None].scores[0] == pytest.approx(100 * v)  # the card's validation split
    assert sentiment[BENCHMARK].scores[0] == pytest.approx(100 * (v + v + 0.01) / 2)  # validation and test
    assert "the card's definition" in render_markdown(card) and "Definitions of mteb benchmark" not in render_markdown(
        card
    )
    assert card.mean_task_type is None and bench.mean_task_type is not None


def test_every_format_carries_the_leaderboards_columns(view):
    data = json.loads(render_json(view))
    assert data["definition"] == BENCHMARK
    for row in data["leaderboard"]:
        assert {"average", "mean_task_type", "types", "borda_rank", "rank_ci", "tie_group", "zero_shot"} <= set(row)
        assert isinstance(row["borda_rank"], int) and {"score", "n_tasks", "n_expected", "complete"} <= set(
            row["average"]
        )
    csv_rows = [r for r in csv.DictReader(io.StringIO(render_csv(view))) if r["section"] == "leaderboard"]
    assert len(csv_rows) == len(view.leaderboard) and all(r["borda_rank"] and r["rank_ci_low"] for r in csv_rows)
    md = render_markdown(view)
    assert "| Rank (Borda) | model | revision | tasks | Mean (Task) | Mean (TaskType) |" in md
    page = render_html(view)
    assert 'id="chart-ranks"' in page and 'id="leaderboard"' in page


def test_tasks_a_model_was_trained_on_are_marked_as_mtebs_registry_says(view):
    import mteb

    meta = mteb.get_model_meta(CANDIDATE)
    trained = meta.get_training_datasets()
    for row in view.tasks:
        assert row.trained == [row.mteb_task in trained]
    assert any(row.trained[0] for row in view.tasks) and "‡" in render_markdown(view)
    tasks = [row.mteb_task for row in view.tasks]
    rows = {r.name: r for r in view.leaderboard}
    assert rows[CANDIDATE].zero_shot == meta.zero_shot_percentage(tasks)
    assert rows["TencentBAC/Conan-embedding-v1"].zero_shot is None  # the registry lists no training data


def test_compare_on_the_command_line_with_a_benchmark_and_a_leaderboard(folders, tmp_path, capsys):
    board, candidate = folders
    out = tmp_path / "board.json"
    assert main(["compare", str(candidate), "-b", BENCHMARK, "--leaderboard", str(board), "-o", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["average"]["name"] == f"{BENCHMARK} Mean (Task)" and data["leaderboard"][0]["borda_rank"] == 1


@pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "shared").is_dir(), reason="../shared is absent")
def test_the_reference_results_as_the_official_leaderboard_shows_them():
    reference = shared_path("reference-results")
    comp = evalkit.compare(reference / "Qwen__Qwen3-Embedding-0.6B", suite=BENCHMARK, leaderboard=reference)
    rows = {r.name: r for r in comp.leaderboard if not r.candidate}
    # The cards' conversions hold MultilingualSentiment's validation split only: no Mean (Task), as on the leaderboard.
    assert rows["iampanda/zpoint_large_embedding_zh"].average.score is None
    assert rows["Qwen/Qwen3-Embedding-0.6B"].average.score == pytest.approx(66.3513, abs=1e-4)
    assert rows["intfloat/multilingual-e5-base"].average.score == pytest.approx(56.1945, abs=1e-4)


def test_a_benchmark_ranked_otherwise_than_by_borda_over_tasks_is_refused():
    from mteb.benchmarks.benchmark import Benchmark, BenchmarkAggregation

    from evalkit.errors import UserError
    from evalkit.report.benchmark import check_benchmark

    with pytest.raises(UserError, match="evalkit follows benchmarks ranked by Borda over tasks"):
        check_benchmark(Benchmark(name="B", tasks=[], aggregations=(BenchmarkAggregation.MEAN_SUBSET,)))


def test_a_fifo_in_the_leaderboard_folder_is_one_line_not_a_hang(folders, tmp_path, capsys):
    import os

    board = tmp_path / "board"
    (board / "BAAI__bge-small-zh" / "r").mkdir(parents=True)
    os.mkfifo(board / "BAAI__bge-small-zh" / "r" / "T2Retrieval.json")
    argv = ["compare", str(folders[1]), "-b", BENCHMARK, "--leaderboard", str(board)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a regular file" in err
