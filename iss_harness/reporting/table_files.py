"""What the three table reports share: the tidy frame they collect, reading a value back out of it,
the provenance checks of every training run, and the files they write.

Each table's report (``iss_harness.tables.table1.report/2/3``) collects one record per (setting, row, seed,
metric), then lays out two tables: "this run" (the models trained at the selected scale) and "at
the paper's sizes" (the published geometry with random weights). ``write_table_files`` writes
``results/<scale>/<table>.csv`` and ``reports/<scale>/<table>.{md,tex}`` from them, atomically.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from iss_harness.tasks.paths import table_dir
from iss_harness.io import read_json, write_text_atomic
from iss_harness.provenance import git_sha, provenance_issues, report_made
from iss_harness.render import render_latex, render_markdown


def tidy_frame(records: list[dict], config: dict) -> pd.DataFrame:
    """The records as results/<table>.csv lays them out: the scale first, one line per record."""
    frame = pd.DataFrame.from_records(records)
    frame.insert(0, "scale", config["scale"])
    return frame


def values_of(frame: pd.DataFrame, setting: str, row: str, metric: str) -> list:
    """The reproduced values of one (setting, row, metric): one per seed (paper-size lines have one)."""
    hit = frame[(frame.setting == setting) & (frame.row == row) & (frame.metric == metric)]
    return list(hit.reproduced)


def value_of(frame: pd.DataFrame, setting: str, row: str, metric: str):
    """The first seed's value, or None where the frame has no such line."""
    values = values_of(frame, setting, row, metric)
    return values[0] if values else None


def paper_size_timing(config: dict, results: Path, table: str, needs: str) -> dict:
    """``timing_paper_sizes.json`` of ``table``, which must record ``needs`` (``costs`` / ``geometry``:
    counted on the models by the timing step since 2026-12-04; older files hold latency only)."""
    path = table_dir(results, config, table) / "timing_paper_sizes.json"
    timed = read_json(path)
    if needs not in timed:
        raise ValueError(f"{path} has no {needs!r}: it was written before the timing step recorded the geometry "
                         f"it counts. Rerun it: snakemake --forcerun {table}_time_paper_sizes")
    return timed


def run_issues(config: dict, runs: Iterable[tuple[str, Path, dict | None, int | None]]) -> list[str]:
    """Why any training run (label, folder, expected settings, seed) may not belong to this report:
    made at another scale, seed, settings or commit (``iss_harness.provenance.provenance_issues``)."""
    current = None if config.get("recorded") else git_sha()
    return [issue for label, folder, settings, seed in runs
            for issue in provenance_issues(label, read_json(Path(folder) / "metrics.json"), config, settings,
                                           seed, current)]


def banner_facts(config: dict, results: Path, table: str, rows: list[str], seeds: list[int],
                 run_folder: Callable[[str, int], Path], expected_settings: Callable[[str], dict],
                 first_row: str) -> tuple[dict, dict, list[str]]:
    """What a seeded table's banner states: the paper-size timing file (machine, threads), the
    training provenance of ``first_row`` at the first seed (device, commit, config hash) and the
    provenance issues of every (row, seed) run."""
    timed = paper_size_timing(config, results, table, "costs" if table != "table3" else "geometry")
    metrics = read_json(run_folder(first_row, seeds[0]) / "metrics.json")
    issues = run_issues(config, [(f"{table}/{row}/seed{seed}", run_folder(row, seed), expected_settings(row), seed)
                                 for row in rows for seed in seeds])
    return timed, metrics.get("training_provenance") or metrics["provenance"], issues


def ptb_text(settings: dict) -> str:
    """The PTB slice of a scale's settings, as the LM banners state it."""
    return f"PTB vocabulary {settings['ptb']['vocab_size'] or 'full'}, token limits {settings['ptb']['max_tokens'] or 'none'}"


def threads_text(count) -> str:
    """'1 thread', '4 threads': the banners' count of the torch threads a run trained with."""
    return f"{count} thread" if str(count) == "1" else f"{count} threads"


def scale_line(config: dict, details: str, trained: dict, timed: dict, latency_detail: str = "") -> str:
    """The banner's first line: the scale with the table's own ``details``, where it was trained and
    where it was timed."""
    return (f"Scale: **{config['scale']}** ({details}). Trained on {trained['device']} with "
            f"{threads_text(trained['threads'])}; latency on {timed['machine']['processor']} "
            f"({timed['machine']['cpu_capability']}){latency_detail}.")


def made_at(config: dict, trained: dict, seeds: list[int] | None = None) -> str:
    """The banner line naming the commit, configuration (and seeds) of training and of this report."""
    seeds_text = f", seeds {', '.join(map(str, seeds))}" if seeds else ""
    return (f"Trained at git {trained['git_sha']}, config {trained['config_hash']}{seeds_text}, torch "
            f"{trained['versions']['torch']}; report {report_made(config)}.")


@dataclass(frozen=True)
class Section:
    """One of a report's two tables: its heading, the table, the lines above it and the notes below."""
    heading: str
    table: pd.DataFrame
    caption: str
    label: str
    lines: list[str]
    markdown_notes: list[str]
    latex_notes: list[str]


def write_table_files(name: str, title: str, frame: pd.DataFrame, sections: list[Section], scale_results: Path,
                      reports: Path) -> None:
    """results/<scale>/<name>.csv (the frame) and reports/<scale>/<name>.md / .tex (the sections), atomically."""
    write_text_atomic(Path(scale_results) / f"{name}.csv", frame.to_csv(index=False))
    markdown = [f"# {title}", ""]
    for section in sections:
        markdown += [f"## {section.heading}", "", render_markdown(section.table, section.lines, section.markdown_notes)]
    write_text_atomic(Path(reports) / f"{name}.md", "\n".join(markdown))
    latex = [render_latex(s.table, s.caption, s.label, s.lines, s.latex_notes) for s in sections]
    write_text_atomic(Path(reports) / f"{name}.tex", "\n".join(latex))
