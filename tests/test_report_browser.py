"""The HTML report in headless Chromium: tables laid out, charts drawn, nothing fetched."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import HANG, child_env
from PIL import Image
from test_report import SUITE, make_model

from evalkit.report.comparison import build_comparison, build_leaderboard
from evalkit.report.html import NEGATIVE, POSITIVE, render_html

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium browser (Debian package `chromium`, which .ci/run installs)"
)

# Measures the laid-out page and writes the numbers into the DOM, where --dump-dom shows them.
PROBE = """<script>
const box = el => { const r = el.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
const drawn = sel => [...document.querySelectorAll(sel)]
  .filter(p => { const b = p.getBBox(); return b.width > 0 && b.height > 0; }).length;
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify({
  rows: Object.fromEntries([...document.querySelectorAll("table")].map(t => [t.id, t.tBodies[0].rows.length])),
  tasksBox: box(document.getElementById("tasks")),
  charts: Object.fromEntries([...document.querySelectorAll("figure")].map(f => [f.id, {
    box: box(f.querySelector("svg")),
    paths: drawn("#" + f.id + " svg path"),
    texts: [...f.querySelectorAll("text")].map(t => t.textContent),
  }])),
});
document.body.append(out);
</script>"""


def chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a file, offline, with a throwaway profile."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    command = [CHROMIUM, *flags, *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=HANG)


def laid_out(tmp_path: Path, page_html: str) -> tuple[str, dict]:
    """The page laid out in Chromium (its Content-Security-Policy off, so that PROBE runs): the DOM and PROBE's
    measurements."""
    page = tmp_path / "probe.html"
    page.write_text(
        page_html.replace('<meta http-equiv="Content-Security-Policy"', '<meta name="csp-off"').replace(
            "</body>", PROBE + "</body>"
        ),
        encoding="utf-8",
    )
    run = chromium(tmp_path, page, "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, json.loads(run.stdout.split('<pre id="probe">')[1].split("</pre>")[0].replace("&quot;", '"'))


@pytest.fixture(scope="module")
def report_html() -> str:
    cand = make_model("candidate-model", 62.0, scores={"CovidRetrieval": 55.0, "STSB": 70.0})
    baselines = [make_model("base-a", 60.0), make_model("base-b", 63.0, drop=("STSB",))]
    comp = build_comparison(cand, baselines, SUITE)
    comp.leaderboard = build_leaderboard(cand, [*baselines, make_model("leader", 65.0)], SUITE)
    return render_html(comp)


class _Rows(HTMLParser):
    """Counts body rows per table id."""

    def __init__(self):
        super().__init__()
        self.table, self.rows = None, {}

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.table = dict(attrs)["id"]
        elif tag == "tr" and self.table:
            self.rows[self.table] = self.rows.get(self.table, 0) + 1


def test_tables_and_charts_render(tmp_path, report_html):
    dom, probe = laid_out(tmp_path, report_html)
    parser = _Rows()
    parser.feed(dom)
    assert parser.rows == {"averages": 8, "tasks": 36, "leaderboard": 5}  # with header rows
    assert probe["rows"] == {"averages": 7, "tasks": 35, "leaderboard": 4}
    assert probe["tasksBox"][0] > 500 and probe["tasksBox"][1] > 35 * 15
    charts = probe["charts"]
    assert set(charts) == {"chart-averages", "chart-deltas", "chart-leaderboard"}
    for chart in charts.values():
        assert chart["box"][0] > 300 and chart["box"][1] > 150
    assert charts["chart-averages"]["paths"] >= 3 * 7  # a bar per model and average
    assert charts["chart-deltas"]["paths"] >= 2 * 35 - 2  # a bar per task and baseline, bar an n/a
    assert {"CovidRetrieval", "STSB", "Retrieval"} <= set(
        charts["chart-deltas"]["texts"] + charts["chart-averages"]["texts"]
    )


def test_screenshot_shows_the_charts(tmp_path, report_html):
    page = tmp_path / "report.html"
    page.write_text(report_html, encoding="utf-8")
    shot = tmp_path / "report.png"
    run = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1280,4000", "--hide-scrollbars")
    assert shot.is_file(), run.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    colors = set(image.getdata())
    for hex_color in (POSITIVE, NEGATIVE, "#1f77b4"):  # delta bars up and down; the first model's average bars
        rgb = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colors, f"no {hex_color} pixels: a chart did not render ({shot})"


def test_the_pareto_chart_draws_each_average_and_its_front(tmp_path):
    from test_quality_per_byte import sweep_comparison

    from evalkit.report.html import HIGHLIGHT

    page_html = render_html(sweep_comparison(intervals=True))
    _, probe = laid_out(tmp_path, page_html)
    assert probe["rows"]["pareto"] == 10  # a row per model, the unsized card included
    chart = probe["charts"]["chart-pareto"]
    assert chart["box"][0] > 600 and chart["box"][1] > 300
    texts = set(chart["texts"])
    assert {"sample average", "STS", "Retrieval", "dim128 int8", "m", "twin", "Pareto front"} <= texts
    assert "dim32 binary (5/6)" in texts  # an incomplete average is drawn, marked, and never on the front
    assert "card" not in texts  # its size is unknown: neither placed nor in the legend
    page, shot = tmp_path / "pareto.html", tmp_path / "pareto.png"
    page.write_text(page_html, encoding="utf-8")
    run = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1400,3000", "--hide-scrollbars")
    assert shot.is_file(), run.stderr[-2000:]
    rgb = tuple(int(HIGHLIGHT[i : i + 2], 16) for i in (1, 3, 5))
    assert rgb in set(Image.open(shot).convert("RGB").getdata()), f"the front line is not drawn ({shot})"
