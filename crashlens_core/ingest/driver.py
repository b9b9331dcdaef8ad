"""The ingest driver: one file → one batch → one transaction, with a per-line report.

For each file: detect the format, skip it if the same bytes were ingested before, parse it
in bounded chunks (SQL fast path for line formats, Python parsers for the rest), append the
rows, record rejects with their line numbers, commit, CHECKPOINT. A failure rolls the whole
file back; other files go on.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pyarrow as pa

from ..config import Settings, parse_timezone
from ..errors import CrashLensError, InputError
from ..models import IngestError, IngestReport
from ..store import Workspace
from .lines import LineStream, arrow_lines, read_ahead
from .normalize import json_default, naive_times_in
from .records import parse_field_map
from .source import Source

__all__ = ["KINDS", "FORMAT_CHOICES", "MAP_FIELDS", "ingest_file", "ingest_files", "formats_for", "parse_map", "save_upload",
           "ingest_rows", "log_times", "refused_report", "NOT_INGESTED"]

KINDS = ("logs", "spans", "metrics")
# Listed here (not imported from the parsers) so `crashlens --help` stays fast.
FORMAT_CHOICES = {
    "logs": ("jsonl", "logfmt", "syslog", "text", "docker", "csv", "otlp", "access"),
    "spans": ("native", "otlp", "jaeger", "zipkin", "csv"),
    "metrics": ("csv", "otlp", "prometheus"),
}
# Fields a --map can target, across kinds.
MAP_FIELDS = frozenset({
    "ts", "level", "service", "host", "message", "trace_id", "span_id", "parent_id", "name", "start_ts", "end_ts",
    "duration_ms", "duration_us", "duration_ns", "status", "error", "kind", "args_digest", "result_digest", "incident_id", "value",
    "labels", "attributes",
})
Progress = Callable[[float, str], None]
_ROWS_PER_FLUSH = 50_000
_STREAM_BLOCK_BYTES = 8 << 20  # JSON Lines stream: small blocks keep DuckDB fed from the start
_SAMPLE_BYTES = 256 << 10     # the head of a JSON Lines file whose keys decide the paths extracted


def formats_for(kind: str) -> tuple[str, ...]:
    if kind not in FORMAT_CHOICES:
        raise InputError(f"unknown kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    return FORMAT_CHOICES[kind]


def parse_map(items: Sequence[str] | None) -> dict[str, str]:
    """``--map col=field`` (DESIGN.md) → {field: column}. ``field=col`` is accepted too when unambiguous.

    >>> parse_map(["TraceID=trace_id", "pod:PodName=service"])
    {'trace_id': 'TraceID', 'service': 'pod:PodName'}
    """
    return parse_field_map(items, MAP_FIELDS, "TraceID=trace_id")


def save_upload(ws: Workspace, name: str, content: bytes) -> Path:
    """Keep an uploaded file in the workspace (``uploads/``) so nothing a user gave is lost.

    The stored name is the sha256 prefix plus a sanitised base name: no path from the
    client is ever used as a path here.
    """
    import hashlib
    import re

    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "upload"
    digest = hashlib.sha256(content).hexdigest()[:16]
    folder = ws.folder / "uploads"
    folder.mkdir(exist_ok=True)
    target = folder / f"{digest}-{base[:100]}"
    if not target.exists():
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(content)
        tmp.replace(target)
    return target


def discard_upload(path: Path) -> None:
    """Drop the kept copy of an upload that the ingest refused whole (``UnreadableFile``: not a
    text log, empty, cut short): nothing of it is data, and keeping it would store what was refused."""
    Path(path).unlink(missing_ok=True)


def _detect(kind: str, source: Source) -> str:
    if kind == "logs":
        from .logs import detect_log_format

        return detect_log_format(source)
    if kind == "spans":
        from .spans import detect_span_format

        return detect_span_format(source)
    from .metrics import detect_metric_format

    return detect_metric_format(source)


def ingest_files(
    ws: Workspace,
    kind: str,
    paths: Sequence[str],
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    *,
    defaults: dict[str, str] | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    pattern: str | None = None,
) -> list[IngestReport]:
    """Ingest several files of one kind; a file that fails whole is reported, the others go on.

    >>> # ingest_files(ws, "logs", ["app.log.gz", "events.jsonl"])  → one IngestReport per file
    """
    if pattern is not None:
        from .pattern import compile_pattern

        compile_pattern(pattern)  # a bad pattern is the user's one mistake, said once, not once per file
    reports = []
    for i, path in enumerate(paths):
        def sub(frac: float, msg: str, i: int = i) -> None:
            if progress:
                progress((i + frac) / len(paths), msg)

        try:
            reports.append(ingest_file(ws, kind, path, fmt, mapping, defaults=defaults, settings=settings, progress=sub,
                                       pattern=pattern))
        except CrashLensError as exc:
            reports.append(refused_report(str(path), kind, fmt, exc))
    return reports


NOT_INGESTED = "file not ingested"  # the note of a file refused whole (the CLI exits 2 for it)


def refused_report(path: str, kind: str, fmt: str, exc: CrashLensError) -> IngestReport:
    """The report of a file ingest refused whole (not this kind, unreadable): its one error, no rows."""
    return IngestReport(path=path, format=fmt, kind=kind, errors=[IngestError(None, exc.one_line())], note=NOT_INGESTED)


def ingest_file(
    ws: Workspace,
    kind: str,
    path: str,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    *,
    defaults: dict[str, str] | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    display_name: str | None = None,
    pattern: str | None = None,
) -> IngestReport:
    """Ingest one file of ``kind`` (logs, spans, metrics) into the workspace as one batch.

    ``pattern`` (logs only) is the user's own line format, a regex with named groups or Grok
    (see ``ingest.pattern``); it replaces format detection.
    """
    settings = settings or Settings()
    started = time.perf_counter()
    known = formats_for(kind)
    line_pattern = None
    if pattern is not None:
        if kind != "logs":
            raise InputError("a line pattern reads log lines only", hint=f"drop the pattern to ingest {kind}")
        if fmt not in ("auto", "pattern"):
            raise InputError(f"--pattern and --format {fmt} both say how to read the file", hint="give one of them")
        from .pattern import compile_pattern

        line_pattern = compile_pattern(pattern)  # a bad pattern fails before anything is read
    source = Source.from_path(path)
    if display_name:
        source.name = display_name
    if fmt != "auto" and fmt not in known and not line_pattern:
        raise InputError(f"unknown {kind} format {fmt!r}", hint=f"use one of auto, {', '.join(known)}")
    if kind == "logs":  # a binary, empty or cut-off file is refused before a batch exists
        source.require_text()
    fmt = "pattern" if line_pattern else _detect(kind, source) if fmt == "auto" else fmt
    report = IngestReport(path=source.name, format=fmt, kind=kind)
    quick = source.quick_id()
    earlier, digest = None, None
    if ws.batches_with_quick_id(kind, quick):  # maybe seen before: only now pay for the full hash
        digest = source.digest()
        earlier = ws.find_batch(kind, digest)
    else:
        source.track_digest()  # a new file: hash it in the pass that reads it
    if earlier is not None:
        report.skipped = True
        report.batch_id = earlier["id"]
        report.note = f"same content already ingested as batch {earlier['id']} ({earlier['path']}); nothing added"
        return report
    cap = settings.max_reported_errors
    # the zone outside the transaction: it is set before BEGIN and reset after COMMIT or ROLLBACK
    with log_times(ws, settings), ws.transaction():
        batch_id = ws.begin_batch(kind, source.name, fmt, digest or "pending", source.size(), quick_id=quick)
        report.batch_id = batch_id
        if kind == "logs":
            from .logs import SQL_LOG_FORMATS

            if line_pattern is not None:
                from .pattern import parse_with_pattern

                ingest_rows(ws, "logs", parse_with_pattern(source, line_pattern), batch_id, source.name, report, cap,
                            defaults or {}, progress)
            elif fmt in SQL_LOG_FORMATS:
                _ingest_log_lines(ws, source, fmt, batch_id, report, cap, defaults or {}, settings, progress)
            else:
                from .logs import parse_logs

                ingest_rows(ws, "logs", parse_logs(source, fmt, mapping), batch_id, source.name, report, cap,
                             defaults or {}, progress)
        elif kind == "spans":
            from .spans import parse_spans

            ingest_rows(ws, "spans", parse_spans(source, fmt, mapping), batch_id, source.name, report, cap, defaults or {}, progress)
            _flag_spans(ws, batch_id)
        else:
            from .metrics import parse_metrics

            ingest_rows(ws, "metrics", parse_metrics(source, fmt, mapping), batch_id, source.name, report, cap,
                         defaults or {}, progress)
        if kind == "logs" and report.loaded == 0 and report.rejected and any("timestamp" in e.reason for e in report.errors):
            report.warnings.append(_no_times_warning(source, "no line had a timestamp CrashLens could read, so nothing was loaded"))
        if source.read_error:
            report.errors.append(IngestError(None, source.read_error))
            report.note = "file ends early: " + source.read_error
        ws.finish_batch(batch_id, report.loaded, report.rejected, [(e.line, e.reason) for e in report.errors],
                        digest=digest or source.tracked_or_full_digest())
    ws.checkpoint()
    report.seconds = time.perf_counter() - started
    if progress:
        progress(1.0, f"{source.name}: {report.loaded:,} loaded, {report.rejected:,} rejected")
    return report


def _no_times_warning(source: Source, what: str) -> str:
    """A warning for a log file that yields no times: what happened, a sample line, what to do."""
    sample = next((line for _, line in source.lines() if line.strip()), "")
    # inert: the sample is shown on a terminal and in a page, so no control characters get through
    sample = "".join(c if c.isprintable() else "?" for c in sample[:160])
    return (f"{source.name}: {what}. First line: {sample!r}. If its lines carry a time, name the format with "
            "--format (jsonl, logfmt, syslog, access, csv, otlp), map the time column of a CSV with --map COLUMN=ts, "
            "and give the zone of times without an offset with --tz")


@contextmanager
def log_times(ws: Workspace, settings: Settings) -> Iterator[None]:
    """While a file is parsed, timestamps written without an offset are times in ``settings.log_tz``.

    Both parsers honour it: the Python ones through ``normalize.naive_times_in``, the SQL ones
    through the DuckDB session time zone.
    """
    name, zone = parse_timezone(settings.log_tz)
    with naive_times_in(zone), ws.naive_timezone(name):
        yield


# ---------------------------------------------------------------- line formats (SQL)


def _ingest_log_lines(ws: Workspace, source: Source, fmt: str, batch_id: int, report: IngestReport, cap: int,
                      defaults: dict[str, str], settings: Settings, progress: Progress | None) -> None:
    ctx: dict[str, Any] = {"batch_id": batch_id, "base_id": ws.log_id_base(), "source": source.name,
                           "service": defaults.get("service"), "host": defaults.get("host")}
    if fmt == "jsonl":
        return _ingest_jsonl(ws, source, ctx, report, cap, settings, progress)
    size = max(source.size(), 1)
    block_bytes = settings.ingest_block_mb << 20
    carry: pa.Table | None = None
    done_bytes = 0
    for block, table, is_last in read_ahead(source.blocks(block_bytes)):
        done_bytes += len(block)
        if carry is not None:
            table = pa.concat_tables([carry, table])
        # A record held back for many blocks (no record start at all) is flushed to bound memory.
        force = carry is not None and carry.num_rows > 4 * table.num_rows // 5 and table.nbytes > 4 * block_bytes
        result = ws.load_log_lines(table, fmt, ctx, cap - len(report.errors), is_last or force)
        report.loaded += result.loaded
        report.rejected += result.rejected
        report.errors.extend(IngestError(line, reason) for line, reason in result.errors)
        carry = None
        if result.carry_from is not None:
            first = table.column("line_no")[0].as_py()
            carry = table.slice(result.carry_from - first)
        if progress:
            progress(min(done_bytes / size, 0.99), f"{source.name}: {report.loaded:,} records")
    if ctx.get("no_timestamps"):
        report.note = "no timestamps recognised near the start of lines: each line loaded as a record without time"
        report.warnings.append(_no_times_warning(source, "every line was loaded without a time, so nothing in this file can "
                                                        "be detected, compared or shown on a timeline"))


def _ingest_jsonl(ws: Workspace, source: Source, ctx: dict[str, Any], report: IngestReport, cap: int,
                  settings: Settings, progress: Progress | None) -> None:
    """JSON Lines: the whole file in one streamed INSERT, then a second pass only if lines were left out.

    Every JSON Lines record is one line, so nothing straddles blocks and DuckDB can take the
    file as one stream: it reads and parses in step and writes whole row groups (on 1M
    records, 0.86 s against 1.45 s for three 64 MB chunks). The few paths worth extracting are
    sampled from the file's first lines; lines with other keys are still read exactly (see
    ``linesql._jsonl_records``). Lines that hold no record are explained in a second pass
    over the file, which a clean file never pays for.
    """
    head = source.head(_SAMPLE_BYTES)
    head = head[: head.rfind("\n") + 1] or head + "\n"
    present = ws.sample_jsonl_keys(arrow_lines(head.encode("utf-8"), 1))
    stream = LineStream(source.blocks(_STREAM_BLOCK_BYTES))
    size = max(source.size(), 1)

    def insert() -> int:
        return ws.insert_jsonl_stream(stream.reader(), ctx, present)

    def tell() -> None:
        progress(min(stream.bytes_read / size, 0.99), f"{source.name}: {stream.lines:,} lines read")  # type: ignore[misc]

    try:
        report.loaded = _with_progress(insert, tell if progress else None, ws.interrupt)
    except Exception:
        if stream.error is not None:  # the file, not the SQL: say what went wrong reading it
            raise stream.error from None
        raise
    if report.loaded == stream.lines:
        return
    # Some lines hold no record (or are blank): find out which, block by block.
    for _block, table, _last in read_ahead(source.blocks(settings.ingest_block_mb << 20)):
        rejected, errors = ws.jsonl_rejects(table, cap - len(report.errors), ctx["batch_id"])
        report.rejected += rejected
        report.errors.extend(IngestError(line, reason) for line, reason in errors)


def _with_progress(work: Callable[[], int], tell: Callable[[], None] | None, interrupt: Callable[[], None]) -> int:
    """Run ``work`` (one long DuckDB statement) and call ``tell`` every quarter second meanwhile.

    The statement runs in a worker thread and ``tell`` on the caller's: a Streamlit page's
    progress bar can only be updated from the script thread that owns it. If the caller is
    interrupted (Ctrl-C, a page rerun), the statement is interrupted too rather than waited for.
    """
    if tell is None:
        return work()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crashlens-ingest") as pool:
        future = pool.submit(work)
        try:
            while True:
                try:
                    return future.result(timeout=0.25)
                except FuturesTimeout:
                    tell()
        except BaseException:
            if not future.done():
                interrupt()
            raise


# ---------------------------------------------------------------- row formats (Python)

_SCHEMAS: dict[str, list[tuple[str, pa.DataType]]] = {
    "logs": [("id", pa.int64()), ("ts", pa.timestamp("us")), ("service", pa.string()), ("host", pa.string()),
             ("level", pa.string()), ("message", pa.string()), ("trace_id", pa.string()), ("span_id", pa.string()),
             ("attributes", pa.string()), ("source_file", pa.string()), ("source_line", pa.int64()), ("batch_id", pa.int64())],
    "spans": [("trace_id", pa.string()), ("span_id", pa.string()), ("parent_id", pa.string()), ("service", pa.string()),
              ("name", pa.string()), ("kind", pa.string()), ("start_ts", pa.timestamp("us")), ("end_ts", pa.timestamp("us")),
              ("duration_ms", pa.float64()), ("status", pa.string()), ("args_digest", pa.string()),
              ("result_digest", pa.string()), ("attributes", pa.string()), ("incident_id", pa.string()),
              ("source_file", pa.string()), ("source_line", pa.int64()), ("batch_id", pa.int64())],
    "metrics": [("ts", pa.timestamp("us")), ("name", pa.string()), ("value", pa.float64()), ("service", pa.string()),
                ("host", pa.string()), ("labels", pa.string()), ("source_file", pa.string()), ("source_line", pa.int64()),
                ("batch_id", pa.int64())],
}
_JSON_COLUMNS = {"attributes", "labels"}


def _to_table(kind: str, rows: list[dict[str, Any]]) -> pa.Table:
    import json

    columns = {}
    for name, dtype in _SCHEMAS[kind]:
        values = [r.get(name) for r in rows]
        if name in _JSON_COLUMNS:
            values = [json.dumps(v, sort_keys=True, default=json_default) if v else None for v in values]
        columns[name] = pa.array(values, type=dtype)
    return pa.table(columns)


def ingest_rows(ws: Workspace, kind: str, rows: Iterable[dict | IngestError], batch_id: int, source_name: str,
                 report: IngestReport, cap: int, defaults: dict[str, str], progress: Progress | None) -> None:
    base = ws.log_id_base() if kind == "logs" else 0
    pending: list[dict[str, Any]] = []
    last_id, by_seq = 0, False
    for item in _guarded(rows):
        if isinstance(item, IngestError):
            report.rejected += 1
            if len(report.errors) < cap:
                report.errors.append(item)
            continue
        line = item.get("line")
        item["source_file"] = source_name
        item["source_line"] = line
        item["batch_id"] = batch_id
        for key, value in defaults.items():
            if item.get(key) in (None, ""):
                item[key] = value
        if kind == "logs":
            # An id is unique: base + line while every row has a line of its own (one record a
            # line, as logfmt and syslog write), else base + running number from then on, above
            # every id given so far (an OTLP document holds many records on one line).
            if line is not None and line > last_id and not by_seq:
                item["id"] = last_id = line
            else:
                by_seq = True
                last_id += 1
                item["id"] = last_id
            item["id"] += base
        elif kind == "spans":
            start, end = item.get("start_ts"), item.get("end_ts")
            if isinstance(start, datetime) and isinstance(end, datetime):
                item["duration_ms"] = (end - start).total_seconds() * 1000.0
        pending.append(item)
        if len(pending) >= _ROWS_PER_FLUSH:
            report.loaded += _append(ws, kind, pending)
            pending.clear()
            if progress:
                progress(0.5, f"{source_name}: {report.loaded:,} {kind}")
    if pending:
        report.loaded += _append(ws, kind, pending)


def _append(ws: Workspace, kind: str, rows: list[dict[str, Any]]) -> int:
    if kind == "logs":  # log rows without a level are completed from their message on the way in
        return ws.load_log_lines(_to_table(kind, rows), "rows", {}, 0, True).loaded
    return ws.append_rows(kind, _to_table(kind, rows))


def _guarded(rows: Iterable[dict | IngestError]) -> Iterator[dict | IngestError]:
    """Parsers raise InputError for a file that is unusable whole; anything else is a bug, said plainly."""
    try:
        yield from rows
    except CrashLensError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"could not parse the file: {type(exc).__name__}: {exc}", hint="check --format, or report this file") from exc


def _flag_spans(ws: Workspace, batch_id: int) -> None:
    from .spangraph import span_graph_flags

    ws.set_span_flags(span_graph_flags(ws.span_edges(batch_id)), batch_id)
