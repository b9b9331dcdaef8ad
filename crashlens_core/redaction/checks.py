"""Value checks for redaction rules: is this matched text really a secret or a person's data?

A regex finds the *shape*; these functions decide on the *value*: checksums that real numbers
carry and random digit runs do not (Luhn, IBAN mod-97, national id check digits), JWT headers
that decode to JSON, assigned values that are placeholders or template references rather than
credentials, and the Shannon entropy used by the generic token rule.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
from collections import Counter

__all__ = [
    "luhn", "card_ok", "iban_ok", "global_ip", "aws_key_ok", "basic_ok", "jwt_ok", "assigned_ok", "bare_ok",
    "is_reference", "is_path", "id_key_before", "find_cards", "entropy", "cpf_ok", "es_id_ok", "aadhaar_ok", "cn_id_ok", "it_cf_ok",
    "find_national_ids", "public_key_blob", "ulid_ok", "decoded_text", "placeholder_body", "is_code_ref", "unquoted_ok",
]

PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z0-9_]+#\d+\]")


def entropy(s: str) -> float:
    """Shannon entropy of ``s`` in bits per character."""
    n = len(s)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


# ---- checksummed numbers ----------------------------------------------------------------

def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_ok(raw: str) -> bool:
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
    return known and luhn(digits)


_CARD = re.compile(r"(?<![\w.\-:/])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?![\w]|[.\-:/]\d)")


def find_cards(text: str) -> list[tuple[int, int]]:
    """Spans of card numbers (issuer prefix and Luhn), except numbers under an id key: 64-bit
    trace/span ids printed in decimal are 18–20 digits and one in ten passes Luhn.

    >>> find_cards("card 4111 1111 1111 1111 span_id=4064743975168378427")
    [(5, 24)]
    """
    return [m.span() for m in _CARD.finditer(text) if card_ok(m.group(0)) and not id_key_before(text, m.start())]


def iban_ok(raw: str) -> bool:
    s = raw.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def cpf_ok(raw: str) -> bool:
    """Brazilian CPF (``123.456.789-09``): two mod-11 check digits."""
    d = [int(c) for c in raw if c.isdigit()]
    if len(d) != 11 or len(set(d)) == 1:
        return False
    for n in (9, 10):
        s = sum(d[i] * (n + 1 - i) for i in range(n)) * 10 % 11 % 10
        if s != d[n]:
            return False
    return True


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_id_ok(raw: str) -> bool:
    """Spanish DNI (``12345678Z``) or NIE (``X1234567L``): the letter is the number mod 23."""
    s = raw.replace("-", "").upper()
    lead = {"X": "0", "Y": "1", "Z": "2"}.get(s[0])
    num = (lead + s[1:-1]) if lead else s[:-1]
    return num.isdigit() and len(num) == 8 and _DNI_LETTERS[int(num) % 23] == s[-1]


def _verhoeff_tables() -> tuple[list[list[int]], list[list[int]]]:
    # The dihedral group D5 multiplication table and the position permutation of Verhoeff's scheme.
    d = [[0] * 10 for _ in range(10)]
    for i in range(10):
        for j in range(10):
            if i < 5 and j < 5:
                d[i][j] = (i + j) % 5
            elif i < 5:
                d[i][j] = (i + (j - 5)) % 5 + 5
            elif j < 5:
                d[i][j] = ((i - 5) - j) % 5 + 5
            else:
                d[i][j] = ((i - 5) - (j - 5)) % 5
    p = [list(range(10)), [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]]
    for k in range(2, 8):
        p.append([p[1][p[k - 1][j]] for j in range(10)])
    return d, p


_VD, _VP = _verhoeff_tables()


def aadhaar_ok(raw: str) -> bool:
    """Indian Aadhaar (``2345 6789 0123``): 12 digits, first 2–9, Verhoeff check digit."""
    digits = [int(c) for c in raw if c.isdigit()]
    if len(digits) != 12 or digits[0] < 2:
        return False
    c = 0
    for i, dgt in enumerate(reversed(digits)):
        c = _VD[c][_VP[i % 8][dgt]]
    return c == 0


def cn_id_ok(raw: str) -> bool:
    """Chinese resident identity number: 17 digits (with a birth date) and an ISO 7064 mod 11-2 check."""
    s = raw.upper()
    if len(s) != 18 or not s[:17].isdigit():
        return False
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(s[:17], weights)) % 11]
    return check == s[17]


_CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]


def it_cf_ok(raw: str) -> bool:
    """Italian codice fiscale (16 characters): the last letter is a check over the first 15."""
    s = raw.upper()
    if len(s) != 16:
        return False
    total = 0
    for i, ch in enumerate(s[:15]):
        v = int(ch) if ch.isdigit() else ord(ch) - 65
        total += _CF_ODD[v] if i % 2 == 0 else v
    return chr(65 + total % 26) == s[15]


# ---- network and vendor values ------------------------------------------------------------

def global_ip(raw: str) -> bool:
    try:
        addr = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return False
    # Private, loopback, link-local and documentation addresses identify no person.
    return addr.is_global and not addr.is_multicast


def aws_key_ok(raw: str) -> bool:
    return len(set(raw[4:])) >= 4  # AKIAXXXXXXXXXXXXXXXX and friends are placeholders


_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")


def placeholder_body(raw: str, symbols: int = 3) -> bool:
    """A value's body written as a placeholder: its longest letters-and-digits run (the random
    part; a vendor's prefix is shorter) uses at most 3 symbols or is three quarters one symbol
    (``ghp_xxxx…``, ``AIzaXXXX…``, ``xoxb-0000-…-xxxx``). Random bodies of 8+ characters never do.
    (Sequences such as ``12345678ABCDEFGH…`` are not judged placeholders: upstream rule tests
    use them as stand-ins for real keys, and a key's place in a text is what matters.) Values a
    person chooses (passwords) are judged with ``symbols=1``: only a run that is mostly one symbol.

    >>> placeholder_body("sk-proj-XXXXXXXXXXXXXXXXXXXX"), placeholder_body("sk-proj-Xq3vT9kLm2Pz8RwY4nB6")
    (True, False)
    """
    runs = _ALNUM_RUN.findall(raw)
    if not runs:
        return False
    longest = max(runs, key=len)
    n = len(longest)
    if n < 8:
        return False
    return len(set(longest)) <= symbols or Counter(longest).most_common(1)[0][1] >= 0.75 * n


def basic_ok(raw: str) -> bool:
    """Base64 of ``user:password`` (HTTP Basic, a Docker config ``auth``): printable text with a
    colon after a non-empty user. Random bytes decode to unprintable ones, so chance cannot pass."""
    try:
        decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return decoded.find(":") > 0 and decoded.isprintable()


def _b64url(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return b""


def jwt_ok(token: str) -> bool:
    """A JWT: ``header.payload[.signature]``, the header base64url of a JSON object naming
    ``alg`` or ``typ`` (RFC 7519 §5, RFC 7515 §4). A header cut short or carrying odd bytes
    still counts when the key names are readable: truncated tokens in logs are still tokens."""
    parts = token.split(".")
    if len(parts) < 2 or not parts[1]:
        return False
    head = _b64url(parts[0][: len(parts[0]) - len(parts[0]) % 4] or parts[0])
    try:
        obj = json.loads(head)
        if isinstance(obj, dict) and ("alg" in obj or "typ" in obj):
            return True
    except ValueError:
        pass
    return b'"alg"' in head or b'"typ"' in head


# ---- public values that look random ------------------------------------------------------

_SSH_ALGO = re.compile(rb"(?:ssh|ecdsa|sk)-[a-z0-9@.\-]{2,60}")


def _der_len(b: bytes, i: int) -> tuple[int, int] | None:
    """(length, offset of the content) of the DER element whose length byte is at ``i``."""
    if i >= len(b):
        return None
    first = b[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if not 1 <= n <= 3 or i + 1 + n > len(b):
        return None
    return int.from_bytes(b[i + 1:i + 1 + n], "big"), i + 1 + n


def public_key_blob(raw: str) -> bool:
    """Base64 of a *public* key: the OpenSSH wire format (a length-prefixed algorithm name such
    as ``ssh-ed25519``, what ``authorized_keys`` and ``known_hosts`` hold) or an X.509
    SubjectPublicKeyInfo (``SEQUENCE { SEQUENCE { OID … }, BIT STRING }``, the body of a
    ``PUBLIC KEY`` PEM). Public keys are published by design; private key structures start with
    an INTEGER version (PKCS#1, PKCS#8) or wrap an OCTET STRING (encrypted PKCS#8), so they fail.

    >>> public_key_blob("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
    True
    """
    body = raw.rstrip("=")
    if len(body) < 16:
        return False
    try:
        b = base64.b64decode(body[: len(body) - len(body) % 4], validate=True)
    except (binascii.Error, ValueError):
        return False
    if b[:3] == b"\x00\x00\x00" and 4 <= b[3] <= 64:
        return _SSH_ALGO.fullmatch(b[4:4 + b[3]]) is not None
    if len(b) < 8 or b[0] != 0x30:
        return False
    outer = _der_len(b, 1)
    if outer is None or outer[1] >= len(b) or b[outer[1]] != 0x30:
        return False
    alg = _der_len(b, outer[1] + 1)
    if alg is None or alg[1] >= len(b) or b[alg[1]] != 0x06:  # AlgorithmIdentifier starts with its OID
        return False
    after = alg[1] + alg[0]
    # A truncated blob that ends inside the AlgorithmIdentifier is judged by what it shows.
    return after >= len(b) or b[after] == 0x03


_B64_VALUE = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9_\-]{16,}={0,2}")
_WORD = re.compile(r"[A-Za-z]{2,}")


def decoded_text(raw: str) -> str | None:
    """The text a base64 / base64url value encodes, when it encodes readable text: a JSON
    object or array, or prose (3+ words, 2+ spaces). None for anything else, random bytes
    included, and for short text without spaces (a password, ``user:password``): those are
    judged as they stand. A value cut short is decoded as far as it goes.

    >>> decoded_text("eyJpZCI6NDIsInRzIjoxNzE1NjgwMDAwfQ"), decoded_text("UyFCXCpkJHpEc2I9")
    ('{"id":42,"ts":1715680000}', None)
    """
    if not _B64_VALUE.fullmatch(raw):
        return None
    body = raw.rstrip("=")
    body = body[: len(body) - len(body) % 4] if len(body) % 4 == 1 else body
    try:
        data = (base64.urlsafe_b64decode if ("-" in body or "_" in body) else base64.b64decode)(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    text = ""
    for cut in (0, 1, 2, 3):  # a value cut short may end inside a UTF-8 sequence
        try:
            text = data[: len(data) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    if not text or not text.replace("\n", " ").replace("\t", " ").isprintable():
        return None
    if text[0] in "{[" or (text.count(" ") >= 2 and len(_WORD.findall(text)) >= 3):
        return text
    return None


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
# ULIDs minted between these instants (ms since 1970: 2010-01-01 and 2050-01-01).
_ULID_FROM, _ULID_TO = 1262304000000, 2524608000000


def ulid_ok(raw: str) -> bool:
    """A ULID (26 Crockford base32 characters, the first 10 a millisecond timestamp): a
    sortable record id, not a key. Random base32 rarely decodes to a plausible instant.

    >>> ulid_ok("01ARZ3NDEKTSV4RRFFQ69G5FAV"), ulid_ok("Z1ARZ3NDEKTSV4RRFFQ69G5FAV")
    (True, False)
    """
    if not _ULID.fullmatch(raw):
        return False
    ms = 0
    for c in raw[:10]:
        ms = ms * 32 + _CROCKFORD.index(c)
    return _ULID_FROM <= ms <= _ULID_TO


# A value under a key that names an identifier (request_id=, "traceId":, X-Correlation-ID:,
# x-amz-id-2:) is meant to be shared for correlation, and one under a key naming a digest (hash,
# checksum, etag, integrity, sha256…, and the ``h1:``/``zh:`` hash labels of go.sum and Terraform
# lock files) is a content hash, however random either looks; so is the payload of a data: URI
# (";base64,"), and a pagination cursor (cursor=, page_token, continuation token), which names a
# position in a listing and grants nothing. The generic rule leaves them. A weak ETag keeps its
# ``W/"`` prefix.
_ID_KEY_BEFORE = re.compile(
    r"(?:(?:(?:(?<![A-Za-z0-9])(?:id|ID|Id)|[_.\-](?:id|ID|Id)|[a-z0-9](?:Id|ID))(?:-\d)?"
    r"|(?i:uuid|guid|hash|digest|checksum|etag|fingerprint|integrity|sha\d*|md5|cursor|page[_\-]?token|continuation[_\-]?token)"
    r"|(?<![A-Za-z0-9])(?:h1|zh))[\"']?[ \t]*(?::=|=|:)[ \t]*(?:\\?[\"'])?(?:W/\\?[\"'])?"
    r"|;base64,)$")


def id_key_before(text: str, start: int) -> bool:
    """True when the value at ``start`` sits under a key naming an identifier or a digest."""
    return _ID_KEY_BEFORE.search(text, max(0, start - 48), start) is not None


# ---- assigned values ----------------------------------------------------------------------

_PLACEHOLDER_VALUE = re.compile(
    r"""^(?:
        [x*#.\-_•?]+ | <[^>]*> | \$\{[^}]*\} | \$\(?[A-Za-z_][A-Za-z0-9_]*\)? | \{\{.*\}\} | %[sd] | \(?null\)?
      | (?i:none|nil|null|undefined|true|false|yes|no|on|off|ok|n/?a|empty|unset|missing|required|optional|invalid|
            expired|hidden|masked|redacted|changeme|change_me|secret|password|token|string|str|bool|int)
      | [a-z]*(?:fake|dummy|example|sample|placeholder|changeme|your|test)[a-z_]*
      | (?:[A-Z0-9]+_)*(?:YOUR|EXAMPLE|DUMMY|FAKE|SAMPLE|PLACEHOLDER|CHANGEME)_[A-Z0-9_]+
      | (?i:bearer|basic|digest)
      | [A-Z][A-Z0-9_]*_(?:ID|NAME|VAR|ENV|FILE|PATH)
    )$""",
    re.X,
)
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
# A value that refers to a secret kept elsewhere rather than holding one: shell and template
# substitutions (${X}, $(cmd), `cmd`, {{ x }}, {X}), Windows %VAR%, <angle placeholders> (docs
# and templates write "<your token>", "<TOKEN>"; a minted key never starts with '<').
_REFERENCE = re.compile(r"^(?:\$\{|\$\(|`|\{|%[A-Za-z_][A-Za-z0-9_]*%|<|\$[A-Za-z_])")


def is_reference(v: str) -> bool:
    return bool(_REFERENCE.match(v))


# A file path says where a secret is kept (token: /var/run/secrets/…/token, private_key:
# ./certs/key.pem), not the secret: two or more segments, one of them a lowercase word. Base64
# key material holds '/' too, but its segments are random mixed-case runs, not words.
_PATH_VALUE = re.compile(r"^(?:~|\.{1,2}|[A-Za-z]:)?(?:[/\\][\w.\-]+){2,}[/\\]?$")
_PATH_WORD = re.compile(r"[/\\.][a-z]{3,}(?=[/\\.\-_]|$)")


# File names with the extensions of key, certificate and config files.
_KEY_FILE = re.compile(r"[\w\-.]+\.(?:key|pem|crt|cer|csr|p12|pfx|jks|der|pub|asc|gpg|json|txt|ya?ml|env|conf|cfg|ini|properties)")


def is_path(v: str) -> bool:
    return bool(_PATH_VALUE.match(v) and _PATH_WORD.search(v))


def assigned_ok(raw: str) -> bool:
    """An assigned secret value (quoted): anything but an empty, placeholder, reference or path value."""
    v = raw.strip()
    return (bool(v) and not _PLACEHOLDER_VALUE.match(v) and not PLACEHOLDER_RE.fullmatch(v) and not is_reference(v)
            and not is_path(v) and not placeholder_body(v, symbols=1))  # a person may choose aaaa1111bbbb


# Unquoted, a value that is an expression of code or config says where the secret comes from,
# not what it is: a call or an index on a dotted name (System.getenv(, os.environ[, getpass.getpass()),
# a call left open where the value's quote begins or closed empty (get_random_secret_key(, file(),
# an attribute chain that ends in the field it reads (settings.DB_PASSWORD,
# aws_db_instance.main.password, random_password.db.result), a YAML intrinsic tag (!Ref, !GetAtt,
# Home Assistant's !secret). A dotted passphrase a person chose (hello.shadow.freedom) names no
# field at its end, so it stays a password.
_CODE_CALL = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+[(\[].*|[A-Za-z_$][\w$]{2,}[(\[][)\]]?")
_ATTR_CHAIN = re.compile(
    r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*\."
    r"(?:(?:[a-z]+_)*(?:password|passwd|pass|secret|token|key|credentials?|pwd)(?:_[a-z]+)*|result|value|id|[A-Z][A-Z0-9]*_[A-Z0-9_]+|[A-Z][a-z]+[A-Z]\w*)")
_YAML_TAG = re.compile(r"!(?:Ref|GetAtt|Sub|Join|ImportValue|FindInMap|Select|Split|If|Base64|GetAZs|Cidr|Equals|Not|And|Or|"
                       r"secret|env|env_var|include|vault|reference)")


def is_code_ref(v: str) -> bool:
    """True when an unquoted value is a code or config expression, not a literal.

    >>> is_code_ref("os.environ["), is_code_ref("settings.DB_PASSWORD"), is_code_ref("hello.shadow.freedom")
    (True, True, False)
    """
    return bool(_CODE_CALL.fullmatch(v) or _ATTR_CHAIN.fullmatch(v) or _YAML_TAG.fullmatch(v))


def unquoted_ok(raw: str) -> bool:
    """An unquoted value that may be anything a person chose (a connection string's password):
    not a placeholder, reference or path, and not a code expression."""
    return assigned_ok(raw) and not is_code_ref(raw.strip())


def bare_ok(raw: str) -> bool:
    """An unquoted assigned value: also not a plain lowercase word or a variable reference."""
    v = raw.strip().rstrip(",;")
    if not unquoted_ok(v):
        return False
    if re.fullmatch(r"[a-z]+", v) and len(v) < 12:  # "password: incorrect", "token=expired"
        return False
    if re.fullmatch(r"\d{1,6}", v):  # counts and timeouts next to a token/secret key name
        return False
    if _KEY_FILE.fullmatch(v):  # --key server.key, -password-file secrets.env: where it is kept
        return False
    return not (_VAR_NAME.match(v) and not re.search(r"\d", v) and v != v.lower() and v != v.upper())


# National ids, only in formats that carry a check digit (a bare digit run is an id or a count),
# in one scan. The pattern starts with a character class and checks the left boundary just
# after it, so re skips ahead by that class instead of trying a look-behind at every position.
# An empty named group marks which format matched.
_NATIONAL_ID = re.compile(
    r"[\dA-Z](?<![A-Za-z0-9.\-][\dA-Z])(?:"
    r"(?<=\d)\d\d\.\d{3}\.\d{3}-\d{2}(?P<cpf>)"
    r"|(?<=\d)\d{5}(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?P<cn>)"
    r"|(?<=[\dXYZ])\d{7}-?[A-Z](?P<es>)"
    r"|(?<=[2-9])\d{3} \d{4} \d{4}(?P<aadhaar>)"
    r"|(?<=[A-Z])[A-Z]{5}\d\d[A-EHLMPR-T]\d\d[A-Z]\d{3}[A-Z](?P<it>)"
    r")(?![A-Za-z0-9\-]|[. ]\d)"
)
_NATIONAL_CHECKS = {"cpf": cpf_ok, "cn": cn_id_ok, "es": es_id_ok, "aadhaar": aadhaar_ok, "it": it_cf_ok}


def find_national_ids(text: str) -> list[tuple[int, int]]:
    """Spans of national id numbers whose check digit is right: Brazilian CPF, Chinese resident
    id, Spanish DNI/NIE, Indian Aadhaar (grouped), Italian codice fiscale.

    >>> find_national_ids("cpf 529.982.247-25, build 1234567890")
    [(4, 18)]
    """
    spans = []
    for m in _NATIONAL_ID.finditer(text):
        for name, check in _NATIONAL_CHECKS.items():
            if m.group(name) is not None:
                if check(m.group(0)):
                    spans.append(m.span())
                break
    return spans
