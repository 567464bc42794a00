"""What the one-page report reads from the files, and nothing else: the tables' sections
(``results/<scale>/<table>.csv``, ``reports/<scale>/<table>.{md,tex}``), the comparison summary
(``results/<scale>/comparison.csv``), the figures of ``reports/<scale>/figures/``, the measured
speedup-vs-sparsity numbers (``results/<scale>/sparsity_speed.json``) and the provenance of every results
file (``results/<scale>/**/{metrics,timing_*,sparsity_speed}.json``) with the wall time of each table's
jobs (``wall_totals``); and the small text helpers the renderers share (``clip``, ``duration_text``, ...).

The lowest module of the report: ``summary``, ``report_page`` and the renderers import it; it imports
none of them.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from iss_harness.paper.compare import FAILING, STATUSES as COMPARISON_STATUSES
from iss_harness.paper.tables import SCALES, PaperTables
from iss_harness.render import MISSING

# Figures in reading order, with captions. Any other PNG/PDF in reports/figures/ follows, captioned
# by its file name: adding a figure needs no code here, a caption is one line.
FIGURES: dict[str, str] = {
    "table1_training_curves": "Table 1: validation perplexity per epoch of every row, and the hidden units "
                              "left per LSTM layer in the ISS rows.",
    "table1_iss_sparsity": "Table 1: the ISS model's weight matrices; removed components are white stripes "
                           "of rows and columns, as in the paper's figure.",
    "table1_pareto": "Table 1's trade-off sweep: validation perplexity relative to the baseline's against "
                     "weights (left) and measured speedup (right), for ISS from scratch and from the trained "
                     "baseline at several lambdas and for the direct design at each size ISS learned; the "
                     "paper's rows relative to its own baseline. A row with no timing recorded has no point "
                     "on the right.",
    "table1_width": "The width experiment: per width, the validation perplexity of ISS and of the direct design "
                    "at ISS's sizes relative to that width's baseline (seed mean and spread), the gap between "
                    "them in % of the baseline (paired by seed; above 0, ISS is better), the paper's rows at 1500 "
                    "units relative to its own baseline, and the training and validation perplexity of the grid's "
                    "baseline with the least dropout (how much room each width has).",
    "rhn_tradeoff": "Table 2: RHN validation perplexity against width as λ grows, this run and the paper's.",
    "bidaf_group_norms": "Table 3: histogram of the BiDAF ISS group norms, baseline against ISS.",
    "speedup_vs_sparsity": "The paper's motivation, measured here: one LSTM layer's multiply (the paper's "
                           "1500-unit layer) with structured removal (a smaller dense GEMM) against "
                           "non-structured random sparsity at equal sparsity (CSR, and dense with zeros). "
                           "The dense kernel with zeros kept is the reference operation itself: its spread "
                           "around 1× shows the timing noise of this machine.",
}
# Results files whose provenance the report lists (glob patterns under results/<scale>/).
PROVENANCE_PATTERNS = ("metrics.json", "timing_*.json", "sparsity_speed.json")
SPARSITY_SPEED = "sparsity_speed.json"
NOTABLE_STATUSES = (*FAILING, "missing")  # comparison lines listed by name in the summary


# ---- gathering ------------------------------------------------------------------------------------


@dataclass
class TableSection:
    name: str  # table1
    title: str  # the paper's caption
    scales: list[str]  # from results/<name>.csv; [] when that file is absent
    markdown: str | None  # reports/<name>.md
    latex: str | None  # reports/<name>.tex


@dataclass(frozen=True)
class Job:
    """One job (one `iss` process) as a results file's provenance records it."""
    file: str  # relative to the results folder: <scale>/<table>/...
    step: str  # "training" or "evaluation" in a metrics file (two jobs wrote it); "" in a file one job wrote
    seconds: float | None  # its wall time (a resumed training: its epochs' time, see training_seconds)
    device: str
    cpu: str
    threads: str
    seed: str
    resumed: bool = False  # a training resumed from its checkpoint: seconds is its epochs' time

    @property
    def scale(self) -> str:
        return self.file.split("/")[0]

    @property
    def table(self) -> str:
        """The results folder it lies in (table1); a file at the scale's top level names itself."""
        parts = self.file.split("/")
        return parts[1] if len(parts) > 2 else Path(parts[-1]).stem

    @property
    def label(self) -> str:
        step = ", ".join(filter(None, [self.step, "resumed" if self.resumed else ""]))
        return f"{self.file} ({step})" if step else self.file


@dataclass(frozen=True)
class WallTotal:
    """The wall time of one table's jobs at one scale (those that recorded it)."""
    scale: str
    table: str
    jobs: int
    seconds: float
    longest: Job


@dataclass
class ProvenanceLine:
    file: str  # relative to the results folder
    scale: str
    device: str
    threads: str
    git: str
    config_hash: str
    seed: str
    created: str
    versions: dict
    note: str = ""
    code: str = MISSING  # the first 8 digits of the code digest (iss_harness.provenance.code_digest)
    wall: str = MISSING  # the job's wall time
    jobs: tuple[Job, ...] = ()  # every job that wrote the file


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def _csv_rows(path: Path) -> list[dict] | None:
    """Rows of a CSV as strings (the csv module: pandas would read the status "n/a" as NaN)."""
    if not path.exists():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def table_sections(scale_results: Path, reports: Path, paper: PaperTables) -> list[TableSection]:
    """One section per paper table: its scale's results/<scale>/<table>.csv and reports/<scale>/<table>.{md,tex}."""
    sections = []
    for name, table in paper.tables.items():
        rows = _csv_rows(Path(scale_results) / f"{name}.csv") or []
        scales = sorted({row.get("scale", "") for row in rows if row.get("scale")}, key=_scale_order)
        sections.append(TableSection(name, table.title, scales, _read(Path(reports) / f"{name}.md"),
                                     _read(Path(reports) / f"{name}.tex")))
    return sections


def _scale_order(scale: str) -> tuple[int, str]:
    return (SCALES.index(scale) if scale in SCALES else len(SCALES), scale)


def figure_stems(reports: Path) -> list[str]:
    """Figures present (a PNG or a PDF), the known ones first in ``FIGURES`` order."""
    folder = Path(reports) / "figures"
    present = {p.stem for pattern in ("*.png", "*.pdf") for p in folder.glob(pattern) if not p.name.startswith(".")}
    return [stem for stem in FIGURES if stem in present] + sorted(present - set(FIGURES))


def figure_caption(stem: str) -> str:
    return FIGURES.get(stem, stem.replace("_", " "))


def comparison_summary(scale_results: Path) -> dict | None:
    """Counts per kind and status, and the notable lines, from results/<scale>/comparison.csv."""
    rows = _csv_rows(Path(scale_results) / "comparison.csv")
    if rows is None:
        return None
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        kind = row.get("kind") or "?"
        counts.setdefault(kind, {status: 0 for status in COMPARISON_STATUSES})
        status = row.get("status") or "?"
        counts[kind][status] = counts[kind].get(status, 0) + 1
    claims = [row for row in rows if row.get("kind") == "claim"]
    notable = [row for row in rows if row.get("kind") != "claim" and row.get("status") in NOTABLE_STATUSES]
    scales = sorted({row["scale"] for row in rows if row.get("scale")}, key=_scale_order)
    failing = sum(1 for row in rows if row.get("status") in FAILING)
    known = [row for row in claims if row.get("status") == "known fail"]
    return dict(counts=counts, claims=claims, notable=notable, scales=scales, failing=failing, known=known,
                lines=len(rows))


def known_failure_ids(summary: dict) -> str:
    """The known failures by claim and scale only: their explanation already opens the report."""
    return ", ".join(f"{r['id']} ({r.get('scale') or MISSING})" for r in summary.get("known", []))


def provenance_lines(results: Path) -> list[ProvenanceLine]:
    """One line per results file that records provenance, scale by scale."""
    results = Path(results)
    files: set[Path] = set()
    for scale_dir in sorted((d for d in results.iterdir() if d.is_dir()), key=lambda d: _scale_order(d.name)) \
            if results.exists() else []:
        for pattern in PROVENANCE_PATTERNS:
            files.update(scale_dir.rglob(pattern))
    lines = []
    for path in sorted(files, key=lambda p: (_scale_order(p.relative_to(results).parts[0]), str(p))):
        relative = path.relative_to(results).as_posix()
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            lines.append(ProvenanceLine(relative, path.relative_to(results).parts[0], MISSING, MISSING, MISSING,
                                        MISSING, MISSING, MISSING, {}, f"unreadable: {error}"))
            continue
        lines.append(_provenance_line(relative, path.relative_to(results).parts[0], payload,
                                      path.with_name(HISTORY)))
    return _flag_mixed_code(lines)


HISTORY = "history.csv"  # a training's epochs beside its metrics.json, each with its `seconds`


def training_seconds(made: dict, history: Path | None) -> tuple[float | None, bool]:
    """(seconds, resumed) of a training job. Its provenance's ``wall_seconds`` counts the last process
    only: a training resumed from its checkpoint lost the time before. Its history's epochs keep their
    seconds across a resume, and a run that was not resumed takes longer than its epochs (it also
    loads, evaluates and saves), so epochs that add up to more than the wall time mean a resume; their
    sum is then the job's time (a lower bound: it leaves out the lost process's loading and saving).
    ``history`` None: a job with no epochs (an evaluation), its wall time as recorded."""
    wall = made.get("wall_seconds")
    wall = float(wall) if isinstance(wall, (int, float)) else None
    rows = (_csv_rows(history) if history is not None else None) or []
    try:
        epochs = sum(float(row["seconds"]) for row in rows)
    except (KeyError, TypeError, ValueError):  # a history without per-epoch seconds (Table 3's steps)
        return wall, False
    if wall is not None and epochs > wall:
        return epochs, True
    return wall, False


def _flag_mixed_code(lines: list[ProvenanceLine]) -> list[ProvenanceLine]:
    """Name the files whose code digest is not the one most files of their table and kind have:
    pieces of one table made by different training or evaluation code (recorded across commits).
    A kind is a file name: training runs (metrics.json) are compared with each other, a timing file
    with timing files of its name, since each kind of job loads its own code."""
    def kind(line: ProvenanceLine) -> tuple[str, str]:
        parts = line.file.split("/")
        return "/".join(parts[:2]), parts[-1]

    by_kind: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        if line.code != MISSING:
            by_kind.setdefault(kind(line), []).append(line.code)
    usual = {key: max(set(codes), key=codes.count) for key, codes in by_kind.items() if len(set(codes)) > 1}
    flagged = []
    for line in lines:
        key = kind(line)
        if key in usual and line.code not in (MISSING, usual[key]):
            note = f"code {line.code} differs from {usual[key]} of most {key[0].split('/')[1]} {key[1]} files"
            line = ProvenanceLine(**{**line.__dict__, "note": "; ".join(filter(None, [line.note, note]))})
        flagged.append(line)
    return flagged


def _provenance_line(relative: str, folder: str, payload: dict, history: Path) -> ProvenanceLine:
    made = payload.get("training_provenance") or payload.get("provenance")
    if not isinstance(made, dict):
        return ProvenanceLine(relative, folder, MISSING, MISSING, MISSING, MISSING, MISSING, MISSING, {},
                              "no provenance recorded")
    threads = str(made.get("threads", MISSING))
    timed = sorted({c.get("threads") for c in (payload.get("candidates") or {}).values()
                    if isinstance(c, dict) and c.get("threads") is not None})
    if timed:
        threads += f" (timed at {', '.join(map(str, timed))})"
    notes = []
    evaluated = payload.get("provenance") if payload.get("training_provenance") else None
    if isinstance(evaluated, dict):
        if evaluated.get("git_sha") != made.get("git_sha"):
            notes.append(f"evaluated at git {short_sha(evaluated.get('git_sha'))}")
        if evaluated.get("device") != made.get("device"):
            notes.append(f"evaluated on {evaluated.get('device')}")
    if made.get("scale") not in (None, folder):
        notes.append(f"provenance says scale {made.get('scale')}")
    jobs = recorded_jobs(relative, payload, history)  # the first is the job ``made`` describes
    return ProvenanceLine(relative, str(made.get("scale", folder)), str(made.get("device", MISSING)), threads,
                          short_sha(made.get("git_sha")), str(made.get("config_hash", MISSING)),
                          str(made.get("seed", MISSING)), str(made.get("created", MISSING)),
                          dict(made.get("versions") or {}), "; ".join(notes),
                          code=str(made.get("code_digest") or MISSING)[:8],
                          wall=_wall_text(jobs[0]) if jobs else MISSING, jobs=jobs)


def _wall_text(job: Job) -> str:
    """The wall time of the job a provenance line shows (the training of a metrics file)."""
    if job.seconds is None:
        return MISSING
    return f"{job.seconds:.0f} s" + (" (resumed: its epochs' time)" if job.resumed else "")


def recorded_jobs(relative: str, payload: dict, history: Path) -> tuple[Job, ...]:
    """The jobs a results file records: training and evaluation in a metrics file, else its one job.
    ``history``: the training's epochs (history.csv beside a metrics file), for a resumed training."""
    training, own = payload.get("training_provenance"), payload.get("provenance")
    steps = (("training", training), ("evaluation", own)) if isinstance(training, dict) else (("", own),)
    return tuple(_job(relative, step, made, history if step != "evaluation" else None)
                 for step, made in steps if isinstance(made, dict))


def _job(relative: str, step: str, made: dict, history: Path | None) -> Job:
    seconds, resumed = training_seconds(made, history)
    return Job(relative, step, seconds,
               str(made.get("device", MISSING)), str(made.get("cpu") or MISSING), str(made.get("threads", MISSING)),
               str(made.get("seed", MISSING)), resumed)


def wall_totals(lines: list[ProvenanceLine]) -> list[WallTotal]:
    """Per scale and table (results folder), in the order of the lines: the jobs that recorded a wall
    time, their sum and the longest."""
    by_table: dict[tuple[str, str], list[Job]] = {}
    for job in (job for line in lines for job in line.jobs if job.seconds is not None):
        by_table.setdefault((job.scale, job.table), []).append(job)
    return [WallTotal(scale, table, len(jobs), sum(job.seconds for job in jobs), max(jobs, key=lambda job: job.seconds))
            for (scale, table), jobs in by_table.items()]


def duration_text(seconds: float) -> str:
    """52 s; 790 s (13.2 min); 9000 s (2.5 h)."""
    if seconds >= 2 * 3600:
        return f"{seconds:.0f} s ({seconds / 3600:.1f} h)"
    if seconds >= 2 * 60:
        return f"{seconds:.0f} s ({seconds / 60:.1f} min)"
    return f"{seconds:.0f} s"


def short_sha(sha) -> str:
    if not sha:
        return MISSING
    sha = str(sha)
    return sha[:10] + ("-dirty" if sha.endswith("-dirty") else "")


def version_sets(lines: list[ProvenanceLine]) -> dict[str, str]:
    """{"L1": "python 3.11.7, torch 2.13.0+cpu, ..."}: each distinct set of library versions once."""
    keys: dict[str, str] = {}
    for line in lines:
        text = _versions_text(line.versions)
        if text and text not in keys.values():
            keys[f"L{len(keys) + 1}"] = text
    return keys


def _versions_text(versions: dict) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items() if version)


def version_key(line: ProvenanceLine, keys: dict[str, str]) -> str:
    text = _versions_text(line.versions)
    return next((key for key, value in keys.items() if value == text), MISSING)


def sparsity_speed_rows(results: Path, scale: str) -> tuple[dict, list[dict]] | None:
    """(the layer/protocol header, one row per sparsity and thread count) from sparsity_speed.json."""
    path = Path(results) / scale / SPARSITY_SPEED
    if not path.exists():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    table: dict[tuple[int, float], dict] = {}
    for point in report.get("points", []):
        key = (point["threads"], point["sparsity"])
        table.setdefault(key, {"Threads": point["threads"], "Sparsity": f"{100 * point['sparsity']:.1f}%",
                               "Units kept": point["units_kept"]})
        table[key][point["kind"]] = f"{point['speedup']:.2f}×"
    return report, [table[key] for key in sorted(table)]



def clip(text, limit: int = 220) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scales_text(section: TableSection) -> str:
    # The scale column reads the table's tidy CSV, which is written only when the table's report is built;
    # a table with recorded jobs but no report yet has none, so name the CSV rather than say "no results".
    return ", ".join(section.scales) if section.scales else f"none yet (no {section.name}.csv)"
