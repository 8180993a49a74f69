"""`compare --sweep`: checkpoints of one model as series against the step, in JSON, Markdown and the HTML chart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image
from test_report import SUITE, make_model
from test_report_browser import CHROMIUM, chromium, laid_out

import evalkit
from evalkit.cli import main
from evalkit.report.comparison import build_comparison
from evalkit.report.render import render
from evalkit.report.sweep import build_sweep
from evalkit.suite import load_suite

SAMPLE_SUITE = load_suite("sample")


def _card(folder: Path, name: str, score: float) -> Path:
    """A card with `score` (+ a little per task) as the main score of every sample-suite task."""
    results = [
        {
            "task": {"type": spec.type},
            "dataset": {"type": spec.card.type, "name": spec.card.name, "config": spec.card.config,
                        "split": spec.card.split, "revision": "None"},
            "metrics": [{"type": SAMPLE_SUITE.main_metrics[spec.type], "value": score + i}],
        }
        for i, spec in enumerate(SAMPLE_SUITE.tasks)
    ]  # fmt: skip
    front = yaml.safe_dump({"model-index": [{"name": name, "results": results}]}, sort_keys=False)
    path = folder / f"{name}.md"
    path.write_text(f"---\n{front}---\n", encoding="utf-8")
    return path


@pytest.fixture
def checkpoints(tmp_path) -> Path:
    """Results folders `my-model_step-{10,2,100}` (written in that order) and a baseline, imported from cards."""
    for step, score in ((10, 61.0), (2, 55.0), (100, 58.0)):
        evalkit.import_card(_card(tmp_path, f"my-model_step-{step}", score), tmp_path / "results", suite="sample")
    evalkit.import_card(_card(tmp_path, "base", 57.0), tmp_path / "baseline", suite="sample")
    return tmp_path


def _compare(capsys, *args: str) -> str:
    assert main(["compare", *args, "--suite", "sample"]) == 0
    return capsys.readouterr().out


def test_json_carries_the_series_in_step_order(checkpoints, capsys):
    glob = str(checkpoints / "results" / "my-model_step-*")
    report = json.loads(_compare(capsys, "--sweep", glob, str(checkpoints / "baseline"), "--format", "json"))
    points = report["sweep"]
    assert [p["step"] for p in points] == [2, 10, 100]  # step 2 before step 10, whatever the names sort as
    assert [p["label"] for p in points] == ["my-model_step-2", "my-model_step-10", "my-model_step-100"]
    assert [m["label"] for m in report["models"]] == ["my-model_step-100", "base"]  # the last one is the candidate
    for point in points:  # each checkpoint's averages are what `compare` gives it alone
        alone = evalkit.compare(point["source"], suite="sample")
        assert point["average"]["score"] == alone.average.aggregates[0].score
        assert point["average"]["complete"] is True
        assert {t: a["score"] for t, a in point["types"].items()} == {
            row.name: row.aggregates[0].score for row in alone.types
        }
    assert points[0]["average"]["score"] == pytest.approx(55.0 + 2.5)


def test_markdown_carries_the_same_series(checkpoints, capsys):
    glob = str(checkpoints / "results" / "my-model_step-*")
    text = _compare(capsys, "--sweep", glob)
    table = text[text.index("### Sweep") :].split("\n\n")[2].splitlines()
    assert table[0].startswith("| step | checkpoint | sample average | STS |")
    assert [row.split(" | ")[0] for row in table[2:]] == ["| 2", "| 10", "| 100"]
    assert table[2].split(" | ")[2] == "57.50"


def test_a_sweep_needs_numbered_checkpoints_of_one_run(checkpoints, tmp_path, capsys):
    results = checkpoints / "results"
    cases = [
        (["--sweep", str(results / "nothing-*")], "matches no model folder"),
        (["--sweep", str(results / "my-model_step-2*")], "at least two checkpoints"),
    ]
    evalkit.import_card(_card(tmp_path, "other_step-2", 50.0), results, suite="sample")
    cases.append((["--sweep", str(results / "*_step-2")], "are both step 2"))
    evalkit.import_card(_card(tmp_path, "final", 50.0), results, suite="sample")
    cases.append((["--sweep", str(results / "*")], "holds no number"))
    cases.append(([], "give the candidate's results, or --sweep"))
    for args, message in cases:
        assert main(["compare", *args, "--suite", "sample"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err
    assert main(["compare", "--sweep", str(results / "my-model_step-*"), "-b", "MTEB(cmn, v1)"]) == 2
    assert "not an mteb benchmark's" in capsys.readouterr().err


def test_intervals_where_predictions_exist(minilm, six_snapshots, tmp_path, capsys):
    for step in (2, 10):
        evalkit.evaluate(
            minilm, suite="sample", tasks=["STSB"], data_dir=six_snapshots, output_dir=tmp_path, name=f"m_step-{step}",
            save_predictions=step == 10, cache_dir=tmp_path / "cache",
        )  # fmt: skip
    out = _compare(capsys, "--sweep", str(tmp_path / "m_step-*"), "--ci", "95", "--format", "json")
    first, last = json.loads(out)["sweep"]
    assert first["types_ci"]["STS"] is None  # no predictions saved at step 2
    low, high = last["types_ci"]["STS"]
    assert low < last["types"]["STS"]["score"] < high
    assert last["average_ci"] == last["types_ci"]["STS"]  # the one task both average


@pytest.fixture(scope="module")
def sweep_html() -> str:
    steps = {2: 55.0, 10: 59.0, 100: 62.0, 1000: 60.5}
    models = [(Path(f"/results/my-model_step-{s}"), make_model(f"my-model_step-{s}", v)) for s, v in steps.items()]
    models[1] = (models[1][0], make_model("my-model_step-10", 59.0, drop=("STSB",)))  # a checkpoint lacking a task
    comp = build_comparison(models[-1][1], [make_model("base", 58.0)], SUITE)
    comp.sweep = build_sweep(models, SUITE)
    return render(comp, "html")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium browser (Debian package `chromium`, which .ci/run installs)")
def test_the_sweep_chart_draws_every_series_in_a_browser(tmp_path, sweep_html):
    _, probe = laid_out(tmp_path, sweep_html)
    assert probe["rows"]["sweep"] == 4  # a row per checkpoint
    chart = probe["charts"]["chart-sweep"]
    assert chart["box"][0] > 600 and chart["box"][1] > 300
    titles = {"c-mteb average", "STS", "PairClassification", "Classification", "Clustering", "Reranking", "Retrieval"}
    assert titles <= set(chart["texts"]) and {"1000", "step", "checkpoints", "baseline base"} <= set(chart["texts"])
    assert chart["paths"] >= 7 * 2  # per panel: the checkpoints' line and the baseline's
    figure = sweep_html[sweep_html.index('<figure id="chart-sweep">') :].split("</figure>")[0]
    assert figure.count("<use ") >= 7 * 4  # a marker per checkpoint in every panel

    shot, page = tmp_path / "sweep.png", tmp_path / "sweep.html"
    page.write_text(sweep_html, encoding="utf-8")
    run = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1400,2600", "--hide-scrollbars")
    assert shot.is_file(), run.stderr[-2000:]
    colors = set(Image.open(shot).convert("RGB").getdata())
    for hex_color in ("#1f77b4", "#ff7f0e"):  # the checkpoints' series, the baseline's dashed line
        assert tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5)) in colors, f"no {hex_color} pixels ({shot})"
