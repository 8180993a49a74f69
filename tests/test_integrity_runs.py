"""Issue 15, the items that need a run: the embedding cache deletes only its own files and never yields a wrong
number (property-based corruption against a `--no-cache` run), a full cache disk is an optimisation lost, an
unwritable results folder is one line, and `--overwrite` never mixes model identities in one folder."""

from __future__ import annotations

import errno
import io
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
from conftest import child_env, run_sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cache import DEDUP_TOLERANCE, MODEL_DIR
from test_integrity import one_error_line

import evalkit
from evalkit.cli import main
from evalkit.run.cache import KEYS_MAGIC, MARKER, EmbeddingStore, _digest, _parse_keys

TASKS = ["STSB", "CovidRetrieval"]  # CovidRetrieval is the reproduction: 47.38, or 28.12 from a bad shard
POINTS = DEDUP_TOLERANCE * 100  # the cached run's float-rounding allowance, on the card's scale


def _evaluate(model, data_dir, output_dir, **kwargs) -> dict[str, tuple[str, float | None, str]]:
    """Each task's (status, main score, error) of an in-process run of the in-memory MiniLM."""
    report = evalkit.evaluate(
        model, name="minilm", tasks=TASKS, suite="sample", data_dir=data_dir, output_dir=output_dir, **kwargs
    )
    return {o.spec.mteb_task: (o.status, o.main_score, o.error) for o in report.outcomes}


@pytest.fixture(scope="module")
def reference(minilm, six_snapshots, tmp_path_factory) -> dict[str, float]:
    """The main scores of a `--no-cache` run: the truth every cached run must give."""
    outcomes = _evaluate(minilm, six_snapshots, tmp_path_factory.mktemp("reference"), cache=False)
    return {task: score for task, (status, score, _) in outcomes.items() if status == "done"}


@pytest.fixture(scope="module")
def clean_cache(minilm, six_snapshots, tmp_path_factory, reference):
    """An embedding cache filled by one cached run, whose scores agree with the reference."""
    cache = tmp_path_factory.mktemp("clean-cache")
    outcomes = _evaluate(minilm, six_snapshots, tmp_path_factory.mktemp("cached"), cache_dir=cache)
    assert {t: s for t, (_, s, _) in outcomes.items()} == pytest.approx(reference, abs=POINTS)
    return cache


def run_error_line(argv: list[str], capsys) -> str:
    """`run_eval.py run ARGV` in this process: exit status 2, no traceback, and stderr ending in one `error:` line
    (the model's loading progress may come before it)."""
    assert main(["run", "--model", "bundled:minilm", "--suite", "sample", "--device", "cpu", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: "), err
    assert sum(line.startswith("error: ") for line in err.splitlines()) == 1
    return err.strip().splitlines()[-1]


def _shards(cache: pathlib.Path) -> list[pathlib.Path]:
    return sorted(cache.glob("*/*.npy"))


def _corrupt(path: pathlib.Path, kind: str, rng: np.random.Generator) -> None:
    """Damage one shard the way a disk, a careless copy or another program could."""
    data = path.read_bytes()
    vectors = np.load(io.BytesIO(data))
    if kind == "bytes":  # random payload, the .npy header kept
        with path.open("rb") as f:
            np.lib.format.read_magic(f)
            np.lib.format.read_array_header_1_0(f)
            start = f.tell()
        path.write_bytes(data[:start] + rng.bytes(len(data) - start))
    elif kind == "truncate":
        path.write_bytes(data[: int(rng.integers(0, len(data)))])
    elif kind == "nan":
        vectors = vectors.copy()
        vectors[rng.integers(0, len(vectors), size=max(1, len(vectors) // 3))] = np.nan
        np.save(path, vectors)
    elif kind == "dim":
        np.save(path, np.ascontiguousarray(vectors[:, : int(rng.integers(1, vectors.shape[1]))]))
    elif kind == "dtype":
        np.save(path, vectors.astype(rng.choice([np.float16, np.float64])))
    elif kind == "rows":  # the right vectors in the wrong order
        np.save(path, vectors[rng.permutation(len(vectors))] if len(vectors) > 1 else -vectors)


# ---------------------------------------------------------------- 4: corrupt shards never give a wrong number


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["bytes", "truncate", "nan", "dim", "dtype", "rows"]),
    every_shard=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_4_corrupt_cache_gives_the_no_cache_scores(
    minilm, six_snapshots, clean_cache, reference, tmp_path_factory, kind, every_shard, seed
):
    rng = np.random.default_rng(seed)
    cache = tmp_path_factory.mktemp("cache")
    shutil.copytree(clean_cache, cache, dirs_exist_ok=True)
    shards = _shards(cache)
    for path in shards if every_shard else [shards[seed % len(shards)]]:
        _corrupt(path, kind, rng)
    outcomes = _evaluate(minilm, six_snapshots, tmp_path_factory.mktemp("out"), cache_dir=cache)
    for task, (status, score, error) in outcomes.items():
        if status == "failed":
            assert error, task  # a clear reason, never a silent wrong number
        else:
            assert status == "done" and score == pytest.approx(reference[task], abs=POINTS), (task, kind)
    assert list(cache.glob("*/*.bad")), "the damaged shard was not quarantined"


def test_4_random_shard_bytes_are_quarantined_and_encoded_again(
    minilm, six_snapshots, clean_cache, reference, tmp_path
):
    cache = tmp_path / "cache"
    shutil.copytree(clean_cache, cache)
    rng = np.random.default_rng(0)
    for path in _shards(cache):
        _corrupt(path, "bytes", rng)
    first = _evaluate(minilm, six_snapshots, tmp_path / "out", cache_dir=cache)
    assert {t: s for t, (_, s, _) in first.items()} == pytest.approx(reference, abs=POINTS)
    assert len(list(cache.glob("*/*.npy.bad"))) == len(list(clean_cache.glob("*/*.npy")))
    again = _evaluate(minilm, six_snapshots, tmp_path / "out2", cache_dir=cache)  # the texts were stored afresh
    assert {t: s for t, (_, s, _) in again.items()} == pytest.approx(reference, abs=POINTS)


@pytest.mark.parametrize("size", [0, 50])
def test_4_a_short_npy_does_not_fail_its_tasks_on_every_rerun(minilm, six_snapshots, clean_cache, tmp_path, size):
    cache = tmp_path / "cache"
    shutil.copytree(clean_cache, cache)
    for path in _shards(cache):
        path.write_bytes(path.read_bytes()[:size])
    for rerun in range(2):
        outcomes = _evaluate(minilm, six_snapshots, tmp_path / f"out{rerun}", cache_dir=cache)
        assert {status for status, _, _ in outcomes.values()} == {"done"}


# ---------------------------------------------------------------- 1: the cache deletes only what it wrote


def test_1_a_folder_that_is_not_a_cache_is_refused_and_kept(tmp_path, capsys):
    mine = tmp_path / "data" / "x" / "mine.npy"
    mine.parent.mkdir(parents=True)
    np.save(mine, np.zeros(3))
    argv = ["--tasks", "STSB", "--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "data")]
    line = run_error_line(["--cache-max-gb", "1e-9", *argv], capsys)
    assert "--cache-dir" in line and "not an evalkit embedding cache" in line
    assert mine.is_file() and not (tmp_path / "data" / MARKER).exists()


def test_1_eviction_deletes_only_shards(tmp_path):
    rng = np.random.default_rng(0)
    store = EmbeddingStore(tmp_path, "model", max_bytes=1)
    assert (tmp_path / MARKER).is_file()
    mine = [tmp_path / "model" / "mine.npy", tmp_path / "x" / "mine.npy", tmp_path / "model" / "1-2-3.keys"]
    for path in mine:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"the user's")
    for run in (store, EmbeddingStore(tmp_path, "model", max_bytes=1), EmbeddingStore(tmp_path, "model", max_bytes=1)):
        run.add([rng.bytes(32) for _ in range(5)], rng.standard_normal((5, 4)).astype(np.float32))
    assert all(path.read_bytes() == b"the user's" for path in mine)
    # the newest run's shard (a run keeps its own while it runs), and the user's file
    assert len(list((tmp_path / "model").glob("*.npy"))) == 2


# ---------------------------------------------------------------- 13: a full cache disk loses only the cache


def test_13_a_full_cache_disk_warns_once_and_goes_on(six_snapshots, tmp_path, monkeypatch, caplog):
    def no_space(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pathlib.Path, "write_bytes", no_space)
    argv = ["--tasks", "STSB,Ocnli", "--data-dir", str(six_snapshots), "--output-dir", str(tmp_path / "out")]
    assert run_sample(*argv, "--cache-dir", str(tmp_path / "cache")) == 0
    warnings = [r for r in caplog.records if "embedding cache: cannot write" in r.getMessage()]
    assert len(warnings) == 1 and "No space left" in warnings[0].getMessage()
    assert sorted(p.stem for p in (tmp_path / "out" / MODEL_DIR / "no_revision_available").glob("[SO]*.json")) == [
        "Ocnli",
        "STSB",
    ]


# ---------------------------------------------------------------- 12: an unwritable results folder


def test_12_a_full_results_disk_is_one_line_and_keeps_what_is_written(six_snapshots, tmp_path, monkeypatch, capsys):
    argv = ["--tasks", "STSB", "--data-dir", str(six_snapshots), "--output-dir", str(tmp_path), "--no-cache"]
    assert run_sample(*argv) == 0
    done = tmp_path / MODEL_DIR / "no_revision_available" / "STSB.json"
    before = done.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("evalkit.fileio.os.fsync", no_space)
    capsys.readouterr()
    line = run_error_line([*argv, "--overwrite"], capsys)
    assert "model_meta.json: cannot write (No space left on device)" in line
    assert done.read_bytes() == before and json.loads(before)["task_name"] == "STSB"


# ---------------------------------------------------------------- 8: `--overwrite` never mixes identities


def test_8_overwrite_with_other_options_never_mixes(six_snapshots, tmp_path, capsys):
    argv = ["--data-dir", str(six_snapshots), "--output-dir", str(tmp_path), "--no-cache"]
    assert run_sample("--tasks", "STSB,Ocnli", *argv) == 0
    folder = tmp_path / MODEL_DIR / "no_revision_available"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    capsys.readouterr()
    line = run_error_line([*argv, "--overwrite", "--tasks", "STSB", "--max-seq-length", "8"], capsys)
    assert "Ocnli" in line and "other weights or options" in line
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert run_sample("--tasks", "STSB,Ocnli", *argv, "--overwrite", "--max-seq-length", "8") == 0  # all again: fine
    identities = {json.loads((folder / f"{t}.json").read_text())["model_identity"] for t in ("STSB", "Ocnli")}
    assert len(identities) == 1 and identities == {
        json.loads((folder / "model_meta.json").read_text())["model_identity"]
    }


# ================================================================ issue 26: the second round
# Each test follows a reproduction of issue 26 (`test_26_<item>_...`); the others are in `test_integrity.py`.

FOLDER = pathlib.Path(MODEL_DIR) / "no_revision_available"


@pytest.fixture(scope="module")
def reranked(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path]:
    """T2Reranking of the sample suite with `--save-predictions`: a baseline, and a candidate cut to 3 tokens."""
    out = tmp_path_factory.mktemp("reranked")
    common = ["--tasks", "T2Reranking", "--save-predictions", "--no-cache"]
    assert run_sample(*common, "--output-dir", str(out / "base")) == 0
    assert run_sample(*common, "--output-dir", str(out / "cand"), "--max-seq-length", "3") == 0
    return out / "base" / FOLDER, out / "cand" / FOLDER


def test_26_1_a_copied_predictions_file_never_decides_the_gate(reranked, tmp_path, capsys):
    base, cand = reranked
    gate = ["--suite", "sample", "--significance", "0.05"]
    assert main(["check", str(cand), "--baseline", str(base), *gate]) == 1  # its own predictions: a regression
    capsys.readouterr()
    copy = tmp_path / "cand"
    shutil.copytree(cand, copy)
    shutil.copy(base / "T2Reranking.predictions.json.gz", copy)  # the baseline's predictions beside the candidate
    line = one_error_line(["check", str(copy), "--baseline", str(base), *gate], capsys)
    assert str(copy / "T2Reranking.predictions.json.gz") in line
    assert "74.17" in line and "47.08" in line  # the scores of both: what the predictions give, what is stored
    line = one_error_line(["compare", str(copy), str(base), "--suite", "sample", "--ci", "95"], capsys)
    assert "T2Reranking.predictions.json.gz" in line and "47.08" in line


def test_26_2_a_result_file_that_is_a_link_is_replaced_never_written_through(six_snapshots, tmp_path):
    argv = ["--tasks", "STSB", "--data-dir", str(six_snapshots), "--no-cache"]
    assert run_sample(*argv, "--output-dir", str(tmp_path / "other"), "--max-seq-length", "8") == 0
    other = tmp_path / "other" / FOLDER / "STSB.json"  # another model's result
    victim = tmp_path / "victim.txt"
    victim.write_text("VICTIM")
    for target in (other, victim):
        kept = target.read_bytes()
        folder = tmp_path / f"out-{target.stem}" / FOLDER
        folder.mkdir(parents=True)
        (folder / "STSB.json").symlink_to(target)
        assert run_sample(*argv, "--output-dir", str(folder.parents[1]), "--overwrite") == 0
        assert target.read_bytes() == kept
        written = folder / "STSB.json"
        assert not written.is_symlink() and json.loads(written.read_text())["task_name"] == "STSB"


@pytest.mark.parametrize("foreign", [["STSB"], ["STSB", "Ocnli"]], ids=["one", "two"])
def test_26_3_another_identitys_results_without_model_meta_are_kept(six_snapshots, tmp_path, capsys, foreign):
    argv = ["--data-dir", str(six_snapshots), "--output-dir", str(tmp_path), "--no-cache"]
    assert run_sample("--tasks", ",".join(foreign), *argv, "--max-seq-length", "8") == 0
    folder = tmp_path / FOLDER
    for path in folder.iterdir():
        if path.stem not in foreign:  # model_meta.json, run_summary.json, model-index.yaml
            path.unlink()
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    capsys.readouterr()
    line = run_error_line(["--tasks", "STSB", *argv], capsys)
    assert "STSB" in line and "other weights or options" in line
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    if len(foreign) > 1:  # --overwrite still keeps what this run would not evaluate again
        assert "Ocnli" in run_error_line(["--tasks", "STSB", *argv, "--overwrite"], capsys)
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs of its own (mounting needs root), unmounted after the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
            capture_output=True,
            text=True,
            env=child_env(),
        )
    except FileNotFoundError:
        pytest.skip("no `mount` here: a real full filesystem needs a tmpfs")
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): a real full filesystem needs one")
    yield disk
    subprocess.run(["umount", str(disk)], check=True, env=child_env())


def _fill(disk: pathlib.Path) -> None:
    """Write to `disk` until it is full."""
    with open(disk / "filler", "wb", buffering=0) as f:
        with pytest.raises(OSError) as full:
            while True:
                f.write(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC


def _cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "embedding cache: cannot write" in r.getMessage()]


@pytest.mark.parametrize("trouble", ["full", "read-only"])
def test_26_4_a_cache_that_cannot_be_written_costs_only_speed(six_snapshots, tmp_path, small_disk, caplog, trouble):
    cache = small_disk / "cache"
    argv = ["--data-dir", str(six_snapshots), "--cache-dir", str(cache)]
    assert run_sample("--tasks", "STSB", *argv, "--output-dir", str(tmp_path / "first")) == 0
    assert list(cache.glob("*/*.npy")) and list(cache.glob(".models/*.json"))  # some of the model's shards
    if trouble == "full":
        _fill(small_disk)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True, env=child_env())
    for rerun in range(2):  # the model loads for Ocnli's texts, and wants to write its facts and shards
        caplog.clear()
        out = tmp_path / f"rerun{rerun}"
        assert run_sample("--tasks", "STSB,Ocnli", *argv, "--output-dir", str(out)) == 0
        assert sorted(p.stem for p in (out / FOLDER).glob("[SO]*.json")) == ["Ocnli", "STSB"]
        (warning,) = _cache_warnings(caplog)
        assert ("No space left" if trouble == "full" else "Read-only") in warning
    assert not [p for p in small_disk.rglob("*") if p.name.endswith(".tmp")]


def test_26_4_a_new_cache_on_a_full_disk_costs_only_speed(six_snapshots, tmp_path, small_disk, caplog):
    _fill(small_disk)
    cache = small_disk / "new-cache"
    argv = ["--tasks", "STSB", "--data-dir", str(six_snapshots), "--output-dir", str(tmp_path / "out")]
    assert run_sample(*argv, "--cache-dir", str(cache)) == 0
    (warning,) = _cache_warnings(caplog)
    assert "No space left" in warning
    assert not (cache / MARKER).exists()  # no empty marker left behind


def test_26_9_nan_in_a_validly_signed_shard_is_quarantined(minilm, six_snapshots, clean_cache, reference, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(clean_cache, cache)
    for npy in _shards(cache):  # NaN rows, signed as a buggy encoder or an older evalkit would have signed them
        vectors = np.load(npy)
        vectors[::3] = np.nan
        np.save(npy, vectors)
        keys_file = npy.with_suffix(".keys")
        header, keys = _parse_keys(keys_file.read_bytes())
        header["sha256"] = _digest(npy, keys)
        keys_file.write_bytes(KEYS_MAGIC + json.dumps(header).encode() + b"\n" + keys)
    outcomes = _evaluate(minilm, six_snapshots, tmp_path / "out", cache_dir=cache)
    assert {task: score for task, (_, score, _) in outcomes.items()} == pytest.approx(reference, abs=POINTS)
    assert len(list(cache.glob("*/*.npy.bad"))) == len(_shards(clean_cache))
