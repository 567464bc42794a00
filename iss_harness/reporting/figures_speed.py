"""The paper's motivating picture: speedup over dense against sparsity, structured against
non-structured, drawn from ``results/<scale>/sparsity_speed.json`` only (no torch)."""
from __future__ import annotations

from pathlib import Path

from iss_harness.io import read_json
from iss_harness.reporting.plotting import plt, save_figure
from iss_harness.tasks.paths import ExperimentError, scale_root
from iss_harness.tasks.sparsity_kinds import KIND_LABELS, KINDS, RESULT_NAME

FIGURE_STEM = "speedup_vs_sparsity"
KIND_STYLES = {
    "structured": dict(color="#1f4e9c", marker="o"),
    "csr": dict(color="#c0392b", marker="s"),
    "csr_int64": dict(color="#e07b00", marker="^", linestyle="--"),
    "dense_masked": dict(color="#7f7f7f", marker="x", linestyle=":"),
}


def plot(result_path: Path, out_stem: Path) -> list[Path]:
    """``out_stem.{png,pdf}``: speedup over dense against sparsity, one panel per thread count."""
    report = read_json(result_path)
    threads = report["protocol"]["threads"]
    layer = report["layer"]
    figure, axes = plt.subplots(1, len(threads), figsize=(max(7.5, 6.2 * len(threads)), 5.0), squeeze=False,
                                layout="constrained")
    for axis, n in zip(axes[0], threads):
        points = [p for p in report["points"] if p["threads"] == n]
        sparsities = sorted({p["sparsity"] for p in points})
        ideal = [1.0 / (1.0 - s) for s in sparsities]
        axis.plot([100 * s for s in sparsities], ideal, color="black", linewidth=0.8, linestyle="--",
                  label="ideal: 1 / (1 - sparsity)")
        for kind in KINDS:
            line = sorted((p for p in points if p["kind"] == kind), key=lambda p: p["sparsity"])
            if line:
                axis.plot([100 * p["sparsity"] for p in line], [p["speedup"] for p in line],
                          label=KIND_LABELS[kind], **KIND_STYLES[kind])
        axis.axhline(1.0, color="grey", linewidth=0.8)
        axis.set_yscale("log", base=2)
        axis.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}×"))
        axis.set(xlabel="sparsity: fraction of the weights removed (%)", ylabel="speedup over dense (log scale)",
                 title=f"{n} thread{'s' if n > 1 else ''}; dense {report['dense'][str(n)]['median_ms']:.2f} ms")
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    machine = report.get("machine", {})
    figure.suptitle(f"One LSTM layer's multiply W [{layer['weight_shape'][0]}×{layer['weight_shape'][1]}] "
                    f"× [{layer['x_shape'][0]}×{layer['x_shape'][1]}]\nstructured vs non-structured sparsity, "
                    f"equal non-zeros\n"
                    f"{machine.get('processor', '?')} ({machine.get('cpu_capability', '?')}), "
                    f"torch {machine.get('torch', '?')}; median per call, interleaved", fontsize=10)
    return save_figure(figure, out_stem)


def write_figure(config: dict, results: Path, reports: Path) -> list[Path]:
    source = scale_root(results, config) / RESULT_NAME
    if not source.exists():
        raise ExperimentError(f"{source} does not exist: measure first (iss sparsity-speed, or "
                              f"snakemake {source})")
    return plot(source, Path(reports) / "figures" / FIGURE_STEM)
