"""Secrets and PII masking with typed, numbered placeholders.

Owns the one rule table that decides what never leaves the machine unmasked: cloud keys,
vendor tokens (GitHub, GitLab, Slack, Stripe, Groq ``gsk_``, OpenAI ``sk-``…), private key
blocks, passwords in URLs / connection strings / assignments, JWTs, bearer credentials, and
PII (emails, public IPv4/IPv6 addresses, Luhn-valid card numbers, phone numbers, SSNs,
IBANs). Each finding becomes ``[REDACTED:<type>#<n>]``, numbered per type, the same value
always getting the same placeholder within one ``Redactor``. The placeholder → original map
lives only in ``Redactor.mapping``; this module never writes it anywhere.

Masking never changes the number of lines (a multi-line private key becomes one
placeholder per line), so ``redact_lines`` and ``crashlens redact`` stay line for line.

>>> r = Redactor()
>>> r.redact("login bob@example.com from 8.8.8.8 key=AKIAQYLPMN5HFIQR7XYZ")
'login [REDACTED:email#1] from [REDACTED:ipv4#1] key=[REDACTED:aws_key#1]'
>>> r.summary()
{'email': 1, 'ipv4': 1, 'aws_key': 1}
"""

from __future__ import annotations

import base64
import binascii
import bisect
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from .config import Settings
from .errors import ConfigError

__all__ = ["Redactor", "redact_text", "redact_lines", "SECRET_TYPES", "PII_TYPES", "PLACEHOLDER_RE"]

PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z0-9_]+#\d+\]")

SECRET_TYPES = (
    "private_key", "aws_key", "aws_secret", "gcp_key", "azure_key", "github_token", "gitlab_token",
    "slack_token", "slack_webhook", "stripe_key", "groq_key", "openai_key", "api_token", "jwt",
    "bearer_token", "url_password", "password", "secret",
)
_SECRET_SET = frozenset(SECRET_TYPES)
PII_TYPES = ("email", "ipv4", "ipv6", "card", "phone", "ssn", "iban")

# A private key body shorter than this is a placeholder in docs/tests ("anything", "..."),
# not key material.
_MIN_KEY_BODY = 16
# How far a private key block may run before we stop treating it as one block (a header
# with no END must not swallow the rest of a log).
_MAX_KEY_CHARS = 16000
_MAX_KEY_LINES = 400


@dataclass(frozen=True)
class _Rule:
    type: str
    regex: re.Pattern[str]
    group: int | str = 0           # the part of the match that is the sensitive value
    needles: tuple[str, ...] = ()  # cheap prefilter: lowercase substrings, any must occur
    check: Callable[[str], bool] | None = None
    retype: Callable[[re.Match[str]], str] | None = None  # a finer type from the key name
    gate: Callable[[str], bool] | None = None  # a cheaper whole-text test than the regex
    # Case-insensitive parts are written in lowercase: on lowercased text the rule runs
    # without IGNORECASE, which makes keyword alternations ~5x faster in CPython's re.
    lregex: re.Pattern[str] | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if "(?i:" in self.regex.pattern:
            object.__setattr__(self, "lregex", re.compile(self.regex.pattern.replace("(?i:", "(?:")))


# ---- value checks -----------------------------------------------------------------------

def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(raw: str) -> bool:
    digits = re.sub(r"[ -]", "", raw)
    n = len(digits)
    if not 13 <= n <= 19 or len(set(digits)) < 2:
        return False
    two, four = int(digits[:2]), int(digits[:4])
    # Issuer prefixes (IIN) of the card networks: keeps 13–16 digit ids, epoch milliseconds
    # (they start with 1) and counters from being taken for card numbers.
    known = (
        digits[0] == "4"
        or 51 <= two <= 55 or 2221 <= four <= 2720
        or two in (34, 37) or two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305
        or four == 6011 or two in (62, 64, 65) or 3528 <= four <= 3589
    )
    return known and _luhn(digits)


def _global_ip(raw: str) -> bool:
    try:
        addr = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return False
    # Private, loopback, link-local and documentation addresses identify no person.
    return addr.is_global and not addr.is_multicast


def _aws_key_ok(raw: str) -> bool:
    return len(set(raw[4:])) >= 4  # AKIAXXXXXXXXXXXXXXXX and friends are placeholders


def _iban_ok(raw: str) -> bool:
    s = raw.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _basic_ok(raw: str) -> bool:
    try:
        decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _credential_like(raw: str) -> bool:
    """A bare value that looks like key material rather than a word of prose."""
    return len(raw) >= 16 and bool(re.search(r"\d", raw)) and bool(re.search(r"[A-Za-z]", raw))


_PLACEHOLDER_VALUE = re.compile(
    r"""^(?:
        [x*#.\-_•?]+ | <[^>]*> | \$\{[^}]*\} | \$\(?[A-Za-z_][A-Za-z0-9_]*\)? | \{\{.*\}\} | %[sd] | \(?null\)?
      | (?i:none|nil|null|undefined|true|false|yes|no|on|off|ok|n/?a|empty|unset|missing|required|optional|invalid|
            expired|hidden|masked|redacted|changeme|change_me|secret|password|token|string|str|bool|int)
      | [a-z]*(?:fake|dummy|example|sample|placeholder|changeme|your|test)[a-z_]*
      | [A-Z][A-Z0-9_]*_(?:ID|NAME|VAR|ENV|FILE|PATH)
    )$""",
    re.X,
)
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _assigned_ok(raw: str) -> bool:
    """An assigned secret value (quoted): anything but an empty or placeholder value."""
    v = raw.strip()
    return bool(v) and not _PLACEHOLDER_VALUE.match(v) and not PLACEHOLDER_RE.fullmatch(v)


def _bare_ok(raw: str) -> bool:
    """An unquoted assigned value: also not a plain lowercase word or a variable reference."""
    v = raw.strip().rstrip(",;")
    if not _assigned_ok(v):
        return False
    if re.fullmatch(r"[a-z]+", v) and len(v) < 12:  # "password: incorrect", "token=expired"
        return False
    if re.fullmatch(r"\d{1,6}", v):  # counts and timeouts next to a token/secret key name
        return False
    return not (_VAR_NAME.match(v) and not re.search(r"\d", v) and v != v.lower() and v != v.upper())


def _key_type(default: str) -> Callable[[re.Match[str]], str]:
    """Name the finding after its key: ``db_password = …`` is a password, not just a secret."""
    def retype(m: re.Match[str]) -> str:
        key = (m.group("k") or "").lower()
        if "pass" in key:
            return "password"
        if default == "aws_secret" and "secret" not in key:
            return "aws_key"
        return default
    return retype


def _private_key_ok(block: str) -> bool:
    body = re.sub(r"-----(?:BEGIN|END)[^-]*-----", "", block)
    body = re.sub(r"[\s\"'+\\n,]", "", body)
    return len(body) >= _MIN_KEY_BODY


# ---- the rule table (order = priority: earlier, more specific rules claim a value first) --

_KEYWORDS = (
    r"pass(?:word|wd|phrase)?|secret(?:[_\-]?key)?|client[_\-]?secret|app[_\-]?secret|api[_\-]?key|apikey|access[_\-]?key(?:[_\-]?id)?|"
    r"private[_\-]?key|signing[_\-]?key|encryption[_\-]?key|master[_\-]?key|account[_\-]?key|auth[_\-]?key|credentials?|"
    r"(?:access|auth|refresh|api|bearer|session|bot|app|user|id|oauth|personal[_\-]access|gh|github|slack|sas)?[_\-]?token"
)
# The key ends with a keyword (db_password, CLIENT_SECRET, appSecret, "api_token"); the
# regex starts AT the keyword (a lazy scan for the key's start costs 10x more) and the keyword
# must END the key, so passwordVariable, credentialsId or prompt_tokens are not secret keys.
_KEY = rf"(?=[abcegimoprstu_])(?i:{_KEYWORDS})(?![A-Za-z0-9])"
_SEP = r"[ \t]*(?::=|=>|->|=|:|-{2,})[ \t]*"
_SECRET_NEEDLES = ("pass", "secret", "key", "token", "credential")
_Q_VALUE = r"(?P<q>[\"'`])(?P<v>(?:(?!(?P=q)).){1,512})(?P=q)"

_RULES: tuple[_Rule, ...] = (
    _Rule("private_key", re.compile(
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
        rf"(?:[\s\S]{{0,{_MAX_KEY_CHARS}}}?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[^\n]*)"),
        needles=("private key",), check=_private_key_ok),
    _Rule("slack_webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,}"),
          needles=("hooks.slack",)),
    _Rule("aws_key", re.compile(r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
          needles=("a3t", "akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "aroa", "apka", "asca"),
          check=_aws_key_ok),
    _Rule("aws_secret", re.compile(
        r"(?P<k>(?i:aws_?secret(?:_?access)?_?key|secret_?access_?key|aws_?access_?key(?:_?id)?))[\"']?" + _SEP +
        r"[\"']?(?P<v>[A-Za-z0-9/+=]{16,})"), group="v", needles=("aws", "access_key", "accesskey"),
        retype=_key_type("aws_secret")),
    _Rule("gcp_key", re.compile(r"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])"), needles=("aiza",)),
    _Rule("azure_key", re.compile(r"(?i:accountkey|sharedaccesskey|sig)=(?P<v>[A-Za-z0-9+/%]{30,}={0,2})"),
          group="v", needles=("accountkey", "sharedaccesskey", "sig=")),
    _Rule("azure_key", re.compile(r"(?<![A-Za-z0-9_~.\-])[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}(?![A-Za-z0-9_~.\-])"),
          needles=("q~",)),
    _Rule("github_token", re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
          needles=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    _Rule("gitlab_token", re.compile(r"(?<![A-Za-z0-9_])gl(?:pat|dt|rt|ptt|cbt|ft|imt|oas|soat)-[A-Za-z0-9_\-]{20,}"),
          needles=("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glft-", "glimt-", "gloas-", "glsoat-")),
    _Rule("slack_token", re.compile(r"(?<![A-Za-z0-9_])(?:xox[abposre]-\d{6,}(?:-\d{6,})*-[A-Za-z0-9]{8,}|xoxe\.xox[bp]-\d-[A-Za-z0-9]{100,}|xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)"),
          needles=("xox", "xapp-")),
    _Rule("stripe_key", re.compile(r"(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"), needles=("_live_", "_test_")),
    _Rule("groq_key", re.compile(r"(?<![A-Za-z0-9])gsk_[A-Za-z0-9_\-]{8,}"), needles=("gsk_",)),
    _Rule("openai_key", re.compile(r"(?<![A-Za-z0-9_\-])sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_\-]{20,}"),
          needles=("sk-",)),
    _Rule("api_token", re.compile(
        r"(?<![A-Za-z0-9_\-])(?:npm_[A-Za-z0-9]{36}|pypi-AgE[A-Za-z0-9_\-]{50,}|hf_[A-Za-z]{34}|"
        r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}|ya29\.[A-Za-z0-9_\-]{20,}|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}|"
        r"do[opr]_v1_[a-f0-9]{64}|key-[0-9a-f]{32}|dop_v1_[a-f0-9]{64}|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16})"),
        needles=("npm_", "pypi-", "hf_", "sg.", "ya29.", "shp", "_v1_", "key-", "xkeysib-")),
    _Rule("jwt", re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"),
          needles=("eyj",)),
    _Rule("url_password", re.compile(
        r"(?i:[a-z][a-z0-9+.\-]{1,20})://[^\s:/?#@\[\]\"'<>]{0,128}:(?P<v>[^\s@/\"'<>]{1,256})@(?=[\w\[.\-])"),
        group="v", needles=("://",)),
    _Rule("bearer_token", re.compile(
        r"(?i:\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:bearer|token|digest|apikey|sso-key|negotiate)[ \t]+)(?P<v>[A-Za-z0-9\-._~+/=:,]{8,})"),
        group="v", needles=("authorization",)),
    _Rule("bearer_token", re.compile(r"(?i:\bbearer[ \t]+)(?P<v>[A-Za-z0-9\-._~+/]{16,}={0,2})"),
          group="v", needles=("bearer",), check=lambda v: bool(re.search(r"[0-9]", v) or re.search(r"[A-Z].*[a-z]|[a-z].*[A-Z]", v))),
    _Rule("bearer_token", re.compile(r"(?i:\bbasic[ \t]+)(?P<v>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"),
          group="v", needles=("basic",), check=_basic_ok),
    # Connection strings: Server=...;User Id=...;Password=...;  (ODBC/ADO.NET/JDBC style)
    # A value ends at ";" in a connection string, at "&" in a URL query.
    _Rule("password", re.compile(r"(?i:(?<![A-Za-z0-9_])(?:password|pwd))=(?P<v>[^;\s\"']{1,256}(?=;)|[^;\s\"'&]{1,256}(?=&|$|[\s\"']))"),
          group="v", needles=("password=", "pwd="), check=_assigned_ok),
    # curl -u user:password / --user=user:password
    _Rule("password", re.compile(r"(?<!\S)(?:-u|--user)[ =][\"']?[^\s:\"']+:(?P<v>[^\s\"']+)"),
          group="v", needles=("curl", "--user"), check=_assigned_ok),
    # XML config: <add key="DbPassword" value="..."/>
    _Rule("password", re.compile(rf"(?i:key=\"[^\"]*(?:{_KEYWORDS})\"[ \t]+value=)\"(?P<v>[^\"]+)\""),
          group="v", needles=("value=",), check=_assigned_ok),
    # Keyed calls: getenv("API_TOKEN", "default"), setPassword('x')
    _Rule("secret", re.compile(rf"[\"'](?P<k>{_KEY})[\"'][ \t]*,[ \t]*{_Q_VALUE}"),
          group="v", needles=_SECRET_NEEDLES, check=_assigned_ok, retype=_key_type("secret")),
    # key = "value" / "key": "value" / key: 'value'
    _Rule("secret", re.compile(rf"(?P<k>{_KEY})[\"'`]?{_SEP}{_Q_VALUE}"),
          group="v", needles=_SECRET_NEEDLES, check=_assigned_ok, retype=_key_type("secret")),
    # key=value / key: value (unquoted): stricter, prose and logfmt live here
    _Rule("secret", re.compile(rf"(?P<k>{_KEY}){_SEP}(?P<v>[^\s\"'`,;)\]}}]{{3,256}})"),
          group="v", needles=_SECRET_NEEDLES, check=_bare_ok, retype=_key_type("secret")),
    # ---- PII
    _Rule("email", re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"),
          needles=("@",)),
    _Rule("ipv4", re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"),
          needles=(".",), check=_global_ip),
    _Rule("ipv6", re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})(?:%[A-Za-z0-9]+)?(?![\w:])"),
          needles=("::", ":"), check=_global_ip, gate=lambda t: "::" in t or t.count(":") >= 7),
    _Rule("card", re.compile(r"(?<![\w.\-:/])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?![\w]|[.\-:/]\d)"),
          check=_card_ok),
    _Rule("ssn", re.compile(r"(?<![\w\-.])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w\-]|\.\d)"), needles=("-",)),
    _Rule("phone", re.compile(
        r"(?<![\w+\-.])(?:\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]\d{2,4}){1,4}|\(\d{3}\)[ ]?\d{3}[ .\-]\d{4}|\d{3}[.\-]\d{3}[.\-]\d{4})(?![\w\-]|\.\d)"),
        check=lambda v: 8 <= sum(c.isdigit() for c in v) <= 15),
    _Rule("iban", re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"),
          check=_iban_ok),
)


# One scan decides whether any secret rule can apply: most log lines mention no key, token
# or password, and checking 25 rules' needles one by one costs more than all the PII regexes.
_GATED = tuple(r for r in _RULES if r.type in SECRET_TYPES and r.needles)
_SECRET_GATE = re.compile("|".join(re.escape(n) for n in sorted({n for r in _GATED for n in r.needles}, key=len, reverse=True)))


def _parse_skip(text: str) -> frozenset[str]:
    skip = frozenset(t.strip() for t in text.split(",") if t.strip())
    bad = skip - set(PII_TYPES)
    if bad:
        raise ConfigError(f"cannot skip redaction of {', '.join(sorted(bad))}",
                          hint=f"CRASHLENS_REDACT_SKIP takes PII types only: {', '.join(PII_TYPES)}; secrets are always masked")
    return skip


class _Spans:
    """Disjoint [start, end) spans in order; claiming an overlapping span fails (O(log n))."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]

    def claim(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start)
        if i and self.ends[i - 1] > start:
            return False
        if i < len(self.starts) and self.starts[i] < end:
            return False
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        return True


class Redactor:
    """Masks secrets and PII; remembers which placeholder stands for which value.

    One Redactor per document set (an RCA run, a bundle): the numbering and the
    ``mapping`` (placeholder → original) are shared by everything it redacts, in memory only.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        skip = _parse_skip(getattr(settings, "redact_skip", "") or "") if settings is not None else frozenset()
        self._rules = tuple(r for r in _RULES if r.type not in skip)
        self.mapping: dict[str, str] = {}
        self._by_value: dict[tuple[str, str], str] = {}
        self._numbers: dict[str, int] = {}
        self._counts: dict[str, int] = {}

    def redact(self, text: str) -> str:
        """``text`` with every finding replaced by its placeholder; line count unchanged."""
        if not text:
            return text
        spans = self._find(text)
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        for start, end, kind in spans:
            out.append(text[pos:start])
            value = text[start:end]
            ph = self._placeholder(kind, value)
            self._counts[kind] = self._counts.get(kind, 0) + 1
            # Keep the line structure: one placeholder per line a finding spans.
            out.append("\n".join(ph for _ in range(value.count("\n") + 1)) if "\n" in value else ph)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def summary(self) -> dict[str, int]:
        """Findings masked so far, per type (occurrences, not distinct values)."""
        return dict(self._counts)

    # -- internals --------------------------------------------------------------------

    def _find(self, text: str) -> list[tuple[int, int, str]]:
        low = text.lower()
        # Claimed spans, kept sorted and disjoint: existing placeholders first (never re-masked).
        taken = _Spans([m.span() for m in PLACEHOLDER_RE.finditer(text)] if "[redacted:" in low else [])
        found: list[tuple[int, int, str]] = []
        # str.lower never shortens a character, so equal length means equal offsets.
        aligned = len(low) == len(text)
        gated = _SECRET_GATE.search(low) is not None
        has_digit: bool | None = None
        for rule in self._rules:
            if rule.needles:
                if rule.type in _SECRET_SET and not gated:
                    continue
                if not any(n in low for n in rule.needles):
                    continue
            else:
                if has_digit is None:
                    has_digit = any(c.isdigit() for c in text)
                if not has_digit:
                    continue
            if rule.gate is not None and not rule.gate(text):
                continue
            if rule.lregex is not None and aligned:
                matches = rule.lregex.finditer(low)
            else:
                matches = rule.regex.finditer(text)
            for m in matches:
                start, end = m.span(rule.group)
                if start < 0 or start == end:
                    continue
                value = text[start:end]
                if rule.check is not None and not rule.check(value):
                    continue
                if not taken.claim(start, end):
                    continue
                found.append((start, end, rule.retype(m) if rule.retype else rule.type))
        found.sort()
        return found

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        ph = self._by_value.get(key)
        if ph is None:
            n = self._numbers.get(kind, 0) + 1
            self._numbers[kind] = n
            ph = f"[REDACTED:{kind}#{n}]"
            self._by_value[key] = ph
            self.mapping[ph] = value
        return ph


def redact_text(text: str) -> str:
    """Mask one text with a fresh Redactor (default rules).

    >>> redact_text("Authorization: Bearer gsk_abcdefghijklmnopqrstuvwxyz0123")
    'Authorization: Bearer [REDACTED:groq_key#1]'
    """
    return Redactor().redact(text)


_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_KEY_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")


def redact_lines(lines: Iterable[str], redactor: Redactor | None = None) -> Iterator[str]:
    """Yield exactly one masked line per input line, keeping each line's own terminator.

    A private key block spread over lines is gathered (up to a bounded look-ahead) so its
    body lines are masked too; everything else is masked line by line.

    >>> list(redact_lines(["a 8.8.8.8\\n", "b\\n"]))
    ['a [REDACTED:ipv4#1]\\n', 'b\\n']
    """
    r = redactor or Redactor()
    it = iter(lines)
    pending: list[str] = []
    for line in it:
        begin = _KEY_BEGIN.search(line) if "PRIVATE KEY" in line else None
        if begin is None or _KEY_END.search(line, begin.end()):
            yield _redact_line(r, line)
            continue
        pending = [line]
        chars = len(line)
        for nxt in it:
            pending.append(nxt)
            chars += len(nxt)
            if _KEY_END.search(nxt) or len(pending) >= _MAX_KEY_LINES or chars >= _MAX_KEY_CHARS:
                break
        yield from _redact_block(r, pending)
        pending = []


def _split_eol(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body):]


def _redact_line(r: Redactor, line: str) -> str:
    body, eol = _split_eol(line)
    # A stray CR or LF inside a "line" must not add output lines.
    return r.redact(body).replace("\n", " ") + eol


def _redact_block(r: Redactor, lines: list[str]) -> Iterator[str]:
    parts = [_split_eol(line) for line in lines]
    bodies = [b for b, _ in parts]
    if any("\n" in b or "\r" in b for b in bodies):
        yield from (_redact_line(r, line) for line in lines)
        return
    masked = r.redact("\n".join(bodies)).split("\n")
    if len(masked) != len(parts):  # cannot happen (redact keeps line count); stay line for line regardless
        yield from (_redact_line(r, line) for line in lines)
        return
    for text, (_, eol) in zip(masked, parts):
        yield text + eol
