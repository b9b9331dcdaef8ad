"""``Workspace``: the one entry to a CrashLens workspace (a folder with its DuckDB file).

Composed of one part per concern, each in its own module: ``connection`` (opening, locking,
migrations, transactions), ``batches`` (what ingest writes), ``logview`` (browsing logs),
``incidents`` and ``artifacts``. The SQL of the other concerns (signals, traces, knowledge, rca,
kpi, bundles) lives in functions over a ``Workspace`` in the store's other modules.
"""

from __future__ import annotations

from .artifacts import ArtifactsMixin
from .batches import BatchesMixin
from .connection import DB_FILE
from .files import utcnow
from .incidents import IncidentsMixin
from .logview import LogViewMixin

__all__ = ["Workspace", "DB_FILE", "utcnow"]


class Workspace(BatchesMixin, LogViewMixin, IncidentsMixin, ArtifactsMixin):
    """A workspace folder and an open connection to its database.

    >>> import tempfile
    >>> with Workspace.open(tempfile.mkdtemp()) as ws:
    ...     ws.create_incident("checkout errors").status
    'open'
    """
