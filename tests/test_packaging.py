"""`iss` as a library: the wheel built from this tree installs into a fresh venv with torch alone
and runs every example of the library guide (docs/library.md) there (no snakemake, pandas or matplotlib installed)."""
import subprocess
import sys
import venv
import zipfile

import pytest

from readme_blocks import README, python_blocks

ROOT = README.parent
pytestmark = pytest.mark.packaging


def run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_wheel_installs_alone_and_runs_readme_example(tmp_path):
    # sdist first, then the wheel from the unpacked sdist (python -m build's default): checks that
    # the sdist is complete and leaves no build/ folder in the source tree.
    run([sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(ROOT)])
    wheels = list((tmp_path / "dist").glob("iss-*.whl"))
    assert len(wheels) == 1, wheels
    import iss
    assert wheels[0].name.startswith(f"iss-{iss.__version__}-")
    with zipfile.ZipFile(wheels[0]) as wheel:  # the package data: type hints and the data-set registry
        assert {"iss/py.typed", "iss_harness/data/registry.yaml"} <= set(wheel.namelist())

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # torch first, pinned to the build on this machine: the wheel's open range then keeps it.
    run([python, "-m", "pip", "install", "-q", "torch==2.13.0"])
    run([python, "-m", "pip", "install", "-q", str(wheels[0])])

    # Outside the source tree, so that `import iss` is the installed wheel.
    probe = ("import importlib.util, pathlib, iss; "
             "print(pathlib.Path(iss.__file__).parent); "
             "print((pathlib.Path(iss.__file__).parent / 'py.typed').exists()); "
             "print([m for m in ('snakemake', 'pandas', 'matplotlib') if importlib.util.find_spec(m)])")
    where, typed, extras = run([python, "-c", probe], cwd=tmp_path).splitlines()
    assert str(env_dir) in where and typed == "True" and extras == "[]", (where, typed, extras)

    # The workflow's command says which extra it needs instead of failing on an import.
    done = subprocess.run([env_dir / "bin" / "iss", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "pip install 'iss[workflow]'" in done.stderr, done.stderr

    for number, block in enumerate(python_blocks(), 1):  # every example of the library guide, from the wheel
        script = tmp_path / f"example_{number}.py"
        script.write_text(block)
        printed = run([python, str(script)], cwd=tmp_path)
        assert number > 1 or "speedup" in printed, printed
