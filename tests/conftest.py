"""Shared pytest configuration and fixtures."""
import socket

import pytest


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
