"""Pull connectors: telemetry from where it lives (Prometheus, ClickHouse) for an incident's window.

``sources`` (named sources, credentials from the environment), ``http`` (the allow-listed,
bounded request every connector makes), ``prometheus`` and ``clickhouse`` (the queries and
the translation of their answers into formats the ingest reads), ``run`` (a pull: fetch,
keep the raw answer, ingest, record). Faces call ``pull_source`` and ``check_source``.
"""

from .run import PullResult, check_source, load_source, pull_ranges, pull_source, replay_pull
from .sources import KINDS, Credentials, Source, credential_names, credentials_from, make_source

__all__ = ["KINDS", "Credentials", "Source", "PullResult", "credential_names", "credentials_from", "load_source",
           "make_source", "pull_ranges", "pull_source", "replay_pull", "check_source"]
