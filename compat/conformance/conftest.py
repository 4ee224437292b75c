"""Fixtures for checking wabagate's answers against Meta's OpenAPI file with schemathesis.

The session-scoped `wabagate` fixture starts a server on the demo world with
``--template-review immediate``; see ../harness.py.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import serve  # noqa: E402


@pytest.fixture(scope="session")
def wabagate():
    yield from serve("wabagate-conformance-", "--template-review", "immediate")
