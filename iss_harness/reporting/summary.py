"""The report's opening, in the shape of a reproducibility report (ML Reproducibility Challenge):
scope, methodology, results per claim, what was easy and what was difficult.

Gathered here from three sources, so that the opening says nothing its files do not:

* the claims (``config/claims.yaml``): id, statement, source, and the judgement of a failure: its
  ``known_failures[scale]`` for a known one, its margin for one nobody explained;
* the comparison (``results/<scale>/comparison.csv``): each claim's status and numbers
  (``reproduced_text``; ``n``, the seeds its operands are averaged over);
* the configuration (each table's training budget at this scale) and the provenance recorded in the
  results files (device, CPU, threads, seeds and wall time of every job; the shrink's error in
  every metrics file).

``iss_harness.reporting.report_markdown`` and ``report_latex`` render it. No number is typed here,
and nothing imports torch.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from iss_harness.config import scale_settings
from iss_harness.paper.claims import Claim, shown_outcome
from iss_harness.render import MISSING
from iss_harness.reporting.report_sources import (Job, ProvenanceLine, TableSection, WallTotal, clip, duration_text,
                                                  wall_totals)

# What a claim's comparison status means for the reader.
VERDICTS = {
    "pass": "reproduced",
    "fail": "contradicted",
    "known fail": "contradicted",
    "n/a": "not testable at this scale",
    "shown": "shown only (not gated at this scale)",
    "missing": "not run",
    "error": "not evaluated (a results file is malformed)",
}
CONTRADICTED = ("fail", "known fail")
# A table's training budget: these keys of its settings block, of its rows and of its sub-blocks.
BUDGET_KEYS = ("epochs", "steps")
MOST_EXPENSIVE = 3  # jobs named under "what was difficult"


@dataclass(frozen=True)
class ClaimLine:
    id: str
    statement: str  # shortened: up to its first colon or full stop
    source: str
    applies: str  # the scales it is gated at (and shown at)
    scale: str  # the scale it was evaluated at
    status: str  # the comparison's; "missing" when the comparison has no line for it
    verdict: str
    numbers: str  # what the comparison read, and over how many seeds
    judgement: str  # a contradicted claim's explanation, from config/claims.yaml

    @property
    def contradicted(self) -> bool:
        return self.status in CONTRADICTED


@dataclass(frozen=True)
class TableRun:
    """How one table was run at this scale."""
    name: str
    budget: list[str]  # from the configuration
    seeds: list[str]  # from here on, from the provenance of its results files
    hardware: list[str]
    threads: list[str]
    wall: WallTotal | None  # None: no job of it recorded a wall time (not run)


@dataclass(frozen=True)
class ShrinkError:
    """The largest change of a log-probability between a trained model and its shrunk copy."""
    table: str
    largest: float
    runs: int  # metrics files that recorded it
    variants: list[str]  # ISS variants, where recorded (Table 3)


@dataclass(frozen=True)
class ReproSummary:
    scale: str
    claims: list[ClaimLine]
    tables: list[TableRun]
    shrink: list[ShrinkError]
    expensive: list[Job]  # the longest jobs, longest first
    # table: what its report covers, where the recorded runs it was regenerated from are incomplete
    # (config `recorded.incomplete`, set by iss_harness.regenerate)
    incomplete: dict[str, str] = field(default_factory=dict)

    @property
    def reproduced(self) -> list[ClaimLine]:
        return [line for line in self.claims if line.status == "pass"]

    @property
    def contradicted(self) -> list[ClaimLine]:
        return [line for line in self.claims if line.contradicted]


# ---- the claims -----------------------------------------------------------------------------------


def short_statement(statement: str) -> str:
    """A claim's statement up to its first colon or full stop (what it claims, without the quotes)."""
    head = re.split(r"[:.]\s", statement.strip(), maxsplit=1)[0]
    return clip(head.rstrip(".:"), 240)


def applies_text(claim: Claim) -> str:
    text = ", ".join(claim.scales)
    return text + (f"; shown at {', '.join(claim.shown_at)}" if claim.shown_at else "")


def verdict_text(status: str, message: str) -> str:
    verdict = VERDICTS.get(status, status)
    outcome = shown_outcome(message) if status == "shown" else ""
    return f"{verdict}, {outcome}" if outcome else verdict


def numbers_text(row: dict | None) -> str:
    """The values the comparison read; "mean ± sd (n=k)" each, where k seeds were run."""
    if not row or not row.get("reproduced_text"):
        return ""
    seeds = _count(row.get("n"))
    spread = f" (each value mean ± sd over {seeds} seeds)" if seeds and seeds > 1 else ""
    return row["reproduced_text"] + spread


def _count(text) -> int | None:
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


def judgement(claim: Claim, status: str, scale: str) -> str:
    """Why a contradicted claim failed, as config/claims.yaml says (one place per claim)."""
    if status == "known fail":
        return claim.known_failures.get(scale, "")
    if status == "fail":
        return (f"Not a known failure (config/claims.yaml explains none at {scale}); "
                f"the margin it is judged by: {claim.margin}")
    return ""


def claim_line(claim: Claim, row: dict | None, scale: str) -> ClaimLine:
    status = (row or {}).get("status") or "missing"
    scale = (row or {}).get("scale") or scale
    return ClaimLine(claim.id, short_statement(claim.statement), claim.source, applies_text(claim), scale, status,
                     verdict_text(status, (row or {}).get("message", "")), numbers_text(row),
                     judgement(claim, status, scale))


def claim_lines(claims: list[Claim], rows: list[dict] | None, scale: str) -> list[ClaimLine]:
    """One line per claim of config/claims.yaml, with its comparison line (none: not run)."""
    by_id = {row["id"]: row for row in rows or [] if row.get("kind", "claim") == "claim"}
    return [claim_line(claim, by_id.get(claim.id), scale) for claim in claims]


# ---- the tables -----------------------------------------------------------------------------------


def training_budget(settings: dict | None) -> list[str]:
    """``epochs`` / ``steps`` of a table's settings block, of its rows that set their own (table1's
    rows.<row>.epochs) and of its sub-blocks (table3's baseline.steps, iss.steps)."""
    if not settings:
        return []
    budget = [f"{settings[key]} {key}" for key in BUDGET_KEYS if key in settings]
    blocks = {**settings.get("rows", {}), **{name: block for name, block in settings.items() if name != "rows"}}
    for name, block in blocks.items():
        if isinstance(block, dict):
            budget += [f"{name}: {block[key]} {key}" for key in BUDGET_KEYS if key in block]
    return budget


def _distinct(values) -> list[str]:
    return sorted(set(values) - {MISSING})


def _hardware(job: Job) -> str:
    return job.device if job.cpu == MISSING else f"{job.device}, {job.cpu}"


def table_run(name: str, settings: dict | None, jobs: list[Job], wall: WallTotal | None) -> TableRun:
    return TableRun(name, training_budget(settings), _distinct(job.seed for job in jobs),
                    _distinct(_hardware(job) for job in jobs), _distinct(job.threads for job in jobs), wall)


def table_runs(config: dict, sections: list[TableSection], provenance: list[ProvenanceLine]) -> list[TableRun]:
    """The paper's tables, then any other results folder with jobs (the speed figure's)."""
    scale = config["scale"]
    jobs = [job for line in provenance for job in line.jobs if job.scale == scale]
    walls = {total.table: total for total in wall_totals(provenance) if total.scale == scale}
    names = [section.name for section in sections] + [name for name in walls if name not in
                                                      {section.name for section in sections}]
    settings = scale_settings(config)
    return [table_run(name, settings.get(name), [job for job in jobs if job.table == name], walls.get(name))
            for name in names]


def shrink_errors(scale_results: Path) -> list[ShrinkError]:
    """Per table, the largest ``shrink_max_abs_logprob_error`` of its metrics files (where recorded)."""
    found: dict[str, list[dict]] = {}
    for path in sorted(Path(scale_results).rglob("metrics.json")):
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # the provenance table names an unreadable file
        if isinstance(metrics.get("shrink_max_abs_logprob_error"), (int, float)):
            found.setdefault(path.relative_to(scale_results).parts[0], []).append(metrics)
    return [ShrinkError(table, max(m["shrink_max_abs_logprob_error"] for m in runs), len(runs),
                        sorted({str(m["iss_variant"]) for m in runs if m.get("iss_variant")}))
            for table, runs in found.items()]


def most_expensive(provenance: list[ProvenanceLine], scale: str) -> list[Job]:
    jobs = [job for line in provenance for job in line.jobs if job.scale == scale and job.seconds is not None]
    return sorted(jobs, key=lambda job: -job.seconds)[:MOST_EXPENSIVE]


def gather_summary(config: dict, scale_results: Path, sections: list[TableSection],
                   provenance: list[ProvenanceLine], claims: list[Claim], claim_rows: list[dict] | None) -> ReproSummary:
    scale = config["scale"]
    return ReproSummary(scale, claim_lines(claims, claim_rows, scale), table_runs(config, sections, provenance),
                        shrink_errors(scale_results), most_expensive(provenance, scale),
                        dict(config.get("recorded", {}).get("incomplete", {})))


# ---- the text both renderers print (plain text: Markdown and LaTeX format it) ----------------------

SCOPE_COLUMNS = ["Claim", "What the paper claims", "Source", "Gated at"]
METHOD_COLUMNS = ["Table", "Training budget", "Seeds", "Hardware", "Threads", "Jobs", "Wall time", "Longest job"]
SCOPE_NOTE = ("The paper's claims tested here, from config/claims.yaml; the comparison evaluates each at the scale "
              "of this run's results (a claim is gated at the scales listed, shown without gating where it says so).")
METHOD_NOTE = ("Training budget: the configuration's epochs and steps of each table at this scale (its settings, "
               "its rows and sub-blocks). Seeds, hardware, threads and wall time: the provenance recorded in the "
               "table's results files, one job per training, evaluation and timing run (Jobs: those that "
               "recorded their wall time; Wall time: their sum).")


def scope_row(line: ClaimLine) -> dict[str, str]:
    return dict(zip(SCOPE_COLUMNS, [line.id, line.statement, line.source, line.applies]))


def method_row(run: TableRun) -> dict[str, str]:
    wall = run.wall
    cells = [run.name, "; ".join(run.budget) or MISSING, ", ".join(run.seeds) or MISSING,
             "; ".join(run.hardware) or MISSING, ", ".join(run.threads) or MISSING,
             str(wall.jobs) if wall else "0", duration_text(wall.seconds) if wall else "not run",
             f"{wall.longest.label}, {duration_text(wall.longest.seconds)}" if wall else MISSING]
    return dict(zip(METHOD_COLUMNS, cells))


def not_run_text(repro: ReproSummary) -> str:
    """Which tables were not run, and, for a report regenerated from an incomplete record, what each
    table's report covers."""
    missing = [run.name for run in repro.tables if run.wall is None]
    text = (f"Not run at {repro.scale}: {', '.join(missing)} (no results file of it records a job)." if missing
            else f"Every table was run at {repro.scale}.")
    if repro.incomplete:
        text += (" The record is incomplete (it is built a seed at a time): "
                 + "; ".join(f"{name}: {covers}" for name, covers in repro.incomplete.items()) + ".")
    return text


def claim_result_text(line: ClaimLine) -> str:
    """After the claim's id: the scale, its verdict, the values read, and a contradiction's judgement."""
    parts = [f"({line.scale}): {line.verdict}."]
    if line.numbers:
        parts.append(f"Values: {line.numbers}.")
    if line.judgement:
        parts.append(f"Judgement (config/claims.yaml): {line.judgement}")
    return " ".join(parts)


def shrink_text(errors: list[ShrinkError]) -> str:
    if not errors:
        return ""
    per_table = "; ".join(f"{e.table} {e.largest:.2g} over {e.runs} run" + ("s" if e.runs != 1 else "")
                          + (f" (ISS variant {', '.join(e.variants)})" if e.variants else "") for e in errors)
    return ("Shrinking a trained ISS model to a smaller dense one: the largest change of a log-probability "
            f"between the trained model and its shrunk copy (probe batch, evaluate step): {per_table}.")


def easy_items(repro: ReproSummary) -> list[str]:
    reproduced = repro.reproduced
    items = [f"Reproduced at {repro.scale}: " + "; ".join(f"{line.id} ({line.statement})" for line in reproduced) + "."
             if reproduced else f"No claim was reproduced at {repro.scale}."]
    shrink = shrink_text(repro.shrink)
    return items + ([shrink] if shrink else [])


def difficult_items(repro: ReproSummary) -> list[str]:
    items = [f"{line.id} is contradicted at {line.scale}: {line.judgement}" for line in repro.contradicted] \
        or [f"No claim was contradicted at {repro.scale}."]
    if repro.expensive:
        items.append("The most expensive jobs: " + "; ".join(
            f"{job.label}, {duration_text(job.seconds)}" for job in repro.expensive) + ".")
    return items
