#!/usr/bin/env bash
# GPU readiness check of hent-srt (scripts/gpu_check.py): the losses' CUDA paths against CPU float64, 50 training
# steps of the published 73.1 M-parameter model with bf16 and with fp16 + GradScaler (audio seconds per second,
# peak memory, MFU), 10 DDP steps through torchrun with NCCL, greedy and beam-4 decoding with RTF; a table and a
# summary line, in at most 8 minutes on one GPU, with generated data only.
#   scripts/gpu_check.sh [--json-out results.json] [options of scripts/gpu_check.py --help]
#   scripts/gpu_check.sh --dry-run        # the whole script on the CPU with the tiny preset (no GPU needed)
# Exit status: 0 all checks passed, 1 a check failed, 2 no CUDA device (or a wrong option).
# Python: $PYTHON if set, else the project's .venv, else python3 (with torch, lhotse and the other dependencies
# of hent-srt; a CUDA build of torch for the GPU run: make install TORCH_SPEC="torch==... --index-url ...").
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then python=$repo/.venv/bin/python; else python=python3; fi
fi
missing=$("$python" - <<'PY'
import importlib.util
print(" ".join(m for m in ("torch", "lhotse", "sacrebleu", "tensorboard", "yaml", "tqdm") if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
  echo "gpu_check: $python lacks the Python package(s) $missing; install hent-srt's dependencies (make install)" >&2
  exit 2
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$python" "$repo/scripts/gpu_check.py" "$@"
