"""iss_harness.cli through the table registry: every table reached the same way, and every command that
names a step, row or seed a table does not have stops with one line and exit status 2, before
any data is read (so none of these tests needs the data mirror)."""
import importlib

import pytest

from iss_harness.cli import main
from iss_harness.tables import registry
from iss_harness.config import load_config


def one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_step_a_table_does_not_have_is_refused_naming_the_table_and_its_steps(capsys):
    err = one_line_error(capsys, ["prepare", "--table", "table1"])
    assert "table1 has no step 'prepare'" in err and "train, evaluate, time, report, figures" in err


def test_an_unknown_table_is_refused_naming_the_tables(capsys):
    err = one_line_error(capsys, ["report", "--table", "table9"])
    assert "there is no table 'table9'" in err and "table1, table1_pareto, table1_width, table2, table3" in err


def test_the_sweep_is_a_table_whose_rows_are_table1_runs(capsys):
    err = one_line_error(capsys, ["train", "--table", "table1_pareto", "--row", "iss_a"])
    assert "table1_pareto has no row 'iss_a'" in err and "table1.pareto" in err
    err = one_line_error(capsys, ["figures", "--table", "table1_pareto"])
    assert "its steps: train, evaluate, time, report" in err


def test_a_timing_a_table_does_not_have_is_refused_not_replaced_by_another(capsys):
    err = one_line_error(capsys, ["time", "--table", "table2", "--sizes", "pareto"])
    assert "table2 has no timing --sizes 'pareto'" in err and "learned, paper" in err


@pytest.mark.parametrize("argv, expected", [
    (["train", "--table", "table1", "--row", "nope"], "table1 has no row 'nope' at scale 'smoke'"),
    (["evaluate", "--table", "table2", "--row", "lambda_9"], "table2 has no row 'lambda_9' at scale 'smoke'"),
    (["train", "--table", "table3", "--row", "iss_99"], "table3 has no row 'iss_99' at scale 'smoke'"),
    (["train", "--table", "table2", "--row", "baseline", "--seed", "99"], "table2 has no seed 99"),
    (["train", "--table", "table3", "--row", "baseline", "--seed", "1"], "table3 trains one run per row"),
])
def test_an_unknown_row_or_seed_is_one_error_for_every_table(capsys, argv, expected):
    err = one_line_error(capsys, argv)
    assert err.startswith(f"iss {argv[0]}: error: ") and expected in err


def test_every_registered_step_resolves_to_a_function():
    config = load_config()
    assert list(registry.load_tables(config)) == ["table1", "table1_pareto", "table1_width", "table2", "table3"]
    for table in registry.TABLES.values():
        calls = [table.step(name) for name in table.steps] + [table.step("time", s) for s in table.timings]
        for call in calls:  # the function each step names exists
            assert callable(getattr(importlib.import_module(call.module), call.function)), call
        rows = table.rows(config)
        assert rows and table.check_run(config, rows[0], None) == (None if table.seeds is None else table.seeds(config)[0])


def test_registering_a_table_with_a_step_the_protocol_lacks_is_refused():
    with pytest.raises(ValueError, match="unknown steps"):
        registry.register(registry.Table(name="toy", rows=lambda c: ["a"], seeds=None, steps={"deploy": "x:y"}))
    assert "toy" not in registry.TABLES


def test_outside_a_project_folder_the_harness_says_where_it_looked(tmp_path, monkeypatch, capsys):
    """The harness reads config/ and workflow/ from the working directory, never from where the
    package is installed: elsewhere it says so in one line."""
    monkeypatch.chdir(tmp_path)
    err = one_line_error(capsys, ["check-config"])
    assert f"config/config.yaml does not exist in the working directory {tmp_path}" in err
