"""Shared pytest configuration and fixtures."""
import os
import socket

import pytest

# .ci/run sets this: in CI a test that skips has lost something CI must have (the data mirror, a
# git checkout, a package of the test extras), so the skip fails the run instead of hiding it.
CI_VARIABLE = "ISS_CI"
# What CI machines cannot have: a skip whose reason names one of these stays a skip there.
CI_MAY_LACK = ("CUDA", "pdflatex")


def pytest_configure(config):
    # Tests that need the real data sets; they skip unless ISS_DATA_MIRROR points at a mirror.
    config.addinivalue_line("markers", "data: needs the real data files (set ISS_DATA_MIRROR)")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach the network fails the test loudly (a RuntimeError, which urllib does
    not absorb as it would an OSError)."""
    def refuse(*args, **kwargs):
        raise RuntimeError("a test tried to use the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not os.environ.get(CI_VARIABLE) or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if not any(word in reason for word in CI_MAY_LACK):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where it must run (${CI_VARIABLE} is set): {reason}"
