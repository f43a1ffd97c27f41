#!/usr/bin/env bash
# Create (once per machine) and reuse the project's Python environment.
#
#   venv=$(scripts/bootstrap.sh)      # prints the environment's prefix on stdout, nothing else
#
# The venv lives at
#   ${LMLE_ENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lmle-envs}/py311-<sha256(requirements-lock.txt)[:16]>
# and is shared by every clone of the project on this machine (the package itself is
# NOT installed into it: callers put the repository on PYTHONPATH). It is built in place
# under a lock, and a `.complete` marker is written last; an interrupted build is removed
# and redone on the next call. When it is already built this takes well under a second
# and prints nothing on stderr.
#
# Environment:
#   PYTHON                 interpreter used to create the venv (default python3; must be 3.11,
#                          the version requirements-lock.txt was resolved for)
#   LMLE_ENV_CACHE         where venvs are kept (default $XDG_CACHE_HOME/lmle-envs or ~/.cache/lmle-envs)
#   LMLE_USE_CURRENT_ENV=1 use the active Python environment as is (e.g. a GPU machine that brings
#                          its own torch / a conda env from environment.yml): only check that the
#                          dependencies import and that a Jupyter kernel named `lmle` exists
#                          (registered with --user if missing). Prints that environment's prefix.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock_file="$repo/requirements-lock.txt"
kernel_name="lmle"
kernel_display="Python (lmle)"
python_bin="${PYTHON:-python3}"

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

# ----------------------------------------------------------------------------------------------
# Mode 1: the already-active environment, as is.
# ----------------------------------------------------------------------------------------------
if [[ "${LMLE_USE_CURRENT_ENV:-0}" == "1" ]]; then
    command -v "$python_bin" >/dev/null 2>&1 || die "LMLE_USE_CURRENT_ENV=1 but '$python_bin' is not on PATH (set PYTHON=...)"
    # Locate every dependency without importing it (importing torch alone takes seconds), and import lmle_core.
    missing="$(PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$python_bin" - <<'EOF'
import importlib.util
import lmle_core  # noqa: F401
mods = ["numpy", "scipy", "pandas", "PIL", "matplotlib", "yaml", "tqdm", "sklearn", "torch", "papermill",
        "nbformat", "ipykernel", "jupyter_client", "pytest"]
print(" ".join(m for m in mods if importlib.util.find_spec(m) is None))
EOF
)" || die "LMLE_USE_CURRENT_ENV=1: '$python_bin' cannot import lmle_core from $repo (see above)"
    if [[ -n "$missing" ]]; then
        log "missing in the active environment: $missing"
        die "LMLE_USE_CURRENT_ENV=1: the active environment ($("$python_bin" -c 'import sys; print(sys.prefix)')) lacks some dependencies (see above); install them (pip install -e '.[faiss,edges,notebooks,test]' or the conda environment.yml) or unset LMLE_USE_CURRENT_ENV to build the locked venv"
    fi
    # A kernel named lmle must exist; register it for this user if it does not.
    kernel_state="$("$python_bin" - "$kernel_name" <<'EOF'
import os, sys
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
try:
    spec = KernelSpecManager().get_kernel_spec(sys.argv[1])
except NoSuchKernel:
    print("missing")
else:
    exe = spec.argv[0] if spec.argv else ""
    # Same environment = same bin/ folder (not realpath: a venv's python links to its base interpreter).
    same = exe in ("python", "python3") or os.path.dirname(os.path.abspath(exe)) == os.path.dirname(os.path.abspath(sys.executable))
    print("ok" if same else "other:" + exe)
EOF
)"
    case "$kernel_state" in
        ok) ;;
        missing)
            log "registering Jupyter kernel '$kernel_name' for $("$python_bin" -c 'import sys; print(sys.executable)') (--user)"
            "$python_bin" -m ipykernel install --user --name "$kernel_name" --display-name "$kernel_display" >&2 ;;
        other:*)
            log "warning: the existing Jupyter kernel '$kernel_name' runs ${kernel_state#other:}, not this environment's python; re-register it with: $python_bin -m ipykernel install --user --name $kernel_name --display-name \"$kernel_display\"" ;;
    esac
    "$python_bin" -c 'import sys; print(sys.prefix)'
    exit 0
fi

# ----------------------------------------------------------------------------------------------
# Mode 2: the locked, cached venv.
# ----------------------------------------------------------------------------------------------
[[ -f "$lock_file" ]] || die "missing $lock_file"
if command -v sha256sum >/dev/null 2>&1; then
    lock_hash="$(sha256sum "$lock_file" | cut -c1-16)"
else
    lock_hash="$(shasum -a 256 "$lock_file" | cut -c1-16)"
fi
env_root="${LMLE_ENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lmle-envs}"
venv="$env_root/py311-$lock_hash"

link_repo_venv() {
    local link="$repo/.venv"
    if [[ -L "$link" ]]; then
        [[ "$(readlink "$link")" == "$venv" ]] && return 0
        ln -sfn "$venv" "$link"
    elif [[ -e "$link" ]]; then
        log "warning: $link exists and is not a symlink; leaving it alone (the project's venv is $venv)"
    else
        ln -s "$venv" "$link"
    fi
}

# Fast path: already built (no Python started, no lock taken).
if [[ -f "$venv/.complete" && -x "$venv/bin/python" ]]; then
    link_repo_venv
    printf '%s\n' "$venv"
    exit 0
fi

mkdir -p "$env_root"
lock_path="$env_root/py311-$lock_hash.lock"
exec 9>"$lock_path"
if command -v flock >/dev/null 2>&1; then
    if ! flock -n 9; then
        log "another process is building $venv; waiting for it ..."
        flock 9
    fi
else
    log "warning: 'flock' not found; building without a lock (do not bootstrap two clones at once)"
fi

# Someone else may have finished it while we waited.
if [[ -f "$venv/.complete" && -x "$venv/bin/python" ]]; then
    link_repo_venv
    printf '%s\n' "$venv"
    exit 0
fi

command -v "$python_bin" >/dev/null 2>&1 || die "'$python_bin' not found; set PYTHON=/path/to/python3.11"
py_version="$("$python_bin" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$py_version" != "3.11" ]]; then
    die "requirements-lock.txt targets Python 3.11, but $python_bin is Python $py_version.
  Use a 3.11 interpreter:          PYTHON=/path/to/python3.11 $0
  or use your active environment:  LMLE_USE_CURRENT_ENV=1 $0
    (as is, e.g. a conda env from environment.yml or a GPU machine's own torch; the
     dependencies must already be installed: pip install -e '.[faiss,edges,notebooks,test]')"
fi

if [[ -e "$venv" ]]; then
    log "removing an incomplete environment left by an interrupted build: $venv"
    rm -rf "$venv"
fi

building=1
cleanup() {
    if [[ "${building:-0}" == "1" && ! -f "$venv/.complete" ]]; then
        log "build did not finish; removing $venv"
        rm -rf "$venv"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
log "building the locked environment (Python $py_version) at $venv"
log "this happens once per machine and requirements-lock.txt version (about 6 GB, a few minutes)"
"$python_bin" -m venv "$venv" >&2
log "upgrading pip"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
log "installing requirements-lock.txt"
if ! "$venv/bin/python" -m pip install --progress-bar off -r "$lock_file" >&2; then
    die "pip could not install requirements-lock.txt with $("$python_bin" -c 'import sys; print(sys.executable, sys.version.split()[0])') (see above).
  The lock was resolved for CPython 3.11 (3.11.5 or later) on x86_64 Linux. Try another interpreter
  (PYTHON=/path/to/python3.11 $0) or your own environment (LMLE_USE_CURRENT_ENV=1 $0)."
fi
log "registering Jupyter kernel '$kernel_name' inside the environment"
"$venv/bin/python" -m ipykernel install --prefix "$venv" --name "$kernel_name" --display-name "$kernel_display" >&2
"$venv/bin/python" -c "import numpy, torch, pandas, papermill, yaml" >&2 || die "the new environment does not import its core packages"
{
    echo "lock_sha256_16=$lock_hash"
    echo "python=$py_version"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$venv/.complete.tmp"
mv "$venv/.complete.tmp" "$venv/.complete"
building=0
log "done in $(( $(date +%s) - t0 )) s"

link_repo_venv
printf '%s\n' "$venv"
