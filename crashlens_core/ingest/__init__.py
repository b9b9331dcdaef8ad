"""Ingestion of logs, spans and metrics from files into the workspace.

``ingest_file`` / ``ingest_files`` are what the CLI and the pages call; the per-format
parsers live in ``logs``, ``spans`` and ``metrics``; the SQL fast paths in ``store.linesql``.
"""

from .driver import FORMAT_CHOICES, KINDS, formats_for, ingest_file, ingest_files, parse_map, save_upload, discard_upload

__all__ = ["FORMAT_CHOICES", "KINDS", "formats_for", "ingest_file", "ingest_files", "parse_map", "save_upload", "discard_upload"]
