"""Results brought from elsewhere are checked against the current code, configuration, scale and
seed; a mismatch is named in the report, not mixed in silently."""
from iss_harness.config import load_config
from iss_harness.provenance import provenance_issues, provenance_lines

SETTINGS = {"lambda": 0.005, "zero_threshold": 4e-4}


def metrics(**made):
    base = dict(git_sha="a" * 40, scale="smoke", seed=1234)
    return {"settings": dict(SETTINGS), "training_provenance": {**base, **made}}


def test_matching_results_pass():
    config = load_config()
    assert provenance_issues("t/r", metrics(), config, SETTINGS, 1234, current_sha="a" * 40) == []
    assert provenance_lines([]) == ["Provenance: every results file matches this code, configuration, scale and seed."]


def test_each_kind_of_mismatch_is_named():
    config = load_config()
    assert "made at scale 'paper'" in provenance_issues("t/r", metrics(scale="paper"), config, SETTINGS, 1234, "a" * 40)[0]
    assert "seed 7" in provenance_issues("t/r", metrics(seed=7), config, SETTINGS, 1234, "a" * 40)[0]
    other = {**SETTINGS, "lambda": 0.006}
    assert "(lambda)" in provenance_issues("t/r", metrics(), config, other, 1234, "a" * 40)[0]
    assert "trained by code bbbbbbbbbbbb" in provenance_issues("t/r", metrics(git_sha="b" * 40), config, SETTINGS,
                                                               1234, "a" * 40)[0]
    assert "uncommitted" in provenance_issues("t/r", metrics(git_sha="a" * 40 + "-dirty"), config, SETTINGS,
                                              1234, "a" * 40)[0]
    assert "no provenance" in provenance_issues("t/r", {}, config, SETTINGS)[0]
    line = provenance_lines(["t/r: made at scale 'paper', this report is 'smoke'"])[0]
    assert line.startswith("Provenance check: t/r") and "--restart" in line


def test_the_same_finding_is_listed_once_for_all_its_files():
    line = provenance_lines(["t/a: trained by code x, this report by y", "t/b: trained by code x, this report by y",
                             "t/c: made at scale 'mid', this report is 'smoke'"])[0]
    assert "t/a, t/b: trained by code x" in line and "t/c: made at scale" in line


def test_a_result_names_the_code_and_settings_that_determine_it():
    """Two results belong to the same experiment when the code that can change a number and the
    job's settings are the same, whatever commit made them (issue 24: long runs in pieces)."""
    import torch

    from iss_harness.provenance import code_digest, provenance
    made = provenance(load_config(), torch.device("cpu"), seed=1, determined_by="row settings A")
    assert made["code_digest"] == code_digest() and len(made["code_digest"]) == 16
    assert made["settings_digest"] != provenance(load_config(), torch.device("cpu"), determined_by="B")["settings_digest"]
    assert made["wall_seconds"] >= 0 and made["cpu"]
    assert "settings_digest" not in provenance(load_config(), torch.device("cpu"))


def test_the_code_digest_follows_the_determining_modules_only(tmp_path):
    import types

    from iss_harness.provenance import code_digest

    def module(name: str, text: str):
        path = tmp_path / f"{name.replace('.', '_')}.py"
        path.write_text(text)
        return types.SimpleNamespace(__file__=str(path))

    training = {"iss_harness.tasks.train_lm": module("train_lm", "LR = 1\n")}
    reports = {"iss_harness.reporting.report": module("report", "TITLE = 'a'\n"), "numpy": module("np", "x = 1\n")}
    assert code_digest({**training, **reports}) == code_digest(training)  # reports and other packages do not count
    changed = {"iss_harness.tasks.train_lm": module("train_lm2", "LR = 2\n")}
    assert code_digest(changed) != code_digest(training)
    # A table's package only registers it: adding or editing one leaves every table's digest alone,
    # while the table's step modules count.
    package = module("table9_init", "TABLE = 'registered'\n")
    package.__path__ = [str(tmp_path)]
    registered = {"iss_harness.tables.table9": package, "iss_harness.tables.lm_table": module("lm_table", "x = 1\n")}
    assert code_digest({**training, **registered}) == code_digest(training)
    steps = {"iss_harness.tables.table9.experiment": module("table9_experiment", "EPOCHS = 3\n")}
    assert code_digest({**training, **steps}) != code_digest(training)


def test_rewritten_reports_and_recorded_runs_do_not_make_the_tree_dirty(tmp_path, monkeypatch):
    """The reports and recorded runs of recorded scales are committed, and a run rewrites its
    scale's reports: that is output, not a code change, so later jobs are not marked -dirty."""
    import subprocess

    from iss_harness.provenance import git_sha

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    for name in ("code.py", "reports/mid/report.md", "recorded/mid/MANIFEST.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "x")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports" / "mid" / "report.md").write_text("b\n")
    (tmp_path / "recorded" / "mid" / "MANIFEST.json").write_text("b\n")
    assert not git_sha().endswith("-dirty") and len(git_sha()) == 40
    (tmp_path / "code.py").write_text("b\n")
    assert git_sha().endswith("-dirty")
    # the checkout named by folder, whatever the working folder (the benchmarks record their own checkout's)
    monkeypatch.chdir(tmp_path.parent)  # not a checkout of tmp_path's repository

    def head():
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()

    assert git_sha(tmp_path) == head() + "-dirty"
    assert git_sha(tmp_path / "reports") == head() + "-dirty"  # a folder inside: the whole checkout counts
    git("commit", "-q", "-am", "y")
    assert git_sha(tmp_path) == head()


def test_every_job_flushes_denormals_and_that_counts_toward_the_code_digest():
    """The command line starts torch through iss_harness.numerics: denormal floats (a removed unit's
    decaying cell state) are flushed to zero, and, since that can change a number, the module that
    does it is part of the code digest (the command line itself is not)."""
    import subprocess
    import sys
    probe = ("import sys, torch; from iss_harness.cli import main; "
             "print(float(torch.tensor([1e-40]) * 1.0))\n"  # before: a denormal, so the probe can fail
             "sys.argv = ['iss', '--threads', '1', 'evaluate', '--table', 'no_such_table', '--row', 'r', '--seed', '1']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "from iss_harness.provenance import code_digest, NOT_DETERMINING\n"
             "assert 'iss_harness.numerics' in sys.modules and not 'iss_harness.numerics'.startswith(NOT_DETERMINING)\n"
             "print(float(torch.tensor([1e-40]) * 1.0), torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    before, after, threads = out.stdout.split()[-3:]
    assert float(before) != 0.0 and (after, threads) == ("0.0", "1")  # flushed, the denormal 1e-40 reads as zero
