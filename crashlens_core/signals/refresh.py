"""After new data lands: label the logs, then look for incidents. The one call every face makes.

The CLI's ``ingest``, the Logs page and the demo all call :func:`refresh_signals` after
ingesting, so templates, fingerprints and detected incidents are never a separate chore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..config import Settings
from .detect import DetectReport, detect_incidents
from .labels import LabelReport, label_pending

if TYPE_CHECKING:  # for annotations only: the runtime imports stay as they were
    from ..store import Workspace

__all__ = ["SignalsReport", "refresh_signals"]


@dataclass
class SignalsReport:
    labels: LabelReport
    detection: DetectReport | None

    def summary(self) -> str:
        text = (f"signals: {self.labels.logs:,} logs labelled, {self.labels.templates_new} new templates, "
                f"{self.labels.fingerprints_new} new exception fingerprints ({self.labels.seconds:.2f} s)")
        if self.detection is not None:
            text += f"; {len(self.detection.created)} new incidents"
        return text


def refresh_signals(ws: Workspace, settings: Settings | None = None, *, detect: bool = True,
                    progress: Callable[[float, str], None] | None = None) -> SignalsReport:
    labels = label_pending(ws, progress=progress)
    detection = detect_incidents(ws, settings or Settings()) if detect else None
    return SignalsReport(labels, detection)
