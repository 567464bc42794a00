"""What every figure shares: matplotlib without a display, the colours, and ``save_figure`` (PNG and
PDF, each written atomically, the same figure giving the same bytes)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.colors import ListedColormap  # noqa: E402

from iss_harness.io import replacing  # noqa: E402

FORMATS = ("png", "pdf")
PNG_DPI = 150
NONZERO_BLUE = "#1f4e9c"
MASK_COLORS = ListedColormap(["white", NONZERO_BLUE])  # 0 = zero weight, 1 = non-zero
BOUNDARY_STYLE = dict(color="#e07b00", linewidth=1.2, linestyle="--")  # orange: never mistaken for a weight
GATE_NAMES = ("i", "f", "g", "o")  # PyTorch's order of the gate blocks in nn.LSTM weights



# ---- files -------------------------------------------------------------------------------------


def save_figure(figure: plt.Figure, out_stem: Path) -> list[Path]:
    """Write ``out_stem.png`` and ``out_stem.pdf``; return both paths. Closes the figure."""
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    try:
        return [_save_atomic(figure, out_stem.with_name(f"{out_stem.name}.{fmt}")) for fmt in FORMATS]
    finally:
        plt.close(figure)


def _save_atomic(figure: plt.Figure, path: Path) -> Path:
    """Readers see the old file or the new one, never half of one."""
    fmt = path.suffix.lstrip(".")
    # No creation date or software version inside: the same figure gives the same bytes.
    metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
    with replacing(path) as temp:
        figure.savefig(temp, format=fmt, dpi=PNG_DPI, metadata=metadata)
    return path


def require_file(path: Path, rule: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; make it with `snakemake {path}` (rule {rule})")
    return path
