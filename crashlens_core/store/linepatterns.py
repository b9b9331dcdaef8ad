"""The line layouts the SQL log parsers recognise, as RE2 patterns (DuckDB's regex engine).

Timestamps (TS_RE and the rarer shapes tried behind a prefix), the record-header layouts
(LINE_RE, LOGGER_LINE_RE) in three variants: at the start of a text line, embedded in a JSON
record (EMBEDDED_, the application's time optional), and behind a short prefix (PREFIXED_);
continuation lines, and trace/span ids in free text. ``store.linesql`` runs them; one set
of rules for every format that carries application lines.
"""

from __future__ import annotations

__all__ = [
    "CONTINUATION_RE",
    "EMBEDDED_LINE_RE",
    "EMBEDDED_LOGGER_LINE_RE",
    "HEADER_LEVEL_RE",
    "LEVEL_WORDS_RE",
    "LINE_RE",
    "LOGGER_GROUPS",
    "LOGGER_LINE_RE",
    "PREFIXED_LINE_RE",
    "PREFIXED_LOGGER_LINE_RE",
    "PREFIXED_START_RE",
    "PREFIX_TOKENS",
    "SPAN_RE",
    "START_RE",
    "TRACE_RE",
    "TS_ANY",
    "TS_FORMATS",
    "TS_RE",
]

TS_RE = (r"(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"  # ISO 8601
         r"|\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"                                        # nginx error log
         r"|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d{1,6})? \d{4}"   # Apache error log, ctime
         r"|\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})")                                        # log4j yy/MM/dd (Spark, Hadoop)
# The shapes other than ISO 8601, for strptime; all naive.
# (%y first: strptime takes the first format that fits, and %Y would read "17/06/09" as year 17.)
TS_FORMATS = ("['%y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M:%S', '%a %b %d %H:%M:%S %Y', '%a %b %d %H:%M:%S.%f %Y', "
               "'%y%m%d %H%M%S', '%Y-%m-%d-%H.%M.%S.%f', '%Y-%m-%d-%H.%M.%S']")
LEVEL_WORDS_RE = "trace|debug|info|notice|warn|warning|error|err|critical|crit|fatal|severe|panic|emerg|alert"
# A record's timestamp at the start of a line, optionally in brackets: the one the text format needs.
_TS_LEADING = r"^\[?(" + TS_RE + r")\]?\s+"
# The application line inside a JSON record (Docker's "log", a collector's "message", an OTLP body):
# the collector stamped the record already, so the application's own time may be missing or only a
# time of day (logback's %d{HH:mm:ss.SSS}, as Train-Ticket's services write it).
_CLOCK_RE = r"\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?"
_TS_EMBEDDED = r"^(?:\[?(" + TS_RE + "|" + _CLOCK_RE + r")\]?\s+)?"


def _line_re(ts_part: str) -> str:
    """ts [LEVEL] [service] rest ; level and service optional. One regex evaluation per record."""
    return (
        ts_part
        + r"(?:\[?(?:[\w-]+:)?((?i:" + LEVEL_WORDS_RE + r"))\]?:?(?:\s+|$))?"  # Apache 2.4 writes [module:level]
        r"(?:\[([^\]\s]{1,64})\]:?(?:\s+|$))?"
        r"((?s:.*))$"
    )


LINE_RE = _line_re(_TS_LEADING)
EMBEDDED_LINE_RE = _line_re(_TS_EMBEDDED)

# Files whose lines do not start with a timestamp: log shippers and `grep -H` put a file name
# first, BGL an alert flag, an epoch, a date and a node. There, the timestamp is looked for
# behind at most four short tokens: a record's own time is part of its fixed header, which is
# short, while a date further in is something the message talks about. Such files are rare,
# so the extra shapes below (and the cost of the prefix) are paid only by files whose lines
# mostly match this and none starts with TS_RE (``linesql._sniff_prefixed``).
_TS_MORE = (r"\d{6} \d{6}"                                          # yyMMdd HHmmss (Hadoop HDFS)
            r"|\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}(?:\.\d{1,6})?")     # IBM DB2 (BGL)
TS_ANY = "(?:" + TS_RE + "|" + _TS_MORE + ")"
# lazy: the first timestamp wins; `grep -H` / `grep -Hn` glue "file:" / "file:12:" to the line
PREFIX_TOKENS = r"(?:\S{1,64}\s+){0,4}(?:[^\s:]{1,128}:(?:\d+:)?)?"
_PREFIX = r"^((?:\S{1,64}\s+){0,4}?(?:[^\s:]{1,128}:(?:\d+:)?)??)"
PREFIXED_START_RE = _PREFIX + r"\[?" + TS_ANY
PREFIXED_LINE_RE = _line_re(r"^\[?(" + TS_ANY + r")\]?\s+")
# Java logger layouts, tried when LINE_RE finds no level (or finds Spring Boot's "pid ---"):
#   logback      2021-08-07 19:10:41.655 [main] INFO  c.f.Bar - message
#   SkyWalking   … [SW_CTX:[service,instance,traceId,segmentId,spanIndex]] [thread] INFO  c.f.Bar -message
#                … [SW_CTX: N/A] …, and its toolkit's [TID:traceId] / [TID: N/A]
#   Spring Boot  2021-08-07 19:10:41.655  INFO 12345 --- [  main] c.f.Bar  : message
#   Spring Boot 3.2+  … INFO 12345 --- [app] [  main] [traceId-spanId] c.f.Bar : message
#   log4j        2021-08-07 19:10:41,655 INFO [main] c.f.Bar: message (its thread is LINE_RE's service)
#   Python       2021-08-07 19:10:41,655 - shop.payments - ERROR - message (logging's documented format)
#                2015-07-29 17:41:44,747 - INFO  [QuorumPeer…] - message (ZooKeeper)
# The logger must be a dotted name (Tomcat's abbreviated "o.a.c.c.C.[.[.[/].[dispatcherServlet]"
# too), so "ts INFO Payment: ok" keeps "Payment: ok" as its message.
def _logger_line_re(ts_part: str) -> str:
    return (
        ts_part
        + r"(?:\[SW_CTX:\s*(?:N/A|\[([^,\]]*),([^,\]]*),([^,\]]*),([^,\]]*),([^,\]]*)\])\]\s+)?"
        r"(?:\[TID:\s*([^\]\s]*)\]\s+)?"
        r"(?:\[([^\]]{0,200})\]\s+)?"
        r"(?:-\s+(?:([\w.$-]+)\s+-\s+)?)?"  # log4j's "%d - %p" (ZooKeeper); Python's "%(asctime)s - %(name)s - %(levelname)s"
        r"((?i:" + LEVEL_WORDS_RE + r"))\s+"
        r"(?:-\s+)?"
        r"(?:\d+\s+---\s+(?:\[([^\]]{0,200})\]\s+)?\[([^\]]{0,200})\]\s+(?:\[([0-9a-fA-F]{16,32})-([0-9a-fA-F]{8,16})\]\s+)?)?"
        r"(?:([\w$]+(?:\.(?:[\w$]+|\[[^\]\s]*\]?))+)\s*[-:]\s?)?"
        r"((?s:.*))$"
    )


LOGGER_LINE_RE = _logger_line_re(_TS_LEADING)
EMBEDDED_LOGGER_LINE_RE = _logger_line_re(_TS_EMBEDDED)
PREFIXED_LOGGER_LINE_RE = _logger_line_re(r"^\[?(" + TS_ANY + r")\]?\s+")
LOGGER_GROUPS = ["ts", "sw_svc", "sw_inst", "sw_trace", "sw_seg", "sw_idx", "tid", "thread", "pylogger", "lvl", "sb_app",
                  "thread2", "sb_trace", "sb_span", "logger", "body"]
# A level in capitals among the first few header fields, for records the layouts above leave
# without one: HDFS writes "ts pid LEVEL", OpenStack "ts pid LEVEL logger", BGL "ts node type
# component LEVEL". Capitals and a short distance: headers write the level as an upper-case
# token before the message begins; a capitalised word further in belongs to the message.
HEADER_LEVEL_RE = r"^(?:\S{1,64}\s+){0,3}?(" + LEVEL_WORDS_RE.upper() + r")(?:[\s:\]]|$)"
START_RE = r"^\[?" + TS_RE
# Lines that continue the previous record when they have no timestamp of their own.
CONTINUATION_RE = (
    r"^(?:$|\s|Traceback \(most recent call last\)|Caused by|During handling of|The above exception|"
    r"goroutine \d+ \[|---|\.\.\. \d+ (?:more|common)|"
    r"[\w.$]+(?:Exception|Error)(?::|$)|at [\w.$<>]+\(|"
    r"[\w./*()\-]+\([^()]*\)$)"  # a Go frame's function line: main.(*Server).handle(0x1, 0x2)
)
TRACE_RE = r"(?i)\btrace[_.-]?id[=:]\s*\"?([0-9a-f]{16,32})"
SPAN_RE = r"(?i)\bspan[_.-]?id[=:]\s*\"?([0-9a-f]{8,16})"
