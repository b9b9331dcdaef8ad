"""Secrets and PII masking with typed, numbered placeholders.

Owns the one rule table that decides what never leaves the machine unmasked, in priority order:
vendor tokens with exact formats (cloud keys, GitHub, GitLab, Slack, Stripe, Groq ``gsk_``,
OpenAI ``sk-``…), private key blocks, JWTs by structure (the header decodes to JSON naming
``alg``/``typ``), credentials in URLs, headers (``Authorization``, cookies), connection strings,
command-line flags and key/value assignments, then Yelp detect-secrets' regex plugins
(``redaction.vendor``), then PII (emails, public IPv4/IPv6, Luhn-valid cards, phone numbers,
SSNs, mod-97 IBANs, national ids with check digits), and last any token that looks randomly
drawn, whoever minted it (``redaction.tokens``). The value checks live in ``redaction.checks``.
Each finding becomes ``[REDACTED:<type>#<n>]``, numbered per type, the same value always
getting the same placeholder within one ``Redactor``. The placeholder → original map lives only
in ``Redactor.mapping``; this module never writes it anywhere.

Masking never changes the number of lines (a multi-line private key becomes one
placeholder per line), so ``redact_lines`` and ``crashlens redact`` stay line for line.

>>> r = Redactor()
>>> r.redact("login bob@example.com from 8.8.8.8 key=AKIAQYLPMN5HFIQR7XYZ")
'login [REDACTED:email#1] from [REDACTED:ipv4#1] key=[REDACTED:aws_key#1]'
>>> r.summary()
{'email': 1, 'ipv4': 1, 'aws_key': 1}
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from .config import Settings
from .errors import ConfigError
from .redaction.checks import (
    PLACEHOLDER_RE, assigned_ok, aws_key_ok, bare_ok, basic_ok, decoded_text, find_cards, find_national_ids, global_ip, iban_ok,
    jwt_ok, placeholder_body, unquoted_ok,
)
from .redaction.tokens import (
    assigned_hex, cookie_values, find_tokens, keyed_value_ok, user_password_flags, webhook_secrets,
)
from .redaction.vendor import vendor_findings

__all__ = ["Redactor", "redact_text", "redact_lines", "SECRET_TYPES", "PII_TYPES", "PLACEHOLDER_RE"]

SECRET_TYPES = (
    "private_key", "aws_key", "aws_secret", "gcp_key", "azure_key", "github_token", "gitlab_token",
    "slack_token", "slack_webhook", "stripe_key", "groq_key", "openai_key", "api_token", "jwt",
    "bearer_token", "url_password", "password", "secret",
)
_SECRET_SET = frozenset(SECRET_TYPES)
PII_TYPES = ("email", "ipv4", "ipv6", "card", "phone", "ssn", "iban", "national_id")

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
    regex: re.Pattern[str] | None
    group: int | str = 0           # the part of the match that is the sensitive value
    needles: tuple[str, ...] = ()  # cheap prefilter: lowercase substrings, any must occur
    check: Callable[[str], bool] | None = None
    retype: Callable[[re.Match[str]], str] | None = None  # a finer type from the key name
    gate: Callable[[str], bool] | None = None  # a cheaper whole-text test than the regex
    finder: Callable[[str], Iterable[tuple[int, int]]] | None = None  # spans found by code, not one regex
    # Case-insensitive parts are written in lowercase: on lowercased text the rule runs
    # without IGNORECASE, which makes keyword alternations ~5x faster in CPython's re.
    lregex: re.Pattern[str] | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if self.regex is not None and "(?i:" in self.regex.pattern:
            object.__setattr__(self, "lregex", re.compile(self.regex.pattern.replace("(?i:", "(?:")))


def _key_type(default: str) -> Callable[[re.Match[str]], str]:
    """Name the finding after its key: ``db_password = …`` is a password, not just a secret."""
    def retype(m: re.Match[str]) -> str:
        key = (m.group("k") or "").lower()
        if "pass" in key or re.search(r"(?<![a-z])pwd?$", key):
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

# Short key words (pw, pwd, pat, jwt) count only as a whole word of the key (db_pwd, GITHUB_PAT,
# AUTH_JWT): inside a longer word (compat, xpwd) they are letters, not a key name.
_KEYWORDS = (
    r"pass(?:word|wd|phrase|code)?|secrets?(?:[_\-]?key)?|(?<![a-z])(?:pwd|pw|pat|jwt)|client[_\-]?secret|app[_\-]?secret|api[_\-]?key|apikey|access[_\-]?key(?:[_\-]?id)?|"
    r"bearer|private[_\-]?key|signing[_\-]?key|encryption[_\-]?key|master[_\-]?key|account[_\-]?key|auth[_\-]?key|cred(?:s|entials?)?|"
    r"(?:access|auth|refresh|api|bearer|session|bot|app|user|id|oauth|personal[_\-]access|gh|github|slack|sas)?[_\-]?token"
)
# The key ends with a keyword (db_password, CLIENT_SECRET, appSecret, "api_token"); the
# regex starts AT the keyword (a lazy scan for the key's start costs 10x more) and the keyword
# must END the key, so passwordVariable, credentialsId or prompt_tokens are not secret keys.
# A suffix that names the secret's encoding or form (secret_key_base, tokenValue, PASSWORD_B64)
# still names the secret itself, unlike one naming a reference to it (passwordVariable, credentialsId).
_ENCODING = r"(?:[_\-]?(?i:b64|base64|hex|base|value|raw|str|string|plain(?:text)?|clear(?:text)?|bytes))?"
# A page or continuation token (nextPageToken, page_token) is a cursor into a listing, not a
# credential: the keyword is not a key when those words lead up to it.
# Inside an ARN (arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>) the word after
# the account is a resource type, not a key.
_NOT_AFTER = r"(?<!(?i:page))(?<!(?i:page)[_\- ])(?<!(?i:continuation))(?<!(?i:continuation)[_\- ])(?<!\d{12}:)"
_KEY = rf"(?=[abcegijmoprstu_]){_NOT_AFTER}(?i:{_KEYWORDS}){_ENCODING}(?![A-Za-z0-9])"
_SEP = r"[ \t]*(?::=|=>|->|=|:|-{2,})[ \t]*"
# The short words need a non-letter before them (see _KEYWORDS), so their needles carry one:
# "path" holds "pat" but never "_pat" or "pat=".
_SECRET_NEEDLES = ("pass", "secret", "key", "token", "cred", "pw", "jwt", "_pat", "-pat", "pat=", "pat:")
# A licence key, a session id and an HMAC or signature value are credentials too, but these names
# also hold plain values (session=3, license: MIT), so they are weak keys: the value must look minted.
_WEAK_KEY = r"(?=[aklshAKLSH])(?i:api|key|login|auth|access[_\-]?id|signature|sig|hmac|licen[cs]e|session)(?![A-Za-z0-9])"
_WEAK_NEEDLES = ("api", "key", "login", "auth", "access", "signature", "sig=", "sig:", "sig\"", "_sig", "hmac", "licen", "session")
# A backtick-quoted value with a space is a shell command substitution (`vault read …`), not a secret.
# JSON inside a JSON string (a Docker or Fluent Bit record whose message is itself JSON) escapes
# its quotes: {"log":"{\"password\":\"…\"}"}. A backslash before a quote is part of the quote.
_Q_VALUE = r"\\?(?P<q>[\"'`])(?:(?<!`)|(?=[^`\s]{1,512}`))(?P<v>(?:(?!\\?(?P=q)).){1,512})\\?(?P=q)"

_EDN_KEY = re.compile(r"(?<![\w:]):[A-Za-z]")
_AWS_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")

_RULES: tuple[_Rule, ...] = (
    _Rule("private_key", re.compile(
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
        rf"(?:[\s\S]{{0,{_MAX_KEY_CHARS}}}?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[^\n]*)"),
        needles=("private key",), check=_private_key_ok),
    _Rule("slack_webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,}"),
          needles=("hooks.slack",)),
    _Rule("aws_key", re.compile(r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
          needles=("a3t", "akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "aroa", "apka", "asca"),
          check=aws_key_ok),
    _Rule("aws_secret", re.compile(
        r"(?P<k>(?i:aws_?secret(?:_?access)?_?key|secret_?access_?key|aws_?access_?key(?:_?id)?))[\"']?" + _SEP +
        r"[\"']?(?P<v>[A-Za-z0-9/+=]{16,})"), group="v", needles=("aws", "access_key", "accesskey"),
        retype=_key_type("aws_secret")),
    # An access key id travels with its secret: on a line holding one, a 40-character base64 run
    # (the length of every AWS secret access key) in both letter cases is that secret. A run glued
    # to "_" or "-" is the body of a longer token (a vendor's prefixed key), left to that rule.
    _Rule("aws_secret", re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=_\-])"),
          needles=("akia", "asia"), gate=lambda t: _AWS_KEY_ID.search(t) is not None,
          check=lambda v: v != v.lower() and v != v.upper() and any(c.isdigit() or c in "+/" for c in v)),
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
    # JWT by structure: base64url parts, the header a JSON object naming alg/typ (checks.jwt_ok).
    _Rule("jwt", re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{4,}={0,2}\.[A-Za-z0-9_\-]{2,}={0,2}(?:\.[A-Za-z0-9_\-+/=]*)?"),
          needles=("eyj",), check=jwt_ok),
    _Rule("url_password", re.compile(
        r"(?i:[a-z][a-z0-9+.\-]{1,20})://[^\s:/?#@\[\]\"'<>]{0,128}:(?P<v>[^\s@/\"'<>]{1,256})@(?=[\w\[.\-])"),
        group="v", needles=("://",)),
    # A URL whose user part is minted key material (https://<token>:x-oauth-basic@host, a DSN's
    # https://<key>@host): the user name is the credential, with or without a password after it.
    _Rule("api_token", re.compile(
        r"(?i:[a-z][a-z0-9+.\-]{1,20})://(?P<v>[A-Za-z0-9_\-.~]{16,256})(?::[^\s@/\"'<>]{0,256})?@(?=[\w\[.\-])"),
        group="v", needles=("://",), check=keyed_value_ok),
    _Rule("bearer_token", re.compile(
        r"(?i:\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:bearer|token|digest|apikey|sso-key|negotiate)[ \t]+)(?P<v>[A-Za-z0-9\-._~+/=:,]{8,})"),
        group="v", needles=("authorization",)),
    # Any other scheme word (RFC 7235: credentials = auth-scheme SP token68): vendors name their
    # own schemes (``Authorization: Zorp-HMAC …``), and whatever the word, the token is the credential.
    _Rule("bearer_token", re.compile(
        r"(?i:\bauthorization)[\"']?[ \t]*[:=][ \t]*[\"']?[A-Za-z][A-Za-z0-9_\-]{1,30}[ \t]+(?P<v>[A-Za-z0-9\-._~+/=:,]{8,})(?![\w\-.~+/=:,])"),
        group="v", needles=("authorization",), check=lambda v: assigned_ok(v) and (len(v) >= 20 or not v.isalpha())),
    # An Authorization header without a scheme word: the value itself is the credential.
    _Rule("bearer_token", re.compile(r"(?i:\bauthorization)[\"']?[ \t]*[:=][ \t]*[\"']?(?P<v>[A-Za-z0-9\-._~+/=]{16,})(?![\w\-.~+/=])"),
          group="v", needles=("authorization",), check=keyed_value_ok),
    _Rule("secret", None, needles=("cookie",), finder=cookie_values),
    _Rule("bearer_token", re.compile(r"(?i:\bbearer:?[ \t]+)(?P<v>[A-Za-z0-9\-._~+/]{16,}={0,2})"),
          group="v", needles=("bearer",), check=lambda v: bool(re.search(r"[0-9]", v) or re.search(r"[A-Z].*[a-z]|[a-z].*[A-Z]", v))),
    _Rule("bearer_token", re.compile(r"(?i:\bbasic[ \t]+)(?P<v>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"),
          group="v", needles=("basic",), check=basic_ok),
    # Password hashes in modular crypt format ($id$[params$]salt$hash: htpasswd, /etc/shadow,
    # bcrypt, Django's pbkdf2_sha256$…): offline-crackable, so they never leave either.
    _Rule("password", re.compile(
        r"(?<![\w$])(?:\$(?:1|2[abxy]|5|6|apr1|y|gy|7|argon2(?:id|i|d)|scrypt|pbkdf2(?:-sha\d+)?|sha1|md5)|pbkdf2_sha\d+|bcrypt_sha256)"
        r"\$[./A-Za-z0-9$=,+\-]{16,}"), needles=("$",)),
    # Connection strings: Server=...;User Id=...;Password=...;  (ODBC/ADO.NET/JDBC style)
    # A value ends at ";" in a connection string, at "&" in a URL query.
    _Rule("password", re.compile(r"(?i:(?<![A-Za-z0-9_])(?:password|pwd))=(?P<v>[^;\s\"']{1,256}(?=;)|[^;\s\"'&]{1,256}(?=&|$|[\s\"']))"),
          group="v", needles=("password=", "pwd="), check=unquoted_ok),
    # curl -u user:password / --user=user:password
    _Rule("password", re.compile(r"(?<!\S)(?:-u|--user)[ =][\"']?[^\s:\"']+:(?P<v>[^\s\"']+)"),
          group="v", needles=("curl", "--user"), check=assigned_ok),
    # Command-line flags: --api-key VALUE, --password=VALUE (the flag name ends with the keyword)
    _Rule("secret", re.compile(r"(?<![\w-])--(?:[a-z0-9]+-)*(?P<k>api-?key|key|token|secret|password|passwd|pass)(?![\w-])[ =]+[\"']?(?P<v>[^\s\"']{8,256})"),
          group="v", needles=("--",), check=bare_ok, retype=_key_type("secret")),
    # XML config: <add key="DbPassword" value="..."/>
    _Rule("password", re.compile(rf"(?i:key=\"[^\"]*(?:{_KEYWORDS})\"[ \t]+value=)\"(?P<v>[^\"]+)\""),
          group="v", needles=("value=",), check=assigned_ok),
    # Keyed calls: getenv("API_TOKEN", "default"), setPassword('x')
    _Rule("secret", re.compile(rf"[\"'](?:[A-Za-z0-9_.\-]{{0,40}}?[_.\-])?(?P<k>{_KEY})[\"'][ \t]*,[ \t]*{_Q_VALUE}"),
          group="v", needles=_SECRET_NEEDLES, check=assigned_ok, retype=_key_type("secret")),
    # key = "value" / "key": "value" / key: 'value'
    _Rule("secret", re.compile(rf"(?P<k>{_KEY})\\?[\"'`]?{_SEP}{_Q_VALUE}"),
          group="v", needles=_SECRET_NEEDLES, check=assigned_ok, retype=_key_type("secret")),
    # key=value / key: value (unquoted): stricter, prose and logfmt live here
    _Rule("secret", re.compile(rf"(?P<k>{_KEY}){_SEP}(?!\\)(?P<v>[^\s\"'`,;)\]}}]{{3,256}})"),
          group="v", needles=_SECRET_NEEDLES, check=bare_ok, retype=_key_type("secret")),
    # XML elements named for a secret, or naming one in an attribute:
    # <password>…</password>, <apiKey>…</apiKey>, <entry key="token">…</entry>
    _Rule("secret", re.compile(rf"(?P<k>{_KEY})(?:[\"'][^<>\n]{{0,80}}|[ \t][^<>\n]{{0,80}})?>(?P<v>[^<>\n]{{1,256}})</"),
          group="v", needles=_SECRET_NEEDLES, check=assigned_ok, retype=_key_type("secret"), gate=lambda t: "</" in t),
    # Setters named for a secret: setPassword("…"), client.set_api_key('…'), withToken("…"), and
    # builder methods named for it (.password("…"), .apiKey('…')): a call that hands over the value.
    _Rule("secret", re.compile(rf"(?:(?i:set|with|use|update)_?|(?<=\.))(?P<k>{_KEY})[ \t]*\([ \t]*{_Q_VALUE}"),
          group="v", needles=_SECRET_NEEDLES, check=assigned_ok, retype=_key_type("secret"), gate=lambda t: "(" in t),
    # EDN/Clojure keywords and Lisp-like plists: {:password "…"}
    _Rule("secret", re.compile(rf"(?<![\w:]):(?P<k>{_KEY})[ \t]+{_Q_VALUE}"),
          group="v", needles=_SECRET_NEEDLES, check=assigned_ok, retype=_key_type("secret"), gate=lambda t: ":" in t and bool(_EDN_KEY.search(t))),
    # A key word and its value separated by blanks only (.netrc "password …", "X-Api-Key …",
    # "token … expired", "the api key is …"): prose lives here too, so only a minted-looking value.
    _Rule("secret", re.compile(rf"(?P<k>{_KEY})[\"']?[ \t]+(?:(?:is|was)[ \t]+)?(?P<v>[A-Za-z0-9+/_.~\-]{{12,256}}={{0,3}})(?![A-Za-z0-9+/=_.~\-])"),
          group="v", needles=_SECRET_NEEDLES, check=keyed_value_ok, retype=_key_type("secret")),
    # Single-dash long flags (Go and Java CLIs): -token VALUE, -password=VALUE
    _Rule("secret", re.compile(r"(?<![\w-])-(?:[a-z0-9]+-)*(?P<k>api-?key|apikey|token|secret|password|passwd)(?![\w-])[ =]+[\"']?(?P<v>[^\s\"']{8,256})"),
          group="v", needles=("-token", "-pass", "-secret", "-api"), check=bare_ok, retype=_key_type("secret")),
    _Rule("password", None, needles=("-p",), finder=user_password_flags),
    _Rule("secret", None, needles=("hook",), finder=webhook_secrets),
    # Weak key names (hubspotKey, IO_KEY, SONAR_LOGIN, accessId, MAILCHIMP_API): ordinary values
    # live under them too, so only a value shaped like minted key material counts.
    _Rule("secret", re.compile(rf"(?P<k>{_WEAK_KEY})\\?[\"'`]?{_SEP}{_Q_VALUE}"),
          group="v", needles=_WEAK_NEEDLES, check=keyed_value_ok),
    _Rule("secret", re.compile(rf"(?P<k>{_WEAK_KEY}){_SEP}(?P<v>[A-Za-z0-9+/_.~\-]{{12,256}}={{0,3}})(?![A-Za-z0-9+/=_.~\-])"),
          group="v", needles=_WEAK_NEEDLES, check=keyed_value_ok),
    _Rule("secret", None, finder=assigned_hex),
    # Yelp detect-secrets' vendor regex plugins (redaction/vendor.py), for formats not above.
    _Rule("api_token", None, finder=vendor_findings),
    # ---- PII
    # Right after "://" the text is a URL's user and host (https://deploy@git.example), not an address.
    _Rule("email", re.compile(r"(?<![A-Za-z0-9._%+\-])(?<!//)[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"),
          needles=("@",)),
    _Rule("ipv4", re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"),
          needles=(".",), check=global_ip),
    _Rule("ipv6", re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})(?:%[A-Za-z0-9]+)?(?![\w:])"),
          needles=("::", ":"), check=global_ip, gate=lambda t: "::" in t or t.count(":") >= 7),
    _Rule("card", None, finder=find_cards),
    _Rule("ssn", re.compile(r"(?<![\w\-.])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w\-]|\.\d)"), needles=("-",)),
    _Rule("phone", re.compile(
        r"(?<![\w+\-.])(?:\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]\d{2,4}){1,4}|\(\d{3}\)[ ]?\d{3}[ .\-]\d{4}|\d{3}[.\-]\d{3}[.\-]\d{4})(?![\w\-]|\.\d)"),
        check=lambda v: 8 <= sum(c.isdigit() for c in v) <= 15),
    _Rule("phone", re.compile(r"(?<![\w+\-.])\+[1-9]\d{7,14}(?![\w\-]|\.\d)"), needles=("+",)),  # E.164 written solid
    _Rule("iban", re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"),
          check=iban_ok),
    # National ids with a check digit (CPF, CN resident id, DNI/NIE, Aadhaar, codice fiscale).
    _Rule("national_id", None, finder=find_national_ids),
    # Last: any remaining token that looks randomly drawn (redaction/tokens.py), whatever its vendor,
    # unless it is base64 of readable text with nothing secret in it (see _random_tokens).
    _Rule("api_token", None, finder=lambda text: _random_tokens(text)),
)


def _random_tokens(text: str) -> Iterator[tuple[int, int]]:
    """The generic token rule, reading through base64: a token that encodes readable text (a
    JSON object, prose) is as secret as what it encodes. It is left only when the decoded text
    names no credential and no rule finds anything in it (a pagination cursor, an encoded
    message); ``{"password": …}`` or a Docker ``auths`` config stays masked, and random bytes
    are judged as random tokens."""
    for start, end in find_tokens(text):
        decoded = decoded_text(text[start:end])
        if decoded is None or any(w in decoded.lower() for w in _CREDENTIAL_WORDS) or _inner().find_any(decoded):
            yield start, end


# Words that name a credential in any field name or sentence: an encoded text that holds one is
# a config or a token's claims, not a cursor or a message.
_CREDENTIAL_WORDS = ("pass", "pwd", "secret", "token", "auth", "key", "cred", "private", "session", "login", "bearer",
                     "cookie", "sig")


@functools.cache
def _inner() -> Redactor:
    # One shared Redactor reads decoded values; it only finds, so it keeps no mapping.
    return Redactor()


_DIGIT = re.compile(r"\d")
# Types whose values are minted at random by a machine (not chosen by a person, as passwords are):
# a body of one or a few repeated symbols (ghp_xxxx…, sk-proj-XXXX…) stands where a key goes.
_MINTED_TYPES = frozenset({
    "aws_key", "gcp_key", "azure_key", "github_token", "gitlab_token", "slack_token", "stripe_key", "groq_key",
    "openai_key", "api_token", "bearer_token",
})


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
        # Most log lines hold none of a rule's needles: every needle is looked up once per text
        # and only the rules whose needles occur are visited (in table order), not all ~60.
        by_needle: dict[str, list[int]] = {}
        for i, rule in enumerate(self._rules):
            for n in rule.needles:
                by_needle.setdefault(n, []).append(i)
        self._by_needle = {n: tuple(ix) for n, ix in by_needle.items()}
        self._needles = tuple(sorted(by_needle))
        # Rules without needles look for digits (PII numbers) or random tokens (which hold digits
        # or mixed case; see redaction.tokens): a text without a digit skips them.
        self._free = tuple(i for i, rule in enumerate(self._rules) if not rule.needles)
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

    def find_any(self, text: str) -> bool:
        """True when some rule finds a secret or PII in ``text`` (nothing is masked or counted)."""
        return bool(self._find(text))

    # -- internals --------------------------------------------------------------------

    def _find(self, text: str) -> list[tuple[int, int, str]]:
        low = text.lower()
        # Claimed spans, kept sorted and disjoint: existing placeholders first (never re-masked).
        taken = _Spans([m.span() for m in PLACEHOLDER_RE.finditer(text)] if "[redacted:" in low else [])
        found: list[tuple[int, int, str]] = []
        # str.lower never shortens a character, so equal length means equal offsets.
        aligned = len(low) == len(text)
        chosen: set[int] = set(self._free) if _DIGIT.search(text) else set()
        for n in self._needles:
            if n in low:
                chosen.update(self._by_needle[n])
        for i in sorted(chosen):
            rule = self._rules[i]
            if rule.gate is not None and not rule.gate(text):
                continue
            if rule.finder is not None:
                for start, end in rule.finder(text):
                    if start < end and taken.claim(start, end):
                        found.append((start, end, rule.type))
                continue
            if rule.lregex is not None and aligned:
                matches = rule.lregex.finditer(low)
            else:
                assert rule.regex is not None
                matches = rule.regex.finditer(text)
            for m in matches:
                start, end = m.span(rule.group)
                if start < 0 or start == end:
                    continue
                value = text[start:end]
                if rule.check is not None and not rule.check(value):
                    continue
                if rule.type in _MINTED_TYPES and placeholder_body(value):
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
