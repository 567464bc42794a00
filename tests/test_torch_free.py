"""The modules that only read results and configuration import without torch.

The Snakefile imports the row modules to build its job list, and the report and comparison steps
only read JSON and CSV: importing torch there costs seconds per job and ties them to the training
code. Each module is imported in a fresh interpreter (this test process has torch loaded already).
The reports count no weights themselves: the timing steps record the paper-size geometry in
timing_paper_sizes.json (``costs``, ``geometry``), so every report module is here.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TORCH_FREE = ("iss.config", "iss.tasks.paths", "iss.tasks.table1_rows", "iss.tasks.table2_rows", "iss.tasks.table3_config",
              "iss.provenance", "iss.reporting.pareto", "iss.reporting.report", "iss.reporting.table1", "iss.reporting.table2",
              "iss.reporting.table3", "iss.paper.compare", "iss.paper.claims", "iss.paper.results", "iss.paper.tables",
              "iss.reporting.render", "iss.reporting.report_markdown", "iss.reporting.report_latex",
              "iss.reporting.table_files", "iss.io")


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_without_torch(module):
    # The checkout under test first on the path, whatever an environment has installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"importing {module} imports torch ({done.stdout.strip()})"
