"""Stack traces from text: Python, Java/JVM, JavaScript/Node, Go and .NET, into one shape.

``extract_stacks(text)`` finds every trace inside a log message (which may hold other lines
around it) and ``parse_stack(text)`` returns the first one. A trace becomes a
``StackTrace(language, exception, message, frames, cause)``; ``frames`` are always ordered
**innermost (crashing) frame first**, as Java, .NET, Node and Go print them (Python prints
them the other way round and is reversed here). ``cause`` is the exception that led to this
one: Java's ``Caused by:``, .NET's inner exception (``--->``), Python's ``__cause__`` /
``__context__`` (the traceback printed before "The above exception was the direct cause…").

Every frame knows whether it is *in-app* (the user's code) or library, runtime and framework
code, by the rules in ``stack_frames`` (Sentry-like defaults) that a caller can override with
``in_app_include`` / ``in_app_exclude`` prefixes (matched against the qualified name and the
file path). The records (``Frame``, ``StackTrace``) live there too; this module parses.

Cost: a message without a trace costs a few substring tests (no regex runs unless a marker
such as ``Traceback (most recent call last)``, a line-leading ``at ``, ``goroutine `` or
``panic:`` is present), so this can run over every ERROR/FATAL message of a workspace.

>>> st = parse_stack('''Traceback (most recent call last):
...   File "/app/shop/views.py", line 12, in checkout
...     total = price(cart)
...   File "/usr/lib/python3.11/decimal.py", line 40, in price
...     raise ValueError("bad")
... ValueError: bad''')
>>> st.language, st.exception, st.message, [(f.function, f.in_app) for f in st.frames]
('python', 'ValueError', 'bad', [('price', False), ('checkout', True)])
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from .stack_frames import LANGUAGES, Frame, StackTrace, is_in_app, looks_like_test

# Frame, StackTrace and the in-app rules live in stack_frames; they are re-exported here, the
# entry point callers already import them from.
__all__ = ["Frame", "StackTrace", "extract_stacks", "parse_stack", "is_in_app", "looks_like_test", "LANGUAGES"]

# --- line patterns ------------------------------------------------------------------------

_PY_HEAD = "Traceback (most recent call last):"
_PY_CHAINS = ("During handling of the above exception, another exception occurred:",
              "The above exception was the direct cause of the following exception:")
_PY_FILE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+?))?\s*$')
_PY_GROUP = re.compile(r"^\s*(?:\|\s?)+")
_PY_EXC = re.compile(r"^(?P<exc>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$")

_AT = re.compile(r"^\s*at\s+")
# Java: at [loader//][module@version/]pkg.Class$Inner.method(File.java:12) [~[jar:ver]]
_JAVA_AT = re.compile(r"^\s*at\s+(?:[\w.@\-]*/+)?(?P<qual>[\w$.<>\-]+)\.(?P<meth>[\w$<>\-]+)\((?P<loc>[^()]*)\)\s*(?:~?\[[^\]]*\])?\s*$")
_JAVA_LOC = re.compile(r"^(?:(?P<file>[\w$.\-<> ]*?\.(?:java|kt|kts|scala|groovy|clj|cljc|jsp|aj|gsp|js))(?::(?P<line>\d+))?|Native Method|Unknown Source(?::\d+)?|<generated>|)$")
# Node/V8: at [async ][new ]func (file:line:col) | at file:line:col | at func (native)
_JS_AT = re.compile(r"^\s*at\s+(?:(?P<func>.+?)\s+\((?P<loc>[^()]*(?:\([^()]*\)[^()]*)*)\)|(?P<bare>\S+))\s*$")
_JS_LOC = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")
# .NET: at Ns.Class.Method(Type arg) [in path:line N]
_NET_AT = re.compile(r"^\s*at\s+(?P<qual>[^()\s][^()]*?)\((?P<args>[^()]*)\)(?:\s+in\s+(?P<file>.+?):line\s+(?P<line>\d+))?\s*$")
_JAVA_MORE = re.compile(r"^\s*\.\.\.\s*(?P<n>\d+)\s+(?:more|common frames omitted)\s*$")
_CAUSED = re.compile(r"^\s*Caused by:\s*(?P<rest>.*)$")
_SUPPRESSED = re.compile(r"^\s*Suppressed:\s")
_NET_END_INNER = "--- End of inner exception stack trace ---"
_NET_MARKERS = ("--- End of stack trace from previous location", "--- End of inner exception stack trace ---",
                "Exception rethrown at")
_EXC_HEAD = re.compile(
    r"^\s*(?:Exception in thread \"[^\"]*\"\s+|Unhandled [Ee]xception[.:]?\s+|Uncaught\s+(?:exception\s+)?|"
    r"\[?(?:ERROR|FATAL|CRITICAL|SEVERE)\]?:?\s+)?"
    r"(?P<exc>[A-Za-z_$][\w$`]*(?:[.+][A-Za-z_$][\w$`]*)*)(?::\s*(?P<msg>.*))?\s*$")
_EXC_WORD = re.compile(r"(?:Exception|Error|Failure|Throwable|Fault|Panic|Interrupt|Exit|Warning|Violation|Timeout|Rejection)$")
_EXC_SEARCH = re.compile(r"(?:^|[\s(\[])(?P<exc>(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*|[A-Z]\w*(?:Exception|Error))(?::\s*(?P<msg>.*))?$")

# Go
_GO_PANIC = re.compile(r"^(?P<kind>panic|fatal error):\s*(?P<msg>.*)$")
_GO_ROUTINE = re.compile(r"^goroutine (?P<id>\d+) \[(?P<state>[^\]]*)\]:\s*$")
_GO_FUNC = re.compile(r"^(?P<created>created by )?(?P<func>[^\s(][^\s]*?)(?:\((?P<args>[^)]*)\))?(?: in goroutine \d+)?\s*$")
_GO_FILE = re.compile(r"^\s+(?P<file>\S.*?):(?P<line>\d+)(?: \+0x[0-9a-fA-F]+)?\s*$")


def _is_exc_name(name: str) -> bool:
    return bool(name) and ("." in name or bool(_EXC_WORD.search(name)) or name in ("Error", "panic"))


# --- entry points -------------------------------------------------------------------------

def _has_marker(text: str) -> bool:
    """Cheap prefilter: could ``text`` hold a stack trace at all?"""
    if "\n" not in text:
        return False
    return ("Traceback (most recent call last)" in text or "\tat " in text or "    at " in text or "   at " in text
            or "\n  at " in text or "\nat " in text or "goroutine " in text or "\npanic: " in text or text.startswith("panic: "))


def extract_stacks(text: str | None, in_app_include: Sequence[str] = (), in_app_exclude: Sequence[str] = ()) -> list[StackTrace]:
    """Every stack trace in ``text`` (a log message, a file), in order of appearance.

    Lines that belong to no trace (the log line before it, output after it) are skipped.
    A message with no trace returns ``[]`` after a few substring tests.

    >>> [s.exception for s in extract_stacks("boom\\njava.lang.IllegalStateException: no\\n\\tat a.B.c(B.java:3)\\nok")]
    ['java.lang.IllegalStateException']
    """
    if not text:
        return []
    if "\n" not in text and text.count("\tat ") >= 2:
        # a Java trace flattened onto one line with its tabs kept (SkyWalking, some log shippers)
        text = text.replace("\tat ", "\n\tat ").replace("Caused by: ", "\nCaused by: ")
    if not _has_marker(text):
        return []
    lines = text.splitlines()
    rules = (tuple(in_app_include), tuple(in_app_exclude))
    out: list[StackTrace] = []
    i, n = 0, len(lines)
    used_until = 0  # lines before this belong to an earlier trace (no header reuse)
    while i < n:
        line = lines[i]
        if _PY_HEAD in line:
            st, end = _parse_python(lines, i, rules)
        elif line.startswith(("panic: ", "fatal error: ")) or _GO_ROUTINE.match(line):
            st, end = _parse_go(lines, i, rules)
        elif _AT.match(line) and (stripped := line.strip()).startswith("at ") and _frame_kind(stripped) is not None:
            st, end = _parse_at_block(lines, i, used_until, rules)
        else:
            i += 1
            continue
        if st is not None:
            out.append(st)
            used_until = end
        i = max(end, i + 1)
    return out


def parse_stack(text: str, in_app_include: Sequence[str] = (), in_app_exclude: Sequence[str] = ()) -> StackTrace | None:
    """The first stack trace in ``text``, or None."""
    found = extract_stacks(text, in_app_include, in_app_exclude)
    return found[0] if found else None


# --- Python -------------------------------------------------------------------------------

def _parse_python(lines: list[str], i: int, rules: tuple) -> tuple[StackTrace | None, int]:
    st, j = _parse_python_one(lines, i, rules)
    while st is not None:
        k = j
        while k < len(lines) and not lines[k].strip():
            k += 1
        if k < len(lines) and lines[k].strip() in _PY_CHAINS:
            k += 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k < len(lines) and _PY_HEAD in lines[k]:
                nxt, j2 = _parse_python_one(lines, k, rules)
                if nxt is not None:
                    nxt.cause = st
                    st, j = nxt, j2
                    continue
        break
    return st, j


def _parse_python_one(lines: list[str], i: int, rules: tuple) -> tuple[StackTrace | None, int]:
    grouped = bool(_PY_GROUP.match(lines[i]) or lines[i].lstrip().startswith("+"))
    frames: list[Frame] = []
    j, n = i + 1, len(lines)
    exc = msg = None
    while j < n:
        raw = lines[j]
        line = _PY_GROUP.sub("", raw, count=1) if grouped else raw
        m = _PY_FILE.match(line) if 'File "' in line else None
        if m:
            path, func = m.group("file"), m.group("func")
            frames.append(_py_frame(path, int(m.group("line")), func, rules))
            j += 1
            # the source line and Python 3.11's caret markers follow, indented
            while j < n:
                nxt = _PY_GROUP.sub("", lines[j], count=1) if grouped else lines[j]
                s = nxt.strip()
                if not s or 'File "' in nxt or not nxt.startswith((" ", "\t")):
                    break
                if s.startswith("[Previous line repeated") or set(s) <= set("^~ "):
                    j += 1
                    continue
                if frames[-1].source is None and nxt.startswith("    "):
                    frames[-1].source = s
                    j += 1
                    continue
                break
            continue
        s = line.strip()
        if not s:
            j += 1
            if frames:
                continue  # tolerated gap inside a trace
            break
        if line.startswith((" ", "\t")) and not frames:
            j += 1
            continue
        em = _PY_EXC.match(s) if not line.startswith((" ", "\t")) else None
        if em is None:
            em = _PY_EXC.match(s.split(" ", 1)[0].rstrip(":")) and _PY_EXC.match(s)
        if em:
            exc, msg = em.group("exc"), (em.group("msg") or "")
            j += 1
            extra: list[str] = []
            while j < n and lines[j].strip() and not _looks_like_new_record(lines[j]) and len(extra) < 20:
                extra.append(lines[j].rstrip())
                j += 1
            if extra:
                msg = "\n".join([msg, *extra]) if msg else "\n".join(extra)
        break
    if not frames and exc is None:
        return None, j
    frames.reverse()  # Python prints the crashing frame last
    return StackTrace("python", exc, msg or "", frames, None, "\n".join(lines[i:j])), j


def _looks_like_new_record(line: str) -> bool:
    """A line that starts the next log record or another trace, not more exception message."""
    s = line.lstrip()
    return (_PY_HEAD in line or s in _PY_CHAINS or line[:1].isdigit() or line.startswith(("[", "{", "+-", "  +"))
            or _AT.match(line) is not None or (s.startswith("|") and line.startswith(" ")))


def _py_module(path: str) -> str | None:
    p = path.replace("\\", "/")
    for root in ("site-packages/", "dist-packages/"):
        if root in p:
            rel = p.rsplit(root, 1)[1]
            break
    else:
        m = re.search(r"/lib/python\d+(?:\.\d+)?/(.+)$", p)
        rel = m.group(1) if m else p.rsplit("/", 1)[-1]
    if rel.startswith("<"):
        return None
    rel = re.sub(r"\.pyw?$", "", rel).removesuffix("/__init__")
    return rel.replace("/", ".") or None


def _py_frame(path: str, line: int, func: str | None, rules: tuple) -> Frame:
    module = _py_module(path)
    qual = ".".join(p for p in (module, func) if p)
    return Frame(module, None, func, path, line, is_in_app("python", qual, path, *rules))


# --- Java / JavaScript / .NET ("at …" frames) ---------------------------------------------

def _frame_kind(stripped: str) -> str | None:
    """Which language an ``at …`` line is written in, or None when it is not a frame."""
    if " in " in stripped and ":line " in stripped and _NET_AT.match(stripped):
        return "dotnet"
    m = _JAVA_AT.match(stripped)
    if m and _JAVA_LOC.match(m.group("loc")) and m.group("loc"):
        return "java"
    m = _JS_AT.match(stripped)
    if m:
        loc = m.group("loc") if m.group("loc") is not None else m.group("bare")
        if _JS_LOC.match(loc or "") or (m.group("func") and loc in ("native", "<anonymous>") or (loc or "").startswith("index ")):
            return "javascript"
    if _NET_AT.match(stripped):
        return "dotnet"
    return None


def _find_header(lines: list[str], i: int, floor: int) -> tuple[int, str | None, str]:
    """The exception header above the first frame at ``i``: (first line index, type, message)."""
    block: list[int] = []
    k = i - 1
    while k >= floor and len(block) < 12:
        s = lines[k].strip()
        if not s or (s.startswith("at ") and _frame_kind(s)) or _JAVA_MORE.match(s) or s.startswith("---"):
            break
        block.append(k)
        k -= 1
    block.reverse()
    for pos, idx in enumerate(block):
        m = _EXC_HEAD.match(lines[idx])
        if m and _is_exc_name(m.group("exc")):
            msg = "\n".join([m.group("msg") or ""] + [lines[x].strip() for x in block[pos + 1:]]).strip("\n")
            return idx, m.group("exc"), msg
    for idx in reversed(block):
        m = _EXC_SEARCH.search(lines[idx].strip())
        if m:
            return idx, m.group("exc"), (m.group("msg") or "").strip()
    if block:
        return block[-1], None, lines[block[-1]].strip()
    return i, None, ""


def _parse_at_block(lines: list[str], i: int, floor: int, rules: tuple) -> tuple[StackTrace | None, int]:
    head_idx, exc, msg = _find_header(lines, i, floor)
    first_kind = _frame_kind(lines[i].strip()) or "java"
    # .NET nests inner exceptions into the header: "Outer: m ---> Inner: m2"
    segments: list[list[Any]] = []  # [exc, msg, frames]
    if first_kind == "dotnet" and msg and " ---> " in msg:
        parts = msg.split(" ---> ")
        segments.append([exc, parts[0], []])
        for part in parts[1:]:
            m = _EXC_HEAD.match(part)
            segments.append([m.group("exc"), m.group("msg") or "", []] if m else [None, part, []])
    else:
        segments.append([exc, msg, []])
    cur = len(segments) - 1
    language = first_kind
    j, n = i, len(lines)
    skip_indent: int | None = None
    while j < n:
        raw = lines[j]
        s = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if skip_indent is not None:
            if s and indent > skip_indent:
                j += 1
                continue
            skip_indent = None
        if not s:
            break
        if s.startswith("at "):
            if s.endswith(" {"):  # Node prints the error's own properties after the last frame
                s = s[:-2].rstrip()
            frame = _parse_at_frame(s, language, rules)
            if frame is None:
                kind = _frame_kind(s)
                if kind is None:
                    break
                frame = _parse_at_frame(s, kind, rules)
            if frame is not None:
                segments[cur][2].append(frame)
            j += 1
            continue
        m = _JAVA_MORE.match(s)
        if m:
            if cur > 0:
                enclosing = segments[cur - 1][2]
                k = int(m.group("n"))
                if 0 < k <= len(enclosing):
                    segments[cur][2].extend(_copy_frame(f) for f in enclosing[-k:])
            j += 1
            continue
        m = _CAUSED.match(raw)
        if m:
            em = _EXC_HEAD.match(m.group("rest"))
            exc2, msg2 = (em.group("exc"), em.group("msg") or "") if em else (None, m.group("rest"))
            j += 1
            while j < n and lines[j].strip() and not lines[j].strip().startswith("at ") and len(msg2) < 4000:
                msg2 += "\n" + lines[j].strip()  # a multi-line message of the cause
                j += 1
            segments.append([exc2, msg2, []])
            cur = len(segments) - 1
            continue
        if _SUPPRESSED.match(raw):
            skip_indent = indent
            j += 1
            continue
        if s.startswith(_NET_MARKERS):
            if s == _NET_END_INNER and cur > 0:
                cur -= 1
            j += 1
            continue
        if s.startswith("[CIRCULAR REFERENCE"):
            j += 1
            continue
        break
    built: StackTrace | None = None
    if first_kind == "dotnet":
        # innermost (last) segment is the root cause
        for exc_, msg_, frames_ in segments:
            st = StackTrace(language, exc_, msg_, frames_, None)
            if built is None:
                built = st
            else:
                tail = built
                while tail.cause is not None:
                    tail = tail.cause
                tail.cause = st
    else:
        for exc_, msg_, frames_ in reversed(segments):
            built = StackTrace(language, exc_, msg_, frames_, built)
    assert built is not None
    built.text = "\n".join(lines[head_idx:j])
    return built, j


def _copy_frame(f: Frame) -> Frame:
    return Frame(f.module, f.class_, f.function, f.file, f.line, f.in_app, f.column, f.source)


# The same frame lines recur in every trace of a service (framework and runner frames, the
# same bug hit by many requests): parse each distinct line once.
_FRAME_CACHE: dict[tuple[str, str, tuple], tuple | None] = {}
_FRAME_CACHE_MAX = 50_000


def _parse_at_frame(s: str, language: str, rules: tuple) -> Frame | None:
    key = (s, language, rules)
    hit: tuple | None
    if key in _FRAME_CACHE:
        hit = _FRAME_CACHE[key]
    else:
        frame = _parse_at_frame_uncached(s, language, rules)
        hit = None if frame is None else (frame.module, frame.class_, frame.function, frame.file, frame.line,
                                          frame.in_app, frame.column)
        if len(_FRAME_CACHE) >= _FRAME_CACHE_MAX:
            _FRAME_CACHE.clear()
        _FRAME_CACHE[key] = hit
    return None if hit is None else Frame(*hit)


def _parse_at_frame_uncached(s: str, language: str, rules: tuple) -> Frame | None:
    if language == "java":
        m = _JAVA_AT.match(s)
        if not m:
            return None
        jloc = _JAVA_LOC.match(m.group("loc"))
        if not jloc:
            return None
        qual = m.group("qual")
        module, _, cls = qual.rpartition(".")
        line = jloc.group("line")
        file = jloc.group("file")
        if not file and m.group("loc").startswith("Unknown Source"):
            file = None
        full = f"{qual}.{m.group('meth')}"
        return Frame(module or None, cls, m.group("meth"), file, int(line) if line else None,
                     is_in_app("java", full, file, *rules))
    if language == "javascript":
        m = _JS_AT.match(s)
        if not m:
            return None
        func = m.group("func")
        loc = m.group("loc") if m.group("loc") is not None else m.group("bare")
        lm = _JS_LOC.match(loc or "")
        if lm is None and not (func and (loc in ("native", "<anonymous>") or (loc or "").startswith("index "))):
            return None
        file = lm.group("file") if lm else None
        if file and file.startswith("file://"):
            file = file[7:]
        line = int(lm.group("line")) if lm else None
        col = int(lm.group("col")) if lm and lm.group("col") else None
        cls = None
        if func:
            func = re.sub(r"^(?:async |new )+", "", func)
            func = re.sub(r" \[as [^\]]+\]$", "", func)
            if "." in func and not func.startswith("<"):
                cls, _, func = func.rpartition(".")
        module = _js_module(file) if file else None
        qual = ".".join(p for p in (cls, func) if p)
        return Frame(module, cls, func, file, line, is_in_app("javascript", qual, file, *rules) if file else False, col)
    if language == "dotnet":
        m = _NET_AT.match(s)
        if not m:
            return None
        module, cls, func = _split_dotnet(m.group("qual").strip())
        file, line = m.group("file"), m.group("line")
        full = ".".join(p for p in (module, cls, func) if p)
        return Frame(module, cls, func, file, int(line) if line else None, is_in_app("dotnet", full, file, *rules))
    return None


def _js_module(file: str) -> str | None:
    p = re.sub(r"^[a-z]+://[^/]*", "", file).split("?", 1)[0]
    if "node_modules/" in p:
        p = p.rsplit("node_modules/", 1)[1]
    name = p.rsplit("/", 1)[-1]
    return re.sub(r"\.(?:[cm]?[jt]sx?)$", "", name) or None


def _split_dotnet(qual: str) -> tuple[str | None, str | None, str]:
    """``Ns.Sub.Class.Method`` → (Ns.Sub, Class, Method); async state machines folded back."""
    qual = re.sub(r"\[[^\]]*\]$", "", qual)  # generic method arguments Method[T]
    if qual.endswith(("..ctor", "..cctor")):
        head, _, tail = qual[:-len(qual.rsplit("..", 1)[1]) - 2], None, "." + qual.rsplit("..", 1)[1]
        parts = head.split(".") + [tail]
    else:
        parts = qual.split(".")
    if len(parts) == 1:
        return None, None, parts[0]
    func, cls = parts[-1], parts[-2]
    ns = ".".join(parts[:-2]) or None
    m = re.fullmatch(r"<(?P<name>[^>]+)>d__\d+", cls)
    if m and func == "MoveNext" and len(parts) >= 3:
        # Ns.Class.<DoWork>d__5.MoveNext() is Class.DoWork's async body
        func, cls = m.group("name"), parts[-3]
        ns = ".".join(parts[:-3]) or None
    return ns, cls, func


# --- Go -----------------------------------------------------------------------------------

def _parse_go(lines: list[str], i: int, rules: tuple) -> tuple[StackTrace | None, int]:
    n = len(lines)
    exc, msg = None, ""
    j = i
    m = _GO_PANIC.match(lines[i])
    if m:
        exc, msg = m.group("kind"), m.group("msg")
        msg = re.sub(r"\s*\[recovered\]$", "", msg)
        j += 1
        # between the panic and its goroutine: "[signal …]", nested "panic: … [recovered]", blanks
        while j < n and j - i <= 8 and not _GO_ROUTINE.match(lines[j]):
            j += 1
        if j >= n or not _GO_ROUTINE.match(lines[j]):
            return StackTrace("go", exc, msg, [], None, lines[i]), i + 1
    # j at the (first, i.e. panicking) goroutine header
    j += 1
    frames: list[Frame] = []
    while j < n:
        fm = _GO_FUNC.match(lines[j]) if lines[j] and not lines[j][0].isspace() else None
        if fm is None:
            break
        file = line = None
        if j + 1 < n:
            lm = _GO_FILE.match(lines[j + 1])
            if lm:
                file, line = lm.group("file"), int(lm.group("line"))
                j += 1
        j += 1
        func = fm.group("func")
        if func.startswith("..."):  # "...additional frames elided..."
            continue
        frames.append(_go_frame(func, file, line, rules))
    # skip the other goroutines of a dump: they are not this crash
    k = j
    while k < n and (not lines[k].strip() or _GO_ROUTINE.match(lines[k]) or lines[k].startswith(("\t", "created by "))
                     or (_GO_FUNC.match(lines[k]) and k + 1 < n and _GO_FILE.match(lines[k + 1]))):
        k += 1
    if k < n and lines[k].startswith("exit status"):
        k += 1
    if exc is None:
        exc, msg = "goroutine dump", lines[i].strip()
    return StackTrace("go", exc, msg, frames, None, "\n".join(lines[i:j])), max(j, k)


def _go_frame(func: str, file: str | None, line: int | None, rules: tuple) -> Frame:
    slash = func.rfind("/")
    dot = func.find(".", slash + 1)
    if dot < 0:
        module, rest = None, func
    else:
        module, rest = func[:dot], func[dot + 1:]
    cls = None
    if rest.startswith("("):
        close = rest.find(")")
        cls, rest = rest[1:close].lstrip("*"), rest[close + 2:]
    elif "." in rest:
        first, second = rest.split(".", 1)
        if not re.match(r"^(?:func\d+|gowrap\d+|\d+)", second):
            cls, rest = first, second
    return Frame(module, cls, rest or None, file, line, is_in_app("go", func, file, *rules))
