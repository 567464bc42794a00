"""In CI (ISS_CI set by .ci/run) a skipped test fails, unless it skipped for something CI cannot
have (CUDA, pdflatex); outside CI skips stay skips."""
from pathlib import Path

pytest_plugins = "pytester"

TESTS = '''
import pytest

def test_needs_the_mirror():
    pytest.skip("ISS_DATA_MIRROR is not set")

def test_needs_a_gpu():
    pytest.skip("needs a CUDA device")

@pytest.mark.xfail(reason="known")
def test_known_failure():
    assert False
'''


def run(pytester, monkeypatch, ci: bool):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_skips=TESTS)
    if ci:
        monkeypatch.setenv("ISS_CI", "1")
    else:
        monkeypatch.delenv("ISS_CI", raising=False)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider")


def test_in_ci_a_skip_for_something_ci_must_have_fails(pytester, monkeypatch):
    result = run(pytester, monkeypatch, ci=True)
    result.assert_outcomes(failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skipped in CI, where it must run*ISS_DATA_MIRROR is not set*"])


def test_outside_ci_skips_stay_skips(pytester, monkeypatch):
    run(pytester, monkeypatch, ci=False).assert_outcomes(skipped=2, xfailed=1)
