"""CrashLens core: the incident and crash analysis workbench, without any UI.

Import what you need from the submodules (``crashlens_core.store``, ``crashlens_core.ingest``,
…); this package imports nothing heavy so that ``import crashlens_core`` and
``crashlens --help`` stay fast.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
