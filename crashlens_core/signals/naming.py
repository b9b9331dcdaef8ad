"""How to name where a signal came from when its records carry no service.

A plain Apache error log, a syslog file or a shipper's export often has no service field. The
service is still the best name; without it the host says where, and without a host the file's
name does (a person uploaded it, so they know it). ``source_name`` picks the first that exists
and says which it picked; ``where_phrase`` words it for a title ("in checkout", "on host web-1",
"in file error_log").

>>> source_name(None, ["web-1"], ["/var/log/httpd/error_log"])
('web-1', 'host')
>>> where_phrase(*source_name(None, [], ["/var/log/httpd/error_log"]))
'in file error_log'

A schedule is worded the same way everywhere (an incident's title, the RCA's evidence):

>>> schedule_phrase(86_400, "2024-06-09T04:11:00"), schedule_phrase(900, "2024-06-09T04:11:00")
('daily at 04:11', 'every 15 min')
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Iterable

__all__ = ["schedule_phrase", "source_name", "where_phrase"]


def _first(values: Iterable[str | None] | None) -> str | None:
    return next((v for v in (values or ()) if v), None)


def source_name(service: str | None, hosts: Iterable[str | None] | None = (),
                files: Iterable[str | None] | None = ()) -> tuple[str, str]:
    """``(name, basis)``: the service, else the first host, else the first file's base name, else
    ``("(unnamed source)", "none")``; ``basis`` is ``service`` | ``host`` | ``file`` | ``none``."""
    if service:
        return service, "service"
    host = _first(hosts)
    if host:
        return host, "host"
    file = _first(files)
    if file:
        # Either separator: a path recorded on Windows still names its file.
        return PurePath(file.replace("\\", "/")).name or file, "file"
    return "(unnamed source)", "none"


def where_phrase(name: str, basis: str) -> str:
    """The name as a title says it: ``in checkout``, ``on host web-1``, ``in file error_log``."""
    return {"service": f"in {name}", "host": f"on host {name}", "file": f"in file {name}"}.get(basis, "from an unnamed source")


def schedule_phrase(period_s: int, last: str) -> str:
    """``daily at 04:16`` | ``hourly at :05`` | ``every 6 h`` | ``every 15 min`` (``last``: ISO time of the latest run)."""
    hhmm, mm = last[11:16], last[14:16]
    if period_s == 86_400:
        return f"daily at {hhmm}"
    if period_s == 3_600:
        return f"hourly at :{mm}"
    if period_s >= 3_600:
        return f"every {period_s / 3_600:g} h"
    return f"every {period_s // 60} min"
