"""From measured throughput to the projected wall time of each paper-scale table, and to SLURM resources.

Projections are arithmetic, not measurements: the training work each table's paper-scale config
asks for (rows x seeds x epochs or steps, config/config.yaml scales.paper) divided by the
throughput gpu_check measured. They leave out evaluation, validation passes, checkpointing and
data preparation, so they are lower bounds of each training job's time; the suggested SLURM
runtime adds a margin for those.
"""
from __future__ import annotations

import math

from iss_harness.config import scale_settings, table_seeds
from iss_harness.tables.table2.rows import table2_rows
from iss_harness.tables.table3.rows import table3_rows

# PTB training tokens with one <eos> per line (../shared/data/ptb/README.md).
PTB_TRAIN_TOKENS = 929_589
# Runtime asked of SLURM = projected training time x this, for evaluation passes and a slower GPU.
RUNTIME_MARGIN = 1.5


def ptb_windows_per_epoch(batch_size: int, num_steps: int) -> int:
    """Full training windows of one PTB epoch (the last partial window is not trained on)."""
    return (PTB_TRAIN_TOKENS // batch_size - 1) // num_steps


def project(measured: dict, config: dict) -> dict:
    """Training hours per job (one row, one seed) and per table (every row x seed, one after another
    on one GPU); Table 1 in each precision measured (fp32 and bf16 on a GPU, fp32 alone on a CPU).

    ``config`` is the loaded config at scale paper; rows and seeds come from the same helpers the
    workflow uses, so a lambda or a seed added to the config is projected too.
    """
    paper = scale_settings(config)
    t1, t2, t3 = paper["table1"], paper["table2"], paper["table3"]
    words_per_epoch = ptb_windows_per_epoch(t1["batch_size"], t1["num_steps"]) * t1["batch_size"] * t1["num_steps"]
    training = measured["table1_training"]
    table1 = {}
    for precision in ("fp32", "bf16"):
        if f"baseline_{precision}" not in training:
            continue
        jobs = {}
        for row, settings in t1["rows"].items():
            # direct trains a smaller model: timed at the baseline's speed, its hours are an upper bound
            kind = "iss" if settings["lambda"] > 0 else "baseline"
            jobs[row] = t1["epochs"] * words_per_epoch / training[f"{kind}_{precision}"]["words_per_second"] / 3600
        table1[precision] = _table(jobs, len(table_seeds(config, "table1")))
    rhn_steps = t2["epochs"] * ptb_windows_per_epoch(t2["batch_size"], t2["num_steps"])
    rhn_job = rhn_steps / measured["rhn_training"]["steps_per_second"] / 3600
    bidaf_sps = measured["bidaf_training"]["steps_per_second"]
    bidaf_jobs = {row: t3["baseline" if row == "baseline" else "iss"]["steps"] / bidaf_sps / 3600
                  for row in table3_rows(config)}
    return {"table1": table1,
            "table2": dict(_table({row: rhn_job for row in table2_rows(config)}, len(table_seeds(config, "table2"))),
                           epochs=t2["epochs"]),
            "table3": _table(bidaf_jobs, 1)}  # Table 3 trains each row once, at the runtime seed


def _table(jobs_hours: dict[str, float], seeds: int) -> dict:
    return dict(jobs_hours=jobs_hours, seeds=seeds, jobs=len(jobs_hours) * seeds,
                total_hours=sum(jobs_hours.values()) * seeds)


def suggest_resources(projection: dict, peak_host_mb: float) -> dict:
    """SLURM `resources` for the paper scale's training jobs: the longest projected job with a margin."""
    longest = max(max(projection["table1"]["fp32"]["jobs_hours"].values()),
                  max(projection["table2"]["jobs_hours"].values()),
                  max(projection["table3"]["jobs_hours"].values()))
    mem_mb = max(4000, int(math.ceil(2 * peak_host_mb / 1000.0)) * 1000)
    return {"train": {"mem_mb": mem_mb, "runtime": int(math.ceil(longest * 60 * RUNTIME_MARGIN)), "gpu": 1}}


def projection_rows(projection: dict) -> list[list[str]]:
    """One row per table and precision: its title, jobs, hours per job (one seed) and all jobs' hours."""
    tables = [(f"Table 1 ({precision})", t1) for precision, t1 in projection["table1"].items()]
    tables += [(f"Table 2 (fp32, {projection['table2']['epochs']} epochs)", projection["table2"]),
               ("Table 3 (fp32)", projection["table3"])]
    return [[title, str(table["jobs"]), ", ".join(f"{row} {hours:.1f} h" for row, hours in table["jobs_hours"].items()),
             f"{table['total_hours']:.1f} h"] for title, table in tables]
