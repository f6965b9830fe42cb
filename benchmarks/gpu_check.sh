#!/usr/bin/env bash
# The prepared GPU check of issue #20 (what it runs: benchmarks/gpu_check.py; how: BENCHMARKS.md, "GPU check").
#
#   bash benchmarks/gpu_check.sh [--device cuda|cpu] [--out DIR] [--sections NAME ...]
#
# Picks the interpreter: $KSPACEKIT_PYTHON if set; else, for cuda, the first of python3,
# /opt/torch/.venv/bin/python3 and .venv/bin/python whose torch sees a GPU (the repository's .venv
# holds a CPU-only torch, so on a GPU machine it is the last resort and says so); for cpu, .venv/bin/python.
# kspacekit runs from src/ (PYTHONPATH); packages the interpreter lacks (ptwt, PyWavelets, fastmri)
# are installed from the wheels in .whl/ (made by benchmarks/gpu_wheels.sh) into a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."

device=cuda
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --device) device="${args[i + 1]:-}" ;;
        --device=*) device="${args[i]#--device=}" ;;
    esac
done

sees_cuda() { "$1" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; }

python="${KSPACEKIT_PYTHON:-}"
if [[ -z "$python" && "$device" == cuda ]]; then
    for candidate in python3 /opt/torch/.venv/bin/python3 .venv/bin/python; do
        if command -v "$candidate" >/dev/null && sees_cuda "$candidate"; then python="$candidate"; break; fi
    done
    if [[ -z "$python" ]]; then
        echo "gpu_check: no interpreter here has a torch that sees a CUDA GPU:" >&2
        for candidate in python3 /opt/torch/.venv/bin/python3 .venv/bin/python; do
            command -v "$candidate" >/dev/null && echo "  $candidate: $("$candidate" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tail -1)" >&2
        done
        echo "(the repository's .venv has a CPU-only torch; set KSPACEKIT_PYTHON to a CUDA-enabled python, or pass --device cpu)" >&2
        exit 3
    fi
fi
python="${python:-.venv/bin/python}"

export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if ! "$python" -c 'import ptwt, pywt, fastmri' 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        site="${TMPDIR:-/tmp}/kspacekit_gpu_check_site"
        "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
        export PYTHONPATH="$PYTHONPATH:$site"
    else
        echo "gpu_check: $python lacks ptwt, PyWavelets or fastmri and there is no .whl/ folder (benchmarks/gpu_wheels.sh makes it)" >&2
    fi
fi
echo "gpu_check: $python ($("$python" -c 'import torch; print("torch", torch.__version__)'))" >&2
exec "$python" benchmarks/gpu_check.py "$@"
