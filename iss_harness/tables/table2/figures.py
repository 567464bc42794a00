"""Table 2's figure: RHN perplexity against width as lambda grows, this run beside the paper's."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from iss_harness.reporting.plotting import NONZERO_BLUE, plt, require_file, save_figure


# ---- Table 2: RHN perplexity against width ----------------------------------------------------


def _sweep_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row of this run: lambda, mean/sd of width and validation perplexity over seeds."""
    run = frame[frame.setting == "this_run"]
    wide = run.pivot_table(index=["row", "seed"], columns="metric", values="reproduced", aggfunc="first")
    wide = wide.apply(pd.to_numeric)
    grouped = wide.groupby(level="row")
    points = pd.DataFrame({
        "lambda": grouped["lambda"].first(),
        "width": grouped["width"].mean(), "width_sd": grouped["width"].std().fillna(0.0),
        "perplexity": grouped["perplexity_valid"].mean(),
        "perplexity_sd": grouped["perplexity_valid"].std().fillna(0.0),
    })
    return points.sort_values("lambda")


def plot_rhn_tradeoff(points: pd.DataFrame, paper_points: pd.DataFrame, scale: str, out_stem: Path) -> list[Path]:
    """Left: this run's validation perplexity against RHN width (error bars: sd over seeds).
    Right: both sweeps relative to their own baseline, so a small-scale run and the paper's
    830-wide model share one axis."""
    figure, (absolute, relative) = plt.subplots(1, 2, figsize=(11, 4.2))
    absolute.errorbar(points.width, points.perplexity, xerr=points.width_sd, yerr=points.perplexity_sd,
                      marker="o", color=NONZERO_BLUE, capsize=3, label=f"this run ({scale})")
    for _, p in points.iterrows():
        absolute.annotate(f"λ={p['lambda']:g}", (p.width, p.perplexity), textcoords="offset points",
                          xytext=(4, 4), fontsize=8)
    absolute.margins(x=0.1, y=0.1)  # room for the lambda labels
    absolute.set(xlabel="RHN width (ISS components left)", ylabel="validation perplexity",
                 title=f"This run ({scale} scale)")
    absolute.legend()
    for label, pts, style in (("this run", points, dict(color=NONZERO_BLUE, marker="o")),
                              ("paper (Table 2)", paper_points, dict(color="#c0392b", marker="s"))):
        base = pts[pts["lambda"] == 0]
        if base.empty:
            continue
        relative.plot(pts.width / float(base.width.iloc[0]), pts.perplexity / float(base.perplexity.iloc[0]),
                      label=label, **style)
    relative.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    relative.set(xlabel="width / baseline width", ylabel="validation perplexity / baseline's",
                 title="Relative to each sweep's baseline")
    relative.invert_xaxis()
    relative.legend()
    figure.suptitle("Table 2: RHN perplexity against width as λ grows")
    figure.tight_layout()
    return save_figure(figure, out_stem)


def write_figures(config: dict, results: Path, reports: Path) -> list[Path]:
    """The Table 2 figures from results/<scale>/table2.csv (the registry's ``figures`` step)."""
    from iss_harness.tasks.paths import scale_root
    return write_table2_figures(scale_root(results, config) / "table2.csv", reports)


def write_table2_figures(table2_csv: Path, reports_dir: Path) -> list[Path]:
    """reports/<scale>/figures/rhn_tradeoff.{png,pdf} from results/<scale>/table2.csv and the paper file."""
    from iss_harness.paper.tables import load_paper_tables
    frame = pd.read_csv(require_file(Path(table2_csv), "table2_report"))
    paper = load_paper_tables()
    paper_points = pd.DataFrame([
        {"lambda": paper.cell("table2", row, "lambda").value, "width": paper.cell("table2", row, "width").value,
         "perplexity": paper.cell("table2", row, "perplexity_valid").value}
        for row in paper.rows("table2")])
    scale = str(frame.scale.iloc[0])
    return plot_rhn_tradeoff(_sweep_points(frame), paper_points, scale, Path(reports_dir) / "figures" / "rhn_tradeoff")
