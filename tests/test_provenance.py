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
