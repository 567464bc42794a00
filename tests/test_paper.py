"""The paper tables file: complete against paper/tables.txt, validated, and checked by rule."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
from iss_harness.paper.tables import (
    RULES,
    SCALES,
    TOLERANCE_KINDS,
    PaperTablesError,
    UnknownKeyError,
    load_paper_tables,
)
from iss_harness.render import format_like, format_number, parse_printed

# Every printed cell of paper/tables.txt, row by row in the paper's order (copied by hand from
# tables.txt; perplexity pairs and ISS-size pairs split into two columns).
TABLE1_COLUMNS = ["keep", "perplexity_valid", "perplexity_test", "iss_1st", "iss_2nd",
                  "weights", "total_time_ms", "speedup", "mult_add_reduction"]
TABLE1 = {
    "baseline": ["0.35", "82.57", "78.57", "1500", "1500", "66.0M", "157.0ms", "1.00×", "1.00×"],
    "iss_a": ["0.60", "82.59", "78.65", "373", "315", "21.8M", "14.82ms", "10.59×", "7.48×"],
    "iss_b": ["0.60", "80.24", "76.03", "381", "535", "25.2M", "22.11ms", "7.10×", "5.01×"],
    "direct": ["0.55", "90.31", "85.66", "373", "315", "21.8M", "14.82ms", "10.59×", "7.48×"],
}
TABLE2_COLUMNS = ["lambda", "perplexity_valid", "perplexity_test", "width", "parameters"]
TABLE2 = {
    "baseline": ["0.0", "67.9", "65.4", "830", "23.5M"],
    "lambda_0.004": ["0.004", "67.5", "65.0", "726", "18.9M"],
    "lambda_0.005": ["0.005", "68.1", "65.4", "517", "11.1M"],
    "lambda_0.006": ["0.006", "70.3", "67.7", "403", "7.6M"],
    "lambda_0.007": ["0.007", "74.5", "71.2", "328", "5.7M"],
}
TABLE3_COLUMNS = ["em", "f1", "modfwd1", "modbwd1", "modfwd2", "modbwd2", "outfwd", "outbwd",
                  "weights", "total_time_ms"]
TABLE3 = {
    "baseline": ["67.98", "77.85", "100", "100", "100", "100", "100", "100", "2.69M", "6.20ms"],
    "iss_1": ["67.36", "77.16", "87", "81", "87", "92", "74", "96", "2.29M", "5.83ms"],
    "iss_2": ["66.32", "76.22", "51", "33", "42", "58", "37", "26", "1.17M", "4.46ms"],
    "iss_3": ["65.36", "75.78", "20", "33", "40", "38", "31", "16", "0.95M", "3.59ms"],
    "iss_4": ["64.60", "74.99", "23", "22", "35", "35", "25", "14", "0.88M", "2.74ms"],
}
EXPECTED = {
    "table1": (TABLE1_COLUMNS, TABLE1),
    "table2": (TABLE2_COLUMNS, TABLE2),
    "table3": (TABLE3_COLUMNS, TABLE3),
}


@pytest.fixture(scope="module")
def paper():
    return load_paper_tables()


# --- coverage and values ----------------------------------------------------------------------


def test_every_printed_cell_is_recorded(paper):
    # the paper's tables, then the experiment of this harness's own, which has no printed cells
    assert list(paper.tables) == [*EXPECTED, "table1_width"]
    assert paper.columns("table1_width") == [] and "direct_minus_iss" in paper.table("table1_width").metrics
    for table, (columns, rows) in EXPECTED.items():
        assert paper.columns(table) == columns, table
        assert paper.rows(table) == list(rows), table
        for row, printed_cells in rows.items():
            for column, printed in zip(columns, printed_cells):
                cell = paper.cell(table, row, column)
                assert cell.printed == printed, f"{table}/{row}/{column}"
                assert math.isclose(cell.value, parse_printed(printed)[0]), f"{table}/{row}/{column}"
                assert cell.source.startswith("Table"), f"{table}/{row}/{column}"


def test_spot_values_against_tables_txt(paper):
    assert paper.cell("table1", "baseline", "weights").value == 66.0e6
    assert paper.cell("table1", "baseline", "weights").printed == "66.0M"
    assert paper.cell("table1", "iss_a", "speedup").value == 10.59
    assert paper.cell("table1", "iss_a", "speedup").printed == "10.59×"
    assert (paper.cell("table1", "iss_b", "perplexity_valid").value,
            paper.cell("table1", "iss_b", "perplexity_test").value) == (80.24, 76.03)
    assert paper.cell("table2", "baseline", "width").value == 830
    assert paper.cell("table2", "baseline", "parameters").printed == "23.5M"
    assert paper.cell("table3", "iss_4", "weights").value == 0.88e6
    assert paper.cell("table3", "iss_4", "total_time_ms").value == 2.74


def test_metadata_has_titles_and_footnotes(paper):
    table1 = paper.table("table1")
    assert any("10 batch size and 30 unrolled steps" in note for note in table1.footnotes)
    assert any("(original Mult-add)/(left Mult-add)" in note for note in table1.footnotes)
    assert paper.table("table2").title == "Learning ISS sparsity from scratch in RHNs."
    assert paper.table("table2").footnotes == ("* All dropout ratios are multiplied by 0.6×.",)
    assert paper.table("table3").footnotes == ("* Measured with batch size 1.",)
    assert paper.table("table1").columns["weights"] == "Weight #"


def test_scales_follow_what_needs_training(paper):
    # Geometry is checked at every scale; trained numbers only at paper scale.
    assert paper.cell("table1", "iss_a", "weights").scales == SCALES
    assert paper.cell("table1", "iss_a", "mult_add_reduction").scales == SCALES
    assert paper.cell("table1", "direct", "iss_1st").scales == SCALES  # an input
    assert paper.cell("table1", "iss_a", "iss_1st").scales == ("paper",)  # learned
    assert paper.cell("table1", "iss_a", "perplexity_test").scales == ("paper",)
    assert paper.cell("table3", "iss_1", "em").scales == ("paper",)
    assert paper.cell("table1", "iss_a", "speedup").rule == "ratio"


def test_unknown_names_list_what_exists(paper):
    with pytest.raises(UnknownKeyError, match="tables are: table1, table2, table3"):
        paper.rows("table9")
    with pytest.raises(KeyError, match="rows are: baseline, iss_a, iss_b, direct"):
        paper.cell("table1", "iss_c", "keep")
    with pytest.raises(KeyError, match="columns are: .*mult_add_reduction"):
        paper.cell("table1", "baseline", "flops")


# --- validation -------------------------------------------------------------------------------


def _minimal() -> dict:
    cell = {"value": 21.8e6, "printed": "21.8M", "source": "Table 1, row 'ISS', column 'Weight #'",
            "rule": "exact", "tolerance": {"abs": 0}, "scales": ["smoke", "paper"]}
    return {"tables": {"t1": {
        "title": "T", "footnotes": ["* note"], "columns": {"weights": "Weight #"},
        "rows": {"iss": {"label": "ISS", "cells": {"weights": cell}}},
    }}}


def _write(tmp_path, data) -> Path:
    path = tmp_path / "paper_tables.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _broken(tmp_path, change) -> Path:
    data = _minimal()
    change(data["tables"]["t1"]["rows"]["iss"]["cells"]["weights"])
    return _write(tmp_path, data)


def test_minimal_file_loads(tmp_path):
    paper = load_paper_tables(_write(tmp_path, _minimal()))
    assert paper.cell("t1", "iss", "weights").value == 21.8e6


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(rule="roughly"), r"tables\.t1\.rows\.iss\.cells\.weights\.rule: 'roughly' is not one of \['exact'"),
    (lambda c: c.pop("source"), r"t1\.rows\.iss\.cells\.weights: 'source' is a required property"),
    (lambda c: c.update(tolerance={"within": 1}), r"weights\.tolerance: .*'within' was unexpected.*\['abs', 'factor', 'rel'\]"),
    (lambda c: c.update(tolerance={"abs": 1, "rel": 0.1}), r"weights\.tolerance: .* has too many properties"),
    (lambda c: c.update(tolerance={"factor": 2}), r"weights\.tolerance: rule 'exact' with tolerance 'factor'"),
    (lambda c: c.update(scales=["smoke", "huge"]), r"weights\.scales\[1\]: 'huge' is not one of \['smoke', 'mid', 'paper'\]"),
    (lambda c: c.update(value="21.8e6"), r"weights\.value: '21\.8e6' is not of type 'number'.*write 66\.0e\+6"),
    (lambda c: c.update(value=21.9e6), r"weights\.value: .* does not match printed '21\.8M'"),
    (lambda c: c.update(printed="about 21.8M"), r"weights\.printed: cannot read printed cell"),
    (lambda c: c.update(colour="red"), r"weights: .*'colour' was unexpected\); expected keys: \['note', 'printed'"),
])
def test_validation_errors_name_the_key(tmp_path, change, message):
    path = _broken(tmp_path, change)
    with pytest.raises(PaperTablesError, match=message) as error:
        load_paper_tables(path)
    assert str(path) in str(error.value)


def test_schema_names_the_rules_and_scales_the_code_knows():
    schema = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / "paper_tables.schema.yaml").read_text())
    cell = schema["$defs"]["cell"]["properties"]
    assert tuple(cell["rule"]["enum"]) == RULES
    assert tuple(cell["scales"]["items"]["enum"]) == SCALES
    assert set(cell["tolerance"]["properties"]) == set(TOLERANCE_KINDS)


def test_missing_and_unknown_columns_are_named(tmp_path):
    data = _minimal()
    data["tables"]["t1"]["columns"]["speedup"] = "Speedup"
    with pytest.raises(PaperTablesError, match=r"rows\.iss\.cells: missing column\(s\) \['speedup'\]"):
        load_paper_tables(_write(tmp_path, data))
    data = _minimal()
    data["tables"]["t1"]["rows"]["iss"]["cells"]["flops"] = data["tables"]["t1"]["rows"]["iss"]["cells"]["weights"]
    with pytest.raises(PaperTablesError, match=r"rows\.iss\.cells: unknown column\(s\) \['flops'\]"):
        load_paper_tables(_write(tmp_path, data))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(PaperTablesError, match="cannot read"):
        load_paper_tables(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables: {t1: [", encoding="utf-8")
    with pytest.raises(PaperTablesError, match="not valid YAML"):
        load_paper_tables(bad)


# --- checks -----------------------------------------------------------------------------------


def test_exact_compares_at_the_printed_precision(paper):
    weights = paper.cell("table1", "iss_a", "weights")
    assert weights.check(21_824_148, "smoke").status == "pass"
    assert weights.check(21_824_148, "smoke").delta == pytest.approx(24_148)
    assert weights.check(21_850_000, "paper").status == "fail"  # 21.9M
    reduction = paper.cell("table1", "iss_a", "mult_add_reduction")
    assert reduction.check(7.4767, "mid").status == "pass"
    assert reduction.check(7.4875, "mid").status == "fail"  # 7.49×
    assert paper.cell("table2", "lambda_0.006", "parameters").check(7_621_058, "smoke").status == "pass"


def test_lower_and_higher_is_better(paper):
    perplexity = paper.cell("table1", "iss_a", "perplexity_test")  # 78.65, +2.0 allowed
    assert perplexity.check(75.0, "paper").status == "pass"
    assert perplexity.check(80.6, "paper").status == "pass"
    assert perplexity.check(80.7, "paper").status == "fail"
    em = paper.cell("table3", "iss_1", "em")  # 67.36, -1.5 allowed
    assert em.check(70.0, "paper").status == "pass"
    assert em.check(65.9, "paper").status == "pass"
    assert em.check(65.8, "paper").status == "fail"


def test_match_and_ratio(paper):
    direct = paper.cell("table1", "direct", "perplexity_valid")  # 90.31 +- 3.0
    assert direct.check(92.0, "paper").status == "pass"
    assert direct.check(85.0, "paper").status == "fail"  # much better than the paper claims
    assert direct.check(94.0, "paper").status == "fail"
    speedup = paper.cell("table1", "iss_a", "speedup")  # 10.59, within x/÷2
    assert speedup.check(6.0, "paper").status == "pass"
    assert speedup.check(20.0, "paper").status == "pass"
    assert speedup.check(5.0, "paper").status == "fail"
    assert speedup.check(22.0, "paper").status == "fail"


def test_not_applicable_outside_scales_or_without_a_value(paper):
    perplexity = paper.cell("table1", "baseline", "perplexity_valid")
    result = perplexity.check(120.0, "smoke")
    assert (result.status, result.delta) == ("n/a", None)
    assert "smoke" in result.message
    assert perplexity.check(None, "paper").status == "n/a"
    assert perplexity.check(float("nan"), "paper").status == "n/a"
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        perplexity.check(80.0, "huge")


# --- number formatting ------------------------------------------------------------------------


@pytest.mark.parametrize("value, printed, expected", [
    (21_824_148, "21.8M", "21.8M"),
    (66_022_000, "66.0M", "66.0M"),
    (7.4767, "7.48×", "7.48×"),
    (10.5937, "10.59×", "10.59×"),
    (14.8249, "14.82ms", "14.82ms"),
    (157.04, "157.0ms", "157.0ms"),
    (373.4, "373", "373"),
    (0.955e6, "0.95M", "0.96M"),  # half-up, as a person rounds
    (0.0, "0.0", "0.0"),
])
def test_format_like(value, printed, expected):
    assert format_like(value, printed) == expected


def test_format_number_never_prints_negative_zero():
    assert format_number(-0.001, 1) == "0.0"


def test_identities_are_shown_never_counted_as_passes(paper):
    """The baseline against itself and sizes that are inputs hold by construction: an exact match
    is "identity", not "pass"; a mismatch (broken bookkeeping) still fails."""
    speedup = paper.cell("table1", "baseline", "speedup")
    assert speedup.rule == "identity"
    assert speedup.check(1.0, "smoke").status == "identity"
    assert speedup.check(1.2, "smoke").status == "fail"
    assert paper.cell("table1", "direct", "iss_1st").rule == "identity"  # trained at ISS's sizes
    assert paper.cell("table1", "iss_a", "mult_add_reduction").check(7.48, "smoke").status == "pass"  # can fail
    identities = {cell.key for table in ("table1", "table2", "table3") for row in paper.rows(table)
                  for cell in paper.row(table, row).cells.values() if cell.rule == "identity"}
    assert all("/baseline/" in key or "/direct/" in key for key in identities), identities


def test_a_table_of_our_own_lists_the_metrics_its_claims_read(tmp_path):
    from iss_harness.paper.results import known_metrics
    data = {"tables": {"own": {"title": "An experiment of this harness", "footnotes": [], "columns": {},
                               "metrics": ["gap", "gap_sd"], "rows": {"widest": {"label": "widest", "cells": {}}}}}}
    paper = load_paper_tables(_write(tmp_path, data))
    assert known_metrics(paper, "own") == ("gap", "gap_sd")
    del data["tables"]["own"]["metrics"]
    with pytest.raises(PaperTablesError, match=r"tables\.own: no columns and no metrics"):
        load_paper_tables(_write(tmp_path, data))
