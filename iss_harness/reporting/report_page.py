"""What one page of the report holds (``Gathered``): its title and introduction, and ``gather``, which
reads everything once (``report_sources``: the files; ``summary``: the opening) for
``report_markdown`` and ``report_latex`` to render.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from iss_harness.paper.claims import load_claims
from iss_harness.paper.tables import load_paper_tables
from iss_harness.provenance import git_sha, report_made
from iss_harness.reporting.report_sources import (ProvenanceLine, TableSection, WallTotal, comparison_summary,
                                                  figure_stems, provenance_lines, short_sha, sparsity_speed_rows,
                                                  table_sections, version_sets, wall_totals)
from iss_harness.reporting.summary import ReproSummary, gather_summary

TITLE = "Learning Intrinsic Sparse Structures within LSTM (Wen et al., ICLR 2018): reproduction report"
INTRO = (
    "Intrinsic Sparse Structures (ISS) are the groups of weights that one hidden unit of an LSTM owns (its "
    "four gate rows, its recurrent column, its input column in the next layer). Group Lasso on these groups "
    "removes whole units during training, leaving a smaller dense LSTM that runs faster with ordinary "
    "kernels. This report reproduces the paper's tables: stacked LSTMs on PTB (Table 1), Recurrent Highway "
    "Networks on PTB (Table 2) and BiDAF on SQuAD (Table 3), each at the scale it was run (smoke: tiny "
    "models on a slice of the data, for CI; mid: full data, small models; paper: the paper's geometry and "
    "schedules). Numbers that need no training (weight counts, mult-add reductions, latency at the paper's "
    "sizes) are computed at the paper's sizes at every scale. Every number comes from a results file; every "
    "paper number from config/paper_tables.yaml.")


@dataclass(frozen=True)
class Gathered:
    """Everything the report shows, read once from results/ and reports/; both renderers read this."""
    scale: str
    sections: list[TableSection]
    summary: dict | None
    stems: list[str]
    provenance: list[ProvenanceLine]
    keys: dict[str, str]
    speed: tuple[dict, list[dict]] | None
    reports: Path
    walls: list[WallTotal]  # wall time per scale and table
    repro: ReproSummary  # the opening: scope, methodology, results per claim, easy and difficult
    made: str = ""   # "made at git X on D", or "regenerated from the recorded runs (...)"
    dated: str = ""  # the LaTeX title's date line
    # table: why it has no section in a report regenerated from recorded runs (``unbuilt_reasons``)
    unbuilt: dict[str, str] = field(default_factory=dict)

    def not_built_sentence(self, name: str, extension: str) -> str:
        """What a table without a section says: a run names the target that builds it; a report
        regenerated from recorded runs says what its record lacks, since running is not the remedy."""
        if name in self.unbuilt:
            return sentence(self.unbuilt[name])
        return f"Not built yet: `snakemake reports/{self.scale}/{name}.{extension}`."


def gather(config: dict, results: Path, reports: Path, paper_path: Path | None = None,
           claims_path: Path | None = None) -> Gathered:
    provenance = provenance_lines(results)
    scale_results = Path(results) / config["scale"]  # iss_harness.tasks.paths.scale_root
    paper = load_paper_tables(paper_path)
    sections = table_sections(scale_results, reports, paper)
    summary = comparison_summary(scale_results)
    repro = gather_summary(config, scale_results, sections, provenance, load_claims(claims_path, paper),
                           summary["claims"] if summary else None)
    return Gathered(scale=config["scale"], sections=sections, summary=summary, stems=figure_stems(reports),
                    provenance=provenance, keys=version_sets(provenance),
                    speed=sparsity_speed_rows(results, config["scale"]), reports=Path(reports),
                    walls=wall_totals(provenance), repro=repro, made=report_made(config), dated=report_dated(config),
                    unbuilt=unbuilt_reasons(config, sections))


def sentence(text: str) -> str:
    """``text`` as a sentence of its own: capitalised, with a full stop."""
    return f"{text[:1].upper()}{text[1:]}."


def unbuilt_reasons(config: dict, sections: list[TableSection]) -> dict[str, str]:
    """In a report regenerated from recorded runs (config ``recorded``), why each table has no
    section: its record lacks pieces its report needs, or none of its runs is recorded."""
    recorded = config.get("recorded")
    if not recorded:
        return {}
    incomplete = recorded.get("incomplete") or {}
    return {s.name: ("not reported yet: its recorded runs lack pieces its report needs (see Methodology)"
                     if s.name in incomplete else f"no run of it is recorded at {config['scale']}")
            for s in sections if s.markdown is None}


def report_dated(config: dict) -> str:
    """The LaTeX title's date: today and the commit, or the date the recorded runs were last recorded."""
    recorded = config.get("recorded")
    if recorded:
        return f"{recorded['date']}, recorded runs"
    return f"{datetime.date.today().isoformat()}, git {short_sha(git_sha())}"
