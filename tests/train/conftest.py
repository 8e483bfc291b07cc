"""Fixtures shared by the training tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_training import fake_frameworks

from archdsl.training import Framework, register_framework


@pytest.fixture
def fakes() -> Iterator[tuple[Framework, Framework]]:
    """The two fake frameworks of test_training, registered as ``torch``/``keras`` for the test."""
    fws = fake_frameworks()
    for fw in fws:
        register_framework(fw)
    yield fws
    for fw in fws:
        register_framework(None, fw.name)
