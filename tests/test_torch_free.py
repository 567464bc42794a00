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
TORCH_FREE = (
    "iss_harness.config", "iss_harness.io", "iss_harness.provenance", "iss_harness.render", "iss_harness.tables", "iss_harness.recording",
    "iss_harness.regenerate", "iss_harness.cli",
    "iss_harness.tables.table1", "iss_harness.tables.table1_pareto", "iss_harness.tables.table2", "iss_harness.tables.table3",
    "iss_harness.tasks.paths", "iss_harness.tables.table1.rows", "iss_harness.tables.table2.rows",
    "iss_harness.tables.table3.rows", "iss_harness.tasks.sparsity_kinds", "iss_harness.tasks.training",
    "iss_harness.paper.compare", "iss_harness.paper.claims", "iss_harness.paper.results", "iss_harness.paper.tables",
    "iss_harness.tables.table1_pareto.report", "iss_harness.reporting.report", "iss_harness.tables.table1.report",
    "iss_harness.tables.table2.report", "iss_harness.tables.table3.report", "iss_harness.reporting.report_markdown",
    "iss_harness.reporting.report_latex", "iss_harness.reporting.table_files", "iss_harness.reporting.figures_speed",
    "iss_harness.tables.table2.figures", "iss_harness.tables.table3.figures", "iss_harness.tables.table1.figures",
    "iss_harness.reporting.sparsity_plot", "iss_harness.reporting.summary", "iss_harness.reporting.report_sources",
    "iss_harness.reporting.report_page", "iss_harness.reporting.benchmarks",
)


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_without_torch(module):
    # The checkout under test first on the path, whatever an environment has installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"importing {module} imports torch ({done.stdout.strip()})"


def test_import_iss_loads_the_library_alone():
    """`import iss` is the library: none of the harness (config, data, tasks, reporting) comes with it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    probe = "import sys, iss; print(sorted(m for m in sys.modules if m.split('.')[0] == 'iss_harness'))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
