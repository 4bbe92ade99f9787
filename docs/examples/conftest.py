"""The quick start's conftest.py: the ``app`` fixture the plugin's fixtures use."""

from __future__ import annotations

import pytest
from flask import Flask
from shop import create_app  # the module above


@pytest.fixture
def app() -> Flask:
    return create_app({"TESTING": True, "HUGGY_WEBHOOK_TOKEN": "test-token"})
