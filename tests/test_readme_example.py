"""The library guide's examples (docs/library.md) run as printed: train with the penalty, shrink,
equal outputs (the shrink's own exactness check, and the LSTM example's assert); the encoder-decoder
example keeps the same units in both modules."""
import ast
import subprocess
import sys
import warnings

import pytest
import torch

from readme_blocks import encoder_decoder_example, gru_example, library_example


def run_example(tmp_path, code: str) -> str:
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


def surviving_units(stdout: str) -> dict:
    lines = dict(line.split(":", 1) for line in stdout.splitlines() if line.startswith("surviving units"))
    return ast.literal_eval(lines["surviving units"].strip())


def test_readme_library_example_runs(tmp_path):
    stdout = run_example(tmp_path, library_example())
    # The example removes units (its point) and reports a speedup; its own assert checks equal outputs.
    assert all(0 < size < 192 for size in surviving_units(stdout).values()), stdout
    assert "speedup" in stdout


def test_gru_example_runs_and_removes_units(tmp_path):
    stdout = run_example(tmp_path, gru_example())
    surviving = surviving_units(stdout)
    assert set(surviving) == {"gru.l0", "gru.l0_reverse"}
    assert all(0 < size < 64 for size in surviving.values()), stdout
    assert f"GRU(16, {max(surviving.values())}, " in stdout, stdout  # one size per nn.GRU: the larger


def test_encoder_decoder_example_couples_the_two_modules(tmp_path):
    stdout = run_example(tmp_path, encoder_decoder_example())
    surviving = surviving_units(stdout)
    assert list(surviving) == ["encoder.l0+decoder.l0"]  # one component per unit pair, found by tracing
    size = surviving["encoder.l0+decoder.l0"]
    assert 0 < size < 48, stdout  # units removed (from both modules: one LSTM line below)
    assert f"LSTM(16, {size}, batch_first=True) LSTM(16, {size}, batch_first=True)" in stdout, stdout


@pytest.mark.parametrize("example, inputs", [(library_example, ("tokens",)), (gru_example, ("x",)),
                                             (encoder_decoder_example, ("source", "previous"))])
def test_the_guides_compact_models_export_with_torch_export(example, inputs, capsys):
    """The shrunk model is a plain module of standard layers: torch.export takes it as it is."""
    namespace: dict = {"__name__": "example"}
    exec(compile(example(), "example.py", "exec"), namespace)
    compact, args = namespace["compact"].eval(), tuple(namespace[name] for name in inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's own note on nn.RNNBase._flat_weights
        exported = torch.export.export(compact, args)
    with torch.no_grad():
        assert torch.allclose(exported.module()(*args), compact(*args), atol=1e-6)
