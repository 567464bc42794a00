"""Entry point of the ``iss`` command. The command runs the reproduction workflow, whose packages
are the ``workflow`` extra; a library-only install (``pip install iss``) gets this message instead
of an ImportError from deep inside ``iss_harness.cli``."""
from __future__ import annotations

import importlib.util
import sys

WORKFLOW_MODULES = ("yaml", "jsonschema", "tqdm", "pandas", "matplotlib", "tabulate")


def main() -> int:
    missing = [name for name in WORKFLOW_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        print(f"iss: the command-line tool runs the reproduction workflow and needs its packages "
              f"(missing: {', '.join(missing)}); install them with: pip install 'iss[workflow]'", file=sys.stderr)
        return 2
    from iss_harness.cli import main as cli_main
    return cli_main()
