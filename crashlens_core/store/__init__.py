"""The DuckDB workspace: the only package that imports duckdb and holds SQL."""

from .workspace import DB_FILE, Workspace, utcnow

__all__ = ["Workspace", "DB_FILE", "utcnow"]
