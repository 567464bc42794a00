"""Shared pytest configuration."""


def pytest_configure(config):
    # Tests that need the real data sets; they skip unless ISS_DATA_MIRROR points at a mirror.
    config.addinivalue_line("markers", "data: needs the real data files (set ISS_DATA_MIRROR)")
