"""Root-cause analysis: evidence assembly, the offline and LLM analyzers, report schema and validation, replay, Ask.

Entry points: ``run_rca`` (engine), ``assemble_evidence`` (evidence), ``replay`` (replay),
``ask`` (ask). Submodules are imported lazily by callers; this package imports nothing heavy.
"""

from __future__ import annotations

__all__ = ["run_rca", "assemble_evidence", "replay", "ask"]


def __getattr__(name: str):
    if name == "run_rca":
        from .engine import run_rca
        return run_rca
    if name == "assemble_evidence":
        from .evidence import assemble_evidence
        return assemble_evidence
    if name == "replay":
        from .replay import replay
        return replay
    if name == "ask":
        from .ask import ask
        return ask
    raise AttributeError(name)
