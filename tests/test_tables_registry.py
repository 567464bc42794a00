"""Adding a table is cheap: a toy table (its package, config block, schema, paper cells and one rule
file) registered through the public extension point (config `extra_tables` and
iss_harness.tables.register) runs end to end in a scratch copy of the workflow: Snakemake includes
its rule file, `iss` trains its rows and reports it through the registry, and `iss compare` checks its
cell against its paper file. Nothing of the command line or of another table is edited."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workflow_copy import copy_workflow

TOY_PACKAGE = {
    "__init__.py": '''
        """A toy table: each row's `value`, doubled."""
        from iss_harness.tables import Call, Table, register

        def _rows(config):
            from iss_harness.config import scale_settings
            return list(scale_settings(config)["toy"]["rows"])

        TABLE = register(Table(
            name="toy", rows=_rows, seeds=None, row_origin="rows come from toy.rows",
            rules="toy_table/rules.smk", schema="toy_table/schema.yaml", paper="toy_table/paper.yaml",
            steps=dict(train=Call("toy_table.steps", "train_row", ("row", "results")),
                       report=Call("toy_table.steps", "build", ("results", "reports")))))
        ''',
    "steps.py": '''
        from iss_harness.config import scale_settings
        from iss_harness.io import read_json, write_json_atomic, write_text_atomic
        from iss_harness.tasks.paths import scale_root, table_dir

        def train_row(config, row, results):
            value = scale_settings(config)["toy"]["rows"][row]["value"]
            write_json_atomic(table_dir(results, config, "toy") / row / "metrics.json", {"double": 2 * value})

        def build(config, results, reports):
            lines = ["scale,setting,row,metric,reproduced,paper_column"]
            for row in scale_settings(config)["toy"]["rows"]:
                double = read_json(table_dir(results, config, "toy") / row / "metrics.json")["double"]
                lines.append(f"{config['scale']},paper_sizes,{row},double,{double},double")  # cells below paper scale are checked on paper_sizes lines
            table = scale_root(results, config) / "toy.csv"
            write_text_atomic(table, "\\n".join(lines) + "\\n")
            write_text_atomic(reports / "toy.md", "# Toy\\n\\n" + "\\n".join(lines[1:]) + "\\n")
            return [table, reports / "toy.md"]
        ''',
    "rules.smk": '''
        # The toy table's rules: one job per row, then the report.
        TOY_ROWS = list(config["scales"][SCALE]["toy"]["rows"])


        rule toy_train:
            output:
                f"{RESULTS}/toy/{{row}}/metrics.json",
            shell:
                "iss train --table toy --row {wildcards.row}"


        rule toy_report:
            input:
                expand(f"{RESULTS}/toy/{{row}}/metrics.json", row=TOY_ROWS),
            output:
                f"{RESULTS}/toy.csv",
                f"{REPORTS}/toy.md",
            shell:
                "iss report --table toy"
        ''',
    "schema.yaml": '''
        type: object
        additionalProperties: false
        required: [rows]
        properties:
          rows:
            type: object
            additionalProperties:
              type: object
              required: [value]
              properties: {value: {type: integer}}
        ''',
    "paper.yaml": '''
        tables:
          toy:
            title: "A toy table"
            footnotes: []
            columns: {double: "Twice the value"}
            rows:
              a:
                label: a
                cells:
                  double: {value: 6, printed: "6", source: "this test", rule: match, tolerance: {abs: 0.5}, scales: [smoke]}
              b:
                label: b
                cells:
                  double: {value: 10, printed: "10", source: "this test", rule: match, tolerance: {abs: 0.5}, scales: [smoke]}
        ''',
}
TOY_CONFIG = {"extra_tables": {"toy": "toy_table"},
              "scales": {"smoke": {"toy": {"rows": {"a": {"value": 3}, "b": {"value": 4}}}}}}


@pytest.fixture
def project(tmp_path):
    copy_workflow(tmp_path)
    package = tmp_path / "toy_table"
    package.mkdir()
    for name, text in TOY_PACKAGE.items():
        (package / name).write_text(textwrap.dedent(text).lstrip())
    (tmp_path / "config" / "toy.yaml").write_text(json.dumps(TOY_CONFIG))
    return tmp_path


def run(project: Path, *argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("ISS_CONFIG", None)
    env.pop("ISS_CONFIG_OVERRIDES", None)
    return subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=600)


def test_a_toy_table_runs_end_to_end_through_the_extension_point(project):
    done = run(project, "snakemake", "toy_report", "--cores", "1", "--configfile", "config/toy.yaml")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (project / "results" / "smoke" / "toy" / "b" / "metrics.json").is_file()
    assert "b,double,8,double" in (project / "results" / "smoke" / "toy.csv").read_text()
    assert (project / "reports" / "smoke" / "toy.md").is_file()
    config = ["--config", "config/config.yaml", "--config", "config/toy.yaml"]
    listed = run(project, "iss", "check-config", *config)
    assert listed.returncode == 0 and "toy: train, report" in listed.stdout, listed.stderr
    compared = run(project, "iss", "compare", "--no-fail", *config)
    assert compared.returncode == 0, compared.stderr
    cells = {line.split(",")[5]: line for line in (project / "results" / "smoke" / "comparison.csv").read_text().splitlines()
             if ",toy," in line and line.startswith("cell,")}
    assert ",pass," in cells["a"] and ",fail," in cells["b"], cells  # 6 == 2 * 3; 8 != the toy paper's 10
    refused = run(project, "iss", "figures", "--table", "toy", *config)
    assert refused.returncode == 2 and "toy has no step 'figures' (its steps: train, report)" in refused.stderr


@pytest.mark.parametrize("change, expected", [
    ({"scales": {"smoke": {"toy": {"rows": {"a": {"value": "three"}}}}}},
     "scales.smoke.toy.rows.a.value: 'three' is not of type 'integer' (schema toy_table/schema.yaml)"),
    ({"extra_tables": {"toy": "no_such_module"}}, "extra_tables.toy: cannot import 'no_such_module'"),
    ({"extra_tables": {"toy": "toy_table", "table2": "toy_table"}}, "extra_tables.table2: 'table2' is one of the paper's tables"),
    ({"extra_tables": {}}, "scales.smoke: Additional properties are not allowed ('toy' was unexpected)"),
])
def test_a_wrong_extra_table_is_one_line_naming_the_key(project, change, expected):
    config = {**TOY_CONFIG, **change}
    (project / "config" / "toy.yaml").write_text(json.dumps(config))
    done = run(project, "iss", "check-config", "--config", "config/config.yaml", "--config", "config/toy.yaml")
    assert done.returncode == 2 and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
