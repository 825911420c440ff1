"""The fidelity backend passes the conformance kit every backend passes."""

from qplane.testing import BackendConformance


class TestConformance(BackendConformance):
    backend_name = "fidelity"
