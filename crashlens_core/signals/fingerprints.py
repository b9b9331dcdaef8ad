"""Exception fingerprints: one id per bug, as Sentry groups issues.

A fingerprint hashes, for every exception of the cause chain, its **type** and its
**normalized in-app frames** (module, function, file: never line numbers, columns, memory
addresses, ids or compiler-generated names). So the same bug hit by a thousand requests is
one fingerprint whatever the order ids, user names, addresses and line shifts in between,
and a different code path to the same exception type is another one.

Fallbacks, in Sentry's order: when no frame is in-app, all frames are used; when the trace
has no frames at all, the exception type plus the message with its variables masked.
Recursion is collapsed (the same frame repeated is one frame), so the depth of a recursive
call does not split a group.

>>> from crashlens_core.signals.stacks import parse_stack
>>> a = parse_stack("x\\njava.lang.IllegalStateException: order 17 failed\\n\\tat com.acme.Shop.pay(Shop.java:40)")
>>> b = parse_stack("x\\njava.lang.IllegalStateException: order 99 failed\\n\\tat com.acme.Shop.pay(Shop.java:44)")
>>> fingerprint(a).id == fingerprint(b).id
True
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .stacks import Frame, StackTrace

__all__ = ["Fingerprint", "fingerprint", "normalize_function", "normalize_module", "normalize_file", "normalize_message"]

_ID_HEX = 32  # 128 bits, as long as Sentry's group hashes

# Compiler- and runtime-generated name parts whose numbers or hashes change between builds,
# processes or requests. Each becomes a stable placeholder.
_GENERATED = [
    (re.compile(r"\$\$Lambda(?:\$\d+)?(?:/0x[0-9a-fA-F]+)?(?:/\d+)?"), "$$Lambda"),   # Java lambdas' hidden classes
    (re.compile(r"\$\$(?:EnhancerBy|FastClassBy|SpringCGLIB|HibernateProxy|MockitoMock|ByteBuddy)\w*?\$\$[0-9a-fA-F]+"), "$$Proxy"),
    (re.compile(r"\$Proxy\d+"), "$Proxy"),
    (re.compile(r"\bGenerated(?:Serialization)?(?:Constructor|Method)Accessor\d+"), "GeneratedAccessor"),
    (re.compile(r"\blambda\$([\w$]*?)\$\d+"), r"lambda$\1"),                           # lambda$post$0
    (re.compile(r"\$\d+"), "$"),                                                         # anonymous classes Foo$1
    (re.compile(r"<>c__DisplayClass\d+_\d+"), "<>c__DisplayClass"),                      # .NET closures
    (re.compile(r"(<[^>]*>)[bdg]__\d+(?:_\d+)?"), r"\1"),                                # .NET lambdas <Post>b__0_1
    (re.compile(r"\blambda_method\d+"), "lambda_method"),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x"),
    (re.compile(r"\b[0-9a-f]{12,}\b"), "<hash>"),
]
_WEBPACK_HASH = re.compile(r"([./-])[0-9a-f]{6,32}(?=\.(?:[cm]?js|css|jsx|tsx?)$)")
_QUOTED = re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"")
_MESSAGE_MASK: re.Pattern[str] | None = None
_NAMED_BY_MODULE = ("java", "go", "dotnet")  # frames carry a real package/namespace


@dataclass(frozen=True)
class Fingerprint:
    """A group of exceptions that are the same bug. ``frames``: the normalized frames hashed."""

    id: str
    exc_type: str
    frames: list[dict[str, str | None]] = field(default_factory=list, hash=False, compare=False)
    title: str = ""
    culprit: str = ""  # "function (file)" of the crashing in-app frame, as Sentry shows it
    basis: str = "in_app"  # in_app | all_frames | message: what the id was computed from

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "exc_type": self.exc_type, "frames": self.frames, "title": self.title,
                "culprit": self.culprit, "basis": self.basis}


def normalize_function(name: str | None) -> str | None:
    """A function or class name without generated numbers, hashes and addresses.

    >>> normalize_function("lambda$post$0"), normalize_function("<Post>b__0_1"), normalize_function("Foo$1")
    ('lambda$post', '<Post>', 'Foo$')
    """
    if not name:
        return name
    for pattern, repl in _GENERATED:
        if pattern.search(name):
            name = pattern.sub(repl, name)
    return name


def normalize_module(name: str | None) -> str | None:
    return normalize_function(name)


def normalize_file(path: str | None) -> str | None:
    """The last two path components, ``/``-separated, without query strings or bundle hashes.

    Deployment roots differ between hosts and releases (``/app``, ``/srv/releases/42``);
    the file's own name and folder do not.

    >>> normalize_file("/srv/releases/42/shop/payments.py"), normalize_file("https://cdn.x/js/main.3f2a1c9d.js?v=2")
    ('shop/payments.py', 'js/main.js')
    """
    if not path:
        return None
    p = path.replace("\\", "/").split("?", 1)[0].split("#", 1)[0]
    p = re.sub(r"^[a-z]+://[^/]*", "", p)
    p = _WEBPACK_HASH.sub("", p)
    parts = [x for x in p.split("/") if x and x != "."]
    return "/".join(parts[-2:]) or None


def normalize_message(message: str) -> str:
    """The message's first line with numbers, ids, paths, addresses and quoted values masked.

    >>> normalize_message("no row 'zz' at 0x7f56bc7edf10 for order o-1736")
    'no row <*> at <*> for order <*>'
    """
    global _MESSAGE_MASK
    if _MESSAGE_MASK is None:
        from .templates import VARIABLE_PATTERNS  # the template miner's variable shapes, one source of truth

        _MESSAGE_MASK = re.compile("|".join(f"(?:{p})" for _, p in VARIABLE_PATTERNS))
    first = (message or "").strip().split("\n", 1)[0][:500]
    return re.sub(r"\s+", " ", _MESSAGE_MASK.sub("<*>", _QUOTED.sub("<*>", first))).strip()


def _frame_key(f: Frame, language: str) -> dict[str, str | None]:
    module = ".".join(p for p in (f.module, f.class_) if p) or None
    file = normalize_file(f.file)
    if file and language in _NAMED_BY_MODULE:
        # the package/namespace names the code; the build folder (/build/v1.4/…) must not split groups
        file = file.rsplit("/", 1)[-1]
    return {"module": normalize_module(module), "function": normalize_function(f.function), "file": file}


def _frames_for(st: StackTrace) -> tuple[list[dict[str, str | None]], str]:
    frames = [f for f in st.frames if f.in_app]
    basis = "in_app"
    if not frames:
        frames, basis = list(st.frames), "all_frames"
    keys: list[dict[str, str | None]] = []
    for f in frames:
        key = _frame_key(f, st.language)
        if not (key["function"] or key["file"]):
            continue
        if keys and keys[-1] == key:  # recursion: one frame however deep
            continue
        keys.append(key)
    if not keys:
        basis = "message"
    return keys, basis


def _exc_type(st: StackTrace) -> str:
    return normalize_function(st.exception) or "Error"


def fingerprint(stack: StackTrace) -> Fingerprint:
    """The group of this exception: type + normalized in-app frames of every exception in the chain.

    >>> from crashlens_core.signals.stacks import StackTrace
    >>> fingerprint(StackTrace("go", "panic", "boom at 0xc000012345", [])).basis
    'message'
    """
    components: list[Any] = []
    top_frames: list[dict[str, str | None]] = []
    top_basis = "message"
    for depth, st in enumerate(stack.chain()):
        keys, basis = _frames_for(st)
        part: dict[str, Any] = {"type": _exc_type(st), "frames": keys}
        if not keys:
            part["message"] = normalize_message(st.message)
        components.append(part)
        if depth == 0:
            top_frames, top_basis = keys, basis
    digest = hashlib.sha256(json.dumps(components, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:_ID_HEX]
    first_line = (stack.message or "").strip().split("\n", 1)[0]
    title = f"{_exc_type(stack)}: {first_line}" if first_line else _exc_type(stack)
    if len(title) > 140:
        title = title[:139] + "…"
    crash = next((f for f in stack.root_cause().frames if f.in_app), None) or next(iter(stack.frames), None)
    culprit = ""
    if crash is not None:
        where = crash.file or crash.module or ""
        culprit = f"{crash.function or '?'} ({where})" if where else (crash.function or "")
    return Fingerprint(digest, _exc_type(stack), top_frames, title, culprit, top_basis)
