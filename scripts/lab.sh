#!/usr/bin/env bash
# Read and run the notebooks by hand: JupyterLab on notebooks/ with the project's `lmle` kernel.
#
#   scripts/lab.sh [--data-root DIR] [JupyterLab options, e.g. --no-browser --port 8899]
#   ./run_all.sh --lab [...]                                  (the same)
#
# Sets itself up with the same bootstrap as run_all.sh. The data root is --data-root, else
# $LMLE_DATA_ROOT, else ./data: a notebook opened here finds the same data as run_all.sh, and writes
# its results under results/interactive/<study>/ (never over a profile's committed results).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$("$repo/scripts/bootstrap.sh")"
if [[ "${LMLE_USE_CURRENT_ENV:-0}" == "1" ]]; then
    py="$(command -v "${PYTHON:-python3}")"
else
    py="$venv/bin/python"
fi
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --data-root) [[ $# -ge 2 ]] || { echo "lab: --data-root needs a folder" >&2; exit 2; }
                     data_root="$2"; shift 2 ;;
        --data-root=*) data_root="${1#--data-root=}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
if [[ -n "${data_root:-}" ]]; then
    [[ -d "$data_root" ]] || echo "lab: warning: the data root $data_root does not exist" >&2
    LMLE_DATA_ROOT="$(cd "$data_root" 2>/dev/null && pwd || echo "$data_root")"
    export LMLE_DATA_ROOT
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
echo "lab: data root ${LMLE_DATA_ROOT:-$repo/data (default)}; notebooks write to results/interactive/<study>/" >&2
[[ "$(id -u)" == "0" ]] && args+=("--allow-root")  # containers often run as root; JupyterLab refuses it otherwise
exec "$py" -m jupyter lab --notebook-dir "$repo/notebooks" "${args[@]}"
