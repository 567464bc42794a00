#!/usr/bin/env bash
# The GPU check: on a CUDA machine, the tests marked `cuda`, then paper-scale throughput and latency
# measured into gpu_check.json and the projected wall time of each paper-scale table printed.
#
#   benchmarks/gpu_check.sh [--out FILE] [--record]
#                                            on a GPU: at most 8 minutes (tests <= 150 s, measurements <= 300 s);
#                                            --record also keeps them in recorded/benchmarks/paper_scale_gpu.json
#   benchmarks/gpu_check.sh --dry [--out F]  tiny sizes on the CPU in seconds: the test suite's self-test
#
# Python: $PYTHON, else the project's .venv, else python3. Exit status: non-zero when the cuda tests
# or the measurements fail; gpu_check.json records the tests' outcome either way.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [[ -z "$python" ]]; then
    if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
# The training loop's per-epoch progress bars would bury the check's own lines (tqdm reads this at import).
export TQDM_DISABLE=1
dry=0
out=gpu_check.json
record=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry) dry=1; shift ;;
        --out) out="$2"; shift 2 ;;
        --record) record=(--record); shift ;;
        *) echo "gpu_check.sh: unknown argument $1 (use --dry, --out FILE, --record)" >&2; exit 2 ;;
    esac
done

if [[ $dry -eq 1 ]]; then
    exec "$python" benchmarks/gpu_check.py --dry --out "$out" --cuda-tests "not run (--dry)" "${record[@]}"
fi

echo "[gpu_check] the tests marked cuda (at most 150 s)"
tests_rc=0
timeout 150 "$python" -m pytest -m cuda -q -p no:cacheprovider tests/test_cuda.py || tests_rc=$?
case $tests_rc in
    0) outcome="passed" ;;
    5) outcome="none collected" ;;
    124) outcome="timed out after 150 s" ;;
    *) outcome="failed (pytest exit $tests_rc)" ;;
esac
echo "[gpu_check] cuda tests: $outcome; measuring (at most 300 s)"
timeout 300 "$python" benchmarks/gpu_check.py --out "$out" --cuda-tests "$outcome" "${record[@]}"
[[ $tests_rc -eq 0 ]]
