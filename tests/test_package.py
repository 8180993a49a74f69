"""The package as users get it: a wheel that carries the suites, the Python API, file modes, the import layout."""

from __future__ import annotations

import ast
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HANG, REPO, SAMPLE, child_env, run_sample, shared_path

import evalkit

CLI = "import sys; from evalkit.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """evalkit built as a wheel from a copy of the checkout and installed into a folder apart from it."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name if source.exists() else _mkdir(source) / name)
    for name in ("evalkit", "tasks"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(work)], env=child_env(), check=True
    )
    (wheel,) = work.glob("evalkit-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(work / "site"), str(wheel)], env=child_env(), check=True
    )
    return work / "site"


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _cli(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = child_env(PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=HANG
    )


def test_the_wheel_carries_the_suites_and_the_sample_data(installed_wheel, tmp_path):
    where = subprocess.run(
        [sys.executable, "-c", "import evalkit; print(evalkit.__file__)"],
        cwd=tmp_path,
        env=child_env(PYTHONPATH=str(installed_wheel)),
        capture_output=True,
        text=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed_wheel)  # the wheel, not the checkout
    listed = _cli(installed_wheel, tmp_path, "tasks", "--suite", "c-mteb")
    assert listed.returncode == 0, listed.stderr
    assert "35 tasks in" in listed.stdout and str(installed_wheel) in listed.stdout
    run = _cli(installed_wheel, tmp_path, "run", "--model", "bundled:minilm", "--suite", "sample", "--device", "cpu")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "6 of 6 result(s) are in results" in run.stdout
    assert len(list((tmp_path / "results").rglob("*.json"))) == 6 + 2  # tasks, model_meta, run_summary


def test_evaluate_an_in_memory_model_writes_what_run_writes(minilm, six_snapshots, tmp_path):
    tasks = ["STSB", "CovidRetrieval"]
    common = ("--tasks", ",".join(tasks), "--data-dir", str(six_snapshots), "--no-cache")
    assert run_sample(*common, "--output-dir", str(tmp_path / "cli")) == 0
    old = os.umask(0o027)
    try:
        report = evalkit.evaluate(
            minilm, tasks=tasks, suite="sample", data_dir=six_snapshots, output_dir=tmp_path / "api",
            name="my-checkpoint", cache=False,
        )  # fmt: skip
    finally:
        os.umask(old)
    assert [o.status for o in report.outcomes] == ["done", "done"]
    folder = tmp_path / "api" / "my-checkpoint" / "no_revision_available"
    assert report.folders == [folder]
    reference = tmp_path / "cli" / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available"
    for task in tasks:
        ours = json.loads((folder / f"{task}.json").read_text())["scores"]
        theirs = json.loads((reference / f"{task}.json").read_text())["scores"]
        for entry in (*ours.values(), *theirs.values()):
            entry[0].pop("evaluation_time", None)
        assert ours == theirs
    written = [*folder.iterdir()]
    assert {p.name for p in written} >= {"model_meta.json", "run_summary.json", "model-index.yaml"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {oct(0o640)}  # 0666 less the umask


def test_an_in_memory_checkpoint_that_trained_on_is_not_served_old_embeddings(minilm, six_snapshots, tmp_path):
    import torch

    cache = tmp_path / "cache"
    first = evalkit.evaluate(
        minilm, tasks=["STSB"], suite="sample", data_dir=six_snapshots, output_dir=tmp_path / "a", cache_dir=cache
    )
    state = {k: v.clone() for k, v in minilm.state_dict().items()}
    try:
        with torch.no_grad():
            next(minilm.parameters()).mul_(0.5)  # one more training step, as far as identity goes
        second = evalkit.evaluate(
            minilm, tasks=["STSB"], suite="sample", data_dir=six_snapshots, output_dir=tmp_path / "b", cache_dir=cache
        )
    finally:
        minilm.load_state_dict(state)
    assert first.stats.texts_encoded > 0 and second.stats.texts_encoded == first.stats.texts_encoded


def test_files_follow_the_umask_and_an_updated_card_keeps_its_mode(tmp_path):
    card = shared_path("seed", "zpoint_large_embedding_zh.README.md")
    old = os.umask(0o022)
    try:
        (folder,) = evalkit.import_card(card, tmp_path / "results")
        report = tmp_path / "report.html"
        from evalkit.cli import main

        assert main(["compare", str(folder), "--output", str(report)]) == 0
        readme = tmp_path / "README.md"
        readme.write_text(card.read_text(encoding="utf-8").replace("cos_sim_pearson", "x_pearson"), encoding="utf-8")
        readme.chmod(0o664)
        assert evalkit.update_card(readme, evalkit.model_index(folder)) is True
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o644}
    assert stat.S_IMODE(report.stat().st_mode) == 0o644
    assert stat.S_IMODE(readme.stat().st_mode) == 0o664


def test_the_api_raises_user_errors_naming_parameters_not_flags(tmp_path):
    from evalkit.errors import OptionError, UserError

    with pytest.raises(OptionError, match=r"^device 'quantum': use auto"):
        evalkit.evaluate("bundled:minilm", suite="sample", device="quantum", data_dir=SAMPLE, output_dir=tmp_path)
    with pytest.raises(UserError, match="unknown task 'STSX'"):
        evalkit.evaluate("bundled:minilm", suite="sample", tasks=["STSX"])


def _layer(module: str) -> int:
    """cli and integrations above the API, the API above report and run, those above results, results above the
    suite, then leaves."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("cli", "__main__", "integrations"):
        return 5
    if module == "evalkit":
        return 4
    if len(parts) > 1 and parts[1] in ("report", "run"):
        return 3
    if len(parts) > 1 and parts[1] == "results":
        return 2
    return 1 if module == "evalkit.suite" else 0


def _import_graph() -> dict[str, set[str]]:
    """Each evalkit module -> the evalkit modules it imports, at the top or inside functions."""
    root = REPO / "evalkit"
    modules = {
        ".".join(("evalkit", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): p
        for p in root.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:  # a submodule by name, else the module itself
                targets.update(
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                    for a in node.names
                )
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_imports_flow_one_way_and_have_no_cycle():
    graph = _import_graph()
    upward = [(a, b) for a, targets in graph.items() for b in targets if _layer(b) > _layer(a)]
    assert upward == []
    package = {m: (m.split(".") + [""])[1] for m in graph}
    across = [(a, b) for a, t in graph.items() for b in t if {package[a], package[b]} == {"report", "run"}]
    assert across == []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])
