#!/usr/bin/env bash
# Makes the torch venv hark-train builds and runs against (idempotent): PyPI's torch 2.13.0,
# the version tch 0.26 is written for. The PyPI wheel is the CUDA build; it runs on CPU too,
# so one venv serves a laptop, CI and a CUDA workstation. About 5 GB; pip's cache
# (~/.cache/pip) keeps a second install off the network.
#   bash train/setup.sh            # then: source train/env.sh
# TORCH_VENV picks another folder (default: train/.venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${TORCH_VENV:-$here/.venv}
want=2.13.0
if [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$want" <<'PY' 2>/dev/null
import sys, torch
sys.exit(0 if torch.__version__.split("+")[0] == sys.argv[1] else 1)
PY
then
  exit 0
fi
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "train/setup.sh: $python not found (need Python ≥ 3.10 with venv)" >&2; exit 1; }
echo "train/setup.sh: installing torch==$want into $venv (about 5 GB)" >&2
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet "torch==$want"
"$venv/bin/python" -c "import torch; print('train/setup.sh: torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'cpu')" >&2
