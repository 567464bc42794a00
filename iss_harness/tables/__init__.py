"""The harness's experiments, one package per table: ``table1`` (PTB, stacked LSTMs),
``table1_pareto`` (Table 1's trade-off sweep), ``table1_width`` (Table 1's comparison across widths),
``table2`` (RHN), ``table3`` (BiDAF on SQuAD).

A package holds its rows (``rows.py``: rows, seeds and folders from the config, torch-free), its
experiment (train, evaluate, time), its report and figures, and registers itself in ``__init__``
(``iss_harness.tables.registry``): the command line and the Snakefile reach every table through the
registry. What several tables share stays below: ``iss_harness.tasks`` (training loops, timing,
paths) and ``iss_harness.reporting`` (table files, plotting, the one-page report).
"""
from iss_harness.tables.registry import (BUILT_IN, Call, NoSuchStep, Request, STEPS, TABLES, Table, compared_tables,
                                         load_tables, paper_files, register, rule_files, table)

__all__ = ["BUILT_IN", "Call", "NoSuchStep", "Request", "STEPS", "TABLES", "Table", "compared_tables", "load_tables",
           "paper_files", "register", "rule_files", "table"]
