"""The README's library example runs as printed: train with the penalty, shrink, equal outputs."""
import ast
import subprocess
import sys

from readme_blocks import library_example


def test_readme_library_example_runs(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(library_example())
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # The example removes units (its point) and reports a speedup; its own assert checks equal outputs.
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines() if line.startswith("surviving units"))
    surviving = ast.literal_eval(lines["surviving units"].strip())
    assert all(0 < size < 192 for size in surviving.values()), done.stdout
    assert "speedup" in done.stdout
