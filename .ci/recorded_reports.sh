#!/usr/bin/env bash
# CI: every committed report of a recorded scale is what its recorded runs make (issue 24). For each
# recorded/<scale>/MANIFEST.json, regenerate reports/<scale>/ from recorded/<scale>/ (no training) and
# fail when a committed text file (tables, comparison, report, tidy CSVs) differs. Figures need only
# regenerate without error: their bytes vary with the matplotlib and font build. Then the same for
# the benchmarks' page, reports/benchmarks.md, from recorded/benchmarks/.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
ISS=${ISS:-.venv/bin/iss}
checked=0
for manifest in recorded/*/MANIFEST.json; do
  scale=$(basename "$(dirname "$manifest")")
  "$ISS" regenerate --scale "$scale"
  if ! git diff --exit-code --stat -- "reports/$scale" ':(exclude)*.png' ':(exclude)*.pdf'; then
    echo "[ci] reports/$scale is not what recorded/$scale makes: run 'iss regenerate --scale $scale' and commit" >&2
    exit 1
  fi
  checked=$((checked + 1))
done
# The benchmarks' page (reports/benchmarks.md) is made from recorded/benchmarks/*.json alone.
if compgen -G "recorded/benchmarks/*.json" > /dev/null; then
  "$ISS" benchmark-report
  if ! git ls-files --error-unmatch reports/benchmarks.md > /dev/null 2>&1; then
    echo "[ci] reports/benchmarks.md is not committed: run 'iss benchmark-report' and commit it (git add -f)" >&2
    exit 1
  fi
  if ! git diff --exit-code --stat -- reports/benchmarks.md; then
    echo "[ci] reports/benchmarks.md is not what recorded/benchmarks makes: run 'iss benchmark-report' and commit" >&2
    exit 1
  fi
  checked=$((checked + 1))
elif git ls-files --error-unmatch reports/benchmarks.md > /dev/null 2>&1; then
  echo "[ci] reports/benchmarks.md is committed but recorded/benchmarks/ holds no record it could come from" >&2
  exit 1
fi
echo "[ci] recorded reports: $checked page set(s) regenerated, committed text unchanged"
