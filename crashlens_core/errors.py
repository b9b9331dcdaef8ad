"""Errors a user can hit, each with what went wrong and what to do next.

Every adapter turns these into its own idiom: the CLI prints one line and exits 2, a page
shows ``st.error`` with the hint. Nothing below this module invents error messages for them.
"""

from __future__ import annotations

__all__ = [
    "CrashLensError",
    "ConfigError",
    "InputError",
    "NotFound",
    "InvalidTransition",
    "WorkspaceInUse",
    "WorkspaceError",
    "UnreadableFile",
    "SourceError",
]


class CrashLensError(Exception):
    """Base of every error CrashLens reports to a person.

    >>> str(CrashLensError("no such file: x.log", hint="check the path"))
    'no such file: x.log'
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """Message and hint on one line, as the CLI prints it."""
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class ConfigError(CrashLensError):
    """A setting has a value CrashLens cannot use."""


class InputError(CrashLensError):
    """An input file, argument or value is unusable as given."""


class UnreadableFile(InputError):
    """An input file holds nothing a text parser can read: empty, binary, or a document of another kind."""


class NotFound(CrashLensError):
    """A named thing (incident, file, artifact) does not exist."""


class InvalidTransition(CrashLensError):
    """An incident status change that the workflow does not allow."""


class WorkspaceError(CrashLensError):
    """The workspace cannot be opened or is damaged."""


class WorkspaceInUse(WorkspaceError):
    """Another process holds the workspace for writing."""


class SourceError(CrashLensError):
    """A telemetry source (Prometheus, ClickHouse) refused, failed or could not be reached."""
