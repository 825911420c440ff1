"""The qplane backend conformance kit, run against the stabilizer backend."""

from __future__ import annotations

from qplane_devkit.conformance import BackendConformance


class TestConformance(BackendConformance):
    backend_name = "stabilizer"
