"""Fixtures for the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from archdsl.data.cache import ENV_VAR


@pytest.fixture(autouse=True, scope="session")
def _own_decode_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the decoded-data cache at a folder of this test session.

    Without it the suite read and wrote the user's ``~/.cache/archdsl/decoded``: a test then
    saw an in-memory array on a first run and a cached :class:`DiskArray` on the next, so its
    result depended on earlier runs. Child processes the tests start inherit the setting.
    """
    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(tmp_path_factory.mktemp("decoded-cache"))
    yield
    if before is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = before
