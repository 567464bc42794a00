"""A scratch copy of the workflow, for the tests that run Snakemake (so the checkout's results/ and
.snakemake/ are never touched): every file the workflow reads, including environment.yml, which
each rule names as its software (`conda:`) and Snakemake reads to record a job's metadata, and the
recorded runs, which the documented `iss restore` reads."""
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKFLOW_FILES = ("Snakefile", "environment.yml", "workflow", "config", "recorded")  # .ci/slurm_local.sh: the first four


def copy_workflow(destination: Path) -> Path:
    for name in WORKFLOW_FILES:
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, destination / name)
    return destination
