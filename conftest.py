"""Shared by every test folder of the workspace."""

from __future__ import annotations

import pytest


@pytest.fixture
def default_plugin_loading(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Run a test as a fresh CLI user would: in an empty folder (a results file written by
    default lands there), and with every installed plugin loaded whatever the developer's shell
    says (``QPLANE_DISABLE_PLUGIN_AUTOLOAD``, ``QPLANE_PLUGINS``, ``QPLANE_TRACE_PLUGINS``)."""
    monkeypatch.chdir(tmp_path)
    for var in ("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "QPLANE_PLUGINS", "QPLANE_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
