"""Fixtures for driving the unmodified `pywa` package against a real wabagate.

The session-scoped `wabagate` fixture starts a server on the demo world with
``--template-review immediate`` (templates are APPROVED at creation); see ../harness.py.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The incremental-steps hooks are pytest's once they are names of this module.
from harness import pytest_configure, pytest_runtest_makereport, pytest_runtest_setup, serve  # noqa: E402,F401


@pytest.fixture(scope="session")
def wabagate():
    yield from serve(
        "wabagate-compat-pywa-",
        "--template-review",
        "immediate",
        "--message-delivered-after",
        "200ms",
        "--message-read-after",
        "400ms",
    )
