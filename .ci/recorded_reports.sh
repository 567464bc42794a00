#!/usr/bin/env bash
# CI: every committed report of a recorded scale is what its recorded runs make (issue 24). For each
# recorded/<scale>/MANIFEST.json, regenerate reports/<scale>/ from recorded/<scale>/ (no training) and
# fail when a committed text file (tables, comparison, report, tidy CSVs) differs. Figures need only
# regenerate without error: their bytes vary with the matplotlib and font build.
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
echo "[ci] recorded reports: $checked scale(s) regenerated, committed text unchanged"
