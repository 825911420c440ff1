"""The error hierarchy of qplane.

Every error a user can cause derives from :class:`QPlaneError` and carries a one-line message
that names the file, field, plugin or component at fault and what was expected. The CLI prints
that line and exits with code 2; it never shows a traceback unless asked (``--debug``).
"""

from __future__ import annotations


class QPlaneError(Exception):
    """Base of every error qplane raises on purpose."""


class ScenarioError(QPlaneError):
    """A scenario file or a scenario field is wrong.

    ``source`` is the file (or ``<scenario>`` for in-memory scenarios), ``field`` the dotted
    path of the offending field, ``message`` what was expected.
    """

    def __init__(self, message: str, *, field: str | None = None, source: str | None = None):
        self.message = message
        self.field = field
        self.source = source
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join(parts + [self.message])

    def with_source(self, source: str) -> "ScenarioError":
        return type(self)(self.message, field=self.field, source=source)


class UnknownComponentError(ScenarioError):
    """A scenario names a component that no installed plugin registers."""


class PluginError(QPlaneError):
    """A plugin failed to load or failed while registering or running a component."""


class CapabilityError(QPlaneError):
    """The chosen state backend lacks an operation a protocol or scenario needs."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run: every unfinished request ended ``interrupted``; ``results`` holds
    the results so far (the CLI writes them and exits 130)."""

    def __init__(self, results: dict):
        super().__init__("the run was interrupted")
        self.results = results
