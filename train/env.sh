# Sourced (not run): points tch's build and run time at the torch venv that train/setup.sh made.
#   source train/env.sh
# LIBTORCH_USE_PYTORCH makes torch-sys ask that venv's python where libtorch lives.
_hark_train_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Deliberately not HARK_…: the daemon reads every HARK_ variable as configuration.
TORCH_VENV="${TORCH_VENV:-$_hark_train_dir/.venv}"
export TORCH_VENV
export LIBTORCH_USE_PYTORCH=1
export PATH="$TORCH_VENV/bin:$PATH"
_hark_torch_lib="$("$TORCH_VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)"
if [ -n "$_hark_torch_lib" ]; then
  export LD_LIBRARY_PATH="$_hark_torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  echo "train/env.sh: no torch in $TORCH_VENV; run: bash train/setup.sh" >&2
fi
unset _hark_train_dir _hark_torch_lib
