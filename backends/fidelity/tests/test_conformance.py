"""The fidelity backend passes the conformance kit every backend passes."""

from qplane_devkit.conformance import BackendConformance


class TestConformance(BackendConformance):
    backend_name = "fidelity"
