r"""Generic detection of credential-shaped tokens, for key formats no rule lists.

Vendors mint API keys the same way: a short readable prefix (``aio_``, ``dp.ct.``, ``sgp_``,
``PMAK-``…) and a body drawn at random from an alphabet of 36–64 symbols. Identifiers in logs
are different: words (``NSOperatingSystemVersion``), digit runs (``blk_-889827…``), single-case
hex (trace ids, commits, content hashes), UUIDs (groups of at most 12), dotted names, paths.
The rule here keys on the one property random bodies have and those do not: *short runs*.
Cut a string into runs of one character class (``[A-Z]?[a-z]+``, ``[A-Z]+``, ``\d+``): a uniformly
random base62 body gives runs of 1.9 characters on average (95% of 20–40 character bodies stay
under 2.5); words and camelCase identifiers give runs of whole words, 3.6–9
(``Log4jLoggerAdapter`` 3.6, ``RetryUpToMaximumCountWithFixedSleep`` 4.4). A single-case base36
body (2.4 on average, but with a long tail) is told from a name with a number by its scattered
digits instead. Entropy backs this up: a random string of n characters over an alphabet of k
carries close to log2(min(n, k)) bits per character, written text much less.

:func:`find_tokens` yields ``(start, end)`` spans of tokens judged random. The thresholds are
module constants set from simulated uniform random strings (percentiles quoted beside them)
and checked on the tune half of ``bench/redact.py``, never on its report half.
"""

from __future__ import annotations

import math
import re
from typing import Iterator

from .checks import assigned_ok, bare_ok, basic_ok, entropy, id_key_before, public_key_blob, ulid_ok

__all__ = [
    "find_tokens", "is_random_token", "keyed_value_ok", "labelled_hex", "mean_run_length", "cookie_values",
    "user_password_flags", "webhook_secrets", "assigned_hex",
]

# A token run: the characters of base64/base64url, dots and tildes (prefix separators). ':' '='
# '@' '?' '&' and quotes end a run, so key=value, user@host and URL queries split at their
# delimiters; trailing '=' padding stays with the token.
_RUN = re.compile(r"[A-Za-z0-9_\-+/.~]{12,}={0,3}")
_PART_SPLIT = re.compile(r"[._\-~]")
# A dotted run whose last part is a short lowercase word is a host or file name
# (``x.ec2.internal``, ``…-f0eb1acf0da8.png``): names with content hashes, not credentials.
_NAME_TAIL = re.compile(r"\.[a-z][a-z0-9]{1,4}$")
# Named digests (sha256-…, md5_…) are content hashes by their own label.
_DIGEST_PREFIX = re.compile(r"^(?i:sha(?:1|224|256|384|512)?|md5|blake2[bs]?|crc32|xxh\d*)[-_:]")
_HEX = frozenset("0123456789abcdefABCDEF")
# An IPFS CIDv0 is the base58 of a SHA-256 multihash (0x12 0x20 …): a content address, i.e. a digest.
_IPFS_CID = re.compile(r"Qm[1-9A-HJ-NP-Za-km-z]{44}")
_EXAMPLE_LABEL = re.compile(r"(?i:foo|bar|baz|qux|quux|example|dummy|fake|sample|placeholder)[._\-~]")

# Thresholds (tuned on the tune half only; see the module docstring for why these shapes).
MIN_MIXED = 20        # shortest mixed-case body judged (truffleHog's 20: shorter random ids abound)
MAX_MIXED_RUN = 3.0   # ~p99 of random base62 bodies of 24+ characters, under camelCase's 3.6
MIN_PADDED = 16       # '=' padding says "encoded value": judged from 16 (12 bytes encoded)
KEYED_MAX_RUN = 4.0   # for values under a weak key name, see keyed_value_ok
MIN_SINGLE = 24       # single-case letters+digits are commoner in ids: ask for a longer body
MAX_SINGLE_RUN = 6.0  # above the p99 of random base36 bodies of 24+ characters
# Share of log2(min(n, k)) bits per character a body must reach. Simulated uniform random
# bodies of 20–40 characters reach it 99% of the time (their 1st percentile is 0.78 of the
# bound for base36, 0.84 for base62); the run-length test, not this one, separates words.
ENTROPY_MARGIN = 0.75


_DIGIT_RUNS = re.compile(r"\d+")
_DIGIT = re.compile(r"\d")
_RUNS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def mean_run_length(s: str) -> float:
    """Mean length of the one-class runs (a capitalised word, capitals, digits, lowercase) of ``s``."""
    runs = len(_RUNS.findall(s))
    return len(s) / runs if runs else float(len(s))


def _entropy_ok(body: str, alphabet: int) -> bool:
    return entropy(body) >= ENTROPY_MARGIN * math.log2(min(len(body), alphabet))


def is_random_token(body: str, padded: bool = False) -> bool:
    """True when ``body`` (one part, no separators) looks drawn at random, not written.

    ``padded``: the token ended in base64 ``=`` padding, which only encoders write; an encoded
    value is judged from 16 characters on (a 12-byte secret encodes to 16).
    """
    alnum = body.replace("+", "").replace("/", "").rstrip("=")
    n = len(alnum)
    if n < 12 or not alnum.isascii():
        return False
    has_d = any(c.isdigit() for c in alnum)
    has_u = any(c.isupper() for c in alnum)
    has_l = any(c.islower() for c in alnum)
    if has_u and has_l and (has_d or n >= 24):
        if n >= (MIN_PADDED if padded else MIN_MIXED) and mean_run_length(alnum) <= MAX_MIXED_RUN and _entropy_ok(alnum, 62):
            return True
        # A label in one case glued to a body in the other (``EZAK`` + lowercase base36): vendors
        # mark a single-case key with a readable prefix, which makes the whole look mixed-case
        # while the body runs like base36. The body is judged on its own, as single-case.
        label = _CASE_LABEL.match(alnum)
        return label is not None and _single_case_random(alnum[label.end():])
    if has_d and (has_u != has_l):
        return _single_case_random(alnum)
    return False


# A short label in one case, then only the other case and digits to the end.
_CASE_LABEL = re.compile(r"[A-Z]{2,8}(?=[a-z0-9]+$)|[a-z]{2,8}(?=[A-Z0-9]+$)")


def _single_case_random(alnum: str) -> bool:
    if all(c in _HEX for c in alnum):
        return False  # single-case hex: trace/span ids, commits, digests (labelled_hex reads labels)
    # Digits are 10 of 36 symbols, so a random body scatters them: 3+ separate digit runs
    # (written names with numbers have one or two: server01, application_1485248649253).
    return (len(alnum) >= MIN_SINGLE and mean_run_length(alnum) <= MAX_SINGLE_RUN and len(_DIGIT_RUNS.findall(alnum)) >= 3
            and _entropy_ok(alnum, 36))


# Lowercase hex, digits and separators only: trace/span ids, UUIDs, commits, numbers, dates.
# Deleting them leaves nothing, and the run is dropped before any closer (slower) look.
_PLAIN_ID = str.maketrans("", "", "0123456789abcdef-_.~/+=")


# ---- readable label + hex body (``pul-<hex40>``, ``PMAK-<hex24>-<hex34>``, ``<hex32>-us20``) ----
# Many vendors mint keys as hex (a random 128–256-bit number printed in base 16) and tell them
# apart by a readable label glued on. A *bare* single-case hex run is left alone: trace/span ids,
# commits and digests look exactly like that. The label is what changes the reading: ids are
# labelled by the kind of record they name, and a short list of such nouns is a general property
# of identifiers (a request, span, commit, container, block…), not of any vendor.
MIN_LABELLED_HEX = 32  # 128 bits: the shortest hex key vendors mint; shorter hex is ids and hashes
MAX_LABEL = 16         # vendor labels are short (``shippo_live``, ``FLWSECK_TEST``); slugs are long
_HEX_PART = re.compile(r"[0-9a-fA-F]{8,}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{8}")
_TITLE_WORD = re.compile(r"[A-Z][a-z]{2,}")
_LABEL_PART = re.compile(r"[A-Za-z][A-Za-z0-9]{0,11}")
_ID_NOUNS = frozenset("""
    id ids uid guid uuid req request requests trace span txn tx transaction evt event msg message job run task
    build commit sha rev revision ref git obj object file blob chunk block blk img image layer container
    docker cri containerd pod node cache etag hash digest checksum md5 fingerprint fp order cart user acct account cus customer
    org tenant project device correlation corr batch record row item doc page post version v
    """.split())
# A label that names a credential kind (``pat-…``, ``api-…``, ``sk-…``) makes even a UUID body a
# key: UUIDs are otherwise the default shape of record ids and stay unmasked (see find_tokens).
_CREDENTIAL_LABEL = re.compile(r"^(?:pat|pak|api|apikey|key|keys|token|tkn|tok|secret|sk|rk|auth|cred|creds|pwd|pass)$", re.I)
_UUID_BODY = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def labelled_hex(run: str) -> bool:
    """True when ``run`` is a short readable label joined to a random hex body of 128+ bits.

    >>> labelled_hex("pul-" + "3f9a0c1e7b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a"), labelled_hex("commit-" + "3f9a0c1e7b2d4f6a8c0e1b3d5f7a9c2e")
    (True, False)
    """
    if not _HEX_RUN.search(run):
        return False
    parts = _PART_SPLIT.split(run.rstrip("="))
    uuid = _UUID_BODY.search(run)
    if uuid:
        label = _PART_SPLIT.split(run[: uuid.start()].rstrip("._-~"))
        return any(_CREDENTIAL_LABEL.match(p) for p in label if p)
    if len(parts) == 1:
        # A label glued on (``dapi<hex32>``): letters, at least one outside a–f, then the hex.
        m = re.fullmatch(r"([A-Za-z]{2,8})([0-9a-fA-F]{32,})", run)
        if not m or not re.search(r"[g-zG-Z]", m.group(1)) or m.group(1).lower() in _ID_NOUNS:
            return False
        return _hex_random(m.group(2))
    hex_idx = [i for i, p in enumerate(parts) if _HEX_PART.fullmatch(p) and any(c.isdigit() for c in p)]
    if not hex_idx:
        return False
    lo, hi = hex_idx[0], hex_idx[-1]
    if hi - lo + 1 != len(hex_idx):
        return False  # hex and words interleaved: a composed name, not label + body
    body = "".join(parts[lo:hi + 1])
    labels = parts[:lo] + parts[hi + 1:]
    if len(body) < MIN_LABELLED_HEX or not labels or len(labels) > 3 or sum(map(len, labels)) > MAX_LABEL:
        return False
    if not all(_LABEL_PART.fullmatch(p) for p in labels):
        return False
    if any(p.lower() in _ID_NOUNS for p in labels):
        return False
    # A label after the body only as a shard/region code with a digit (``-us20``); a word after a
    # hash is a state or a kind (``<sha>-dirty``, ``<hash>-json``).
    if hi + 1 < len(parts) and not all(any(c.isdigit() for c in p) or len(p) == 1 for p in parts[hi + 1:]):
        return False
    return _hex_random(body)


def _hex_random(body: str) -> bool:
    # Single case only (mixed-case hex is not what a hex printer writes), and random: entropy near
    # log2(16) = 4 bits per character, with letters and digits both present.
    if body != body.lower() and body != body.upper():
        return False
    return any(c.isalpha() for c in body) and any(c.isdigit() for c in body) and _entropy_ok(body, 16)


def _judge(text: str, start: int, end: int, in_path: bool = False) -> Iterator[tuple[int, int]]:
    run = text[start:end]
    if not run.translate(_PLAIN_ID):
        return
    # One letter case and no digit: words, paths and names, never a random body (see is_random_token).
    if (run.islower() or run.isupper()) and not _DIGIT.search(run):
        return
    # A leading dot joins the token to what precedes it (``}.sig``, ``obj.attr``), not to its body.
    lead = len(run) - len(run.lstrip("."))
    stripped = run.rstrip(".-_~")[lead:]
    start += lead
    end = start + len(stripped)
    run = stripped
    if len(run) < 12:
        return
    # Record ids, content addresses and public keys of fixed formats look random but are meant to
    # be shared.
    if ulid_ok(run) or _IPFS_CID.fullmatch(run) or (run[:1] in "AM" and public_key_blob(run)):
        return
    # A metasyntactic or example word as the label (``foo_…``, ``example-…``) marks an
    # illustrative value in docs and tests; a minted key carries its vendor's label.
    if _EXAMPLE_LABEL.match(run):
        return
    # E-mail parts and hostnames belong to other rules.
    if (start and text[start - 1] == "@") or (end < len(text) and text[end] == "@"):
        return
    if _NAME_TAIL.search(run) or _DIGEST_PREFIX.match(run):
        return
    if "/" in run or "+" in run:
        # A URL or path starts with '/' here (the scheme's ':' ends a run); a '//' inside a run of
        # base64 is two slashes drawn at random, as likely as any other pair.
        if not _PART_SPLIT.search(run.rstrip("=")) and run[0] != "/":
            body = run.rstrip("=")
            if is_random_token(body, padded=body != run):
                yield start, end
            return
        # A path or URL: judge each segment on its own.
        pos = start
        for piece in re.split(r"([/+])", run):
            if len(piece) >= 12 and piece not in "/+":
                yield from _judge(text, pos, pos + len(piece), in_path=True)
            pos += len(piece)
        return
    parts = _PART_SPLIT.split(run.rstrip("="))
    body = max(parts, key=len)
    padded = run.endswith("=")
    if is_random_token(body, padded=padded and body == parts[-1]):
        yield start, end
    # base64url bodies hold '-' and '_' themselves (one in 32 characters): judge the body after
    # a readable prefix as one piece too (``nk_live_pdVolZsv…4-XXaZEj…``), when the tail is
    # mixed case, as base64url is. Single-case pieces joined by separators are names people and
    # orchestrators write: Kubernetes pods (``ts-basic-service-5dc8d4f9fd-llznp``: workload,
    # template hash, suffix), hosts, job ids (``Jetty_0_0_0_0_62267_mapreduce____.8n7xum``).
    elif len(parts) > 1:
        tail = "".join(parts[1:])
        mixed = tail != tail.lower() and tail != tail.upper()
        # Two or more parts that are capitalised words (``Planning-Notes-Team-<id>``) make the run
        # a title slug: vendor labels are written in one case (``nk_live``, ``FLWSECK_TEST``), and a
        # random base64url chunk is rarely exactly one capitalised word.
        wordy = sum(1 for p in parts[1:] if _TITLE_WORD.fullmatch(p)) >= 2
        if mixed and not wordy and is_random_token(tail, padded=padded):
            yield start, end
        # A URL path segment names a resource (a page slug ending in its hex id, an asset with a
        # content hash), so the label rule does not read paths.
        elif not in_path and labelled_hex(run):
            yield start, end
    elif not in_path and labelled_hex(run):
        yield start, end


def find_tokens(text: str) -> Iterator[tuple[int, int]]:
    """Spans of tokens in ``text`` that look like random key material.

    >>> list(find_tokens("key dp.ct.bAqhcVzrhy5cRHkOlNTc0Ve6w5NUDCpcutm8vGE9myi ok"))
    [(4, 53)]
    >>> list(find_tokens("trace 4bf92f3577b34da6a3ce929d0e0e4736 NSOperatingSystemVersion"))
    []
    """
    for m in _RUN.finditer(text):
        for start, end in _judge(text, m.start(), m.end()):
            if not id_key_before(text, start):
                yield start, end


_HEX_LITERAL = re.compile(r"0[xX][0-9a-fA-F]{1,16}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def keyed_value_ok(raw: str) -> bool:
    """A value under a *weak* key name (``key``, ``login``, ``api``, ``access_id``…) that is key
    material: a UUID, hex of 16+, or one token of 12+ letters and digits that runs like random
    text (see ``_keyed_random``). Ordinary values under such keys stay: ``cache_key=user:42``,
    ``key=orders-2024-05-14``, ``"key": "logs/2024/05/14/app.json"`` (an object path), ``api: v1``.

    >>> keyed_value_ok("3f2a1c9e-6b1d-4c2e-9f00-1a2b3c4d5e6f"), keyed_value_ok("logs/2024/05/14/app.json")
    (True, False)
    """
    v = raw.strip().strip("\"'")
    if len(v) < 8 or any(c.isspace() for c in v) or not assigned_ok(v):
        return False
    # A 0x literal of up to 64 bits is a machine number (an address, a counter, a session number
    # printed in hex), whatever key it sits under; minted keys are not written as C literals.
    if _HEX_LITERAL.fullmatch(v):
        return False
    if _UUID.fullmatch(v):
        return True
    # ``publicKey: MFkw…``, ``pubkey ssh-ed25519 AAAA…``: a public key is published by design.
    if public_key_blob(v):
        return False
    # Base64 of "user:password" (a Basic credential, a Docker config "auth") is one by its content.
    if basic_ok(v):
        return True
    body = v.rstrip("=")
    if "/" in body and (_PART_SPLIT.search(body) or body.startswith("/")):
        return False  # a path: key material in base64 has '/' but no '.', '-' or '_'
    parts = _PART_SPLIT.split(body)
    longest = max(parts, key=len)
    if len(longest) >= 16 and all(c in _HEX for c in longest) and any(c.isalpha() for c in longest):
        return True
    joined = "".join(parts)
    candidates = [longest] + ([joined] if min(map(len, parts)) >= 4 else [])
    return any(_keyed_random(c.replace("+", "").replace("/", "")) or _keyed_long(c) for c in candidates)


def _keyed_long(alnum: str) -> bool:
    # 32+ letters and digits in one unbroken run, the digits in 3+ separate groups, under a
    # credential key name: the length of minted key material (128+ bits). Names people write
    # under such keys are shorter or have separators (cache_key=user:42:cart, key=orders-2024-05).
    # Placeholder-like runs (12345678ABCDEFGH…) are caught too; they stand where a key goes.
    if len(alnum) < 32 or not alnum.isalnum() or not alnum.isascii():
        return False
    return len(_DIGIT_RUNS.findall(alnum)) >= 3 and len(re.findall(r"[A-Za-z]+", alnum)) >= 2


def _keyed_random(alnum: str) -> bool:
    # Short values (12–19 characters) vary a lot in run length by chance, and the key name has
    # already said "credential": letters and digits mixed, runs under 4 on average (camelCase
    # words run 4–9), entropy near that of random text.
    if len(alnum) < 12 or not alnum.isalnum() or not alnum.isascii():
        return False
    if not any(c.isdigit() for c in alnum) or not any(c.isalpha() for c in alnum):
        return False
    return mean_run_length(alnum) <= KEYED_MAX_RUN and _entropy_ok(alnum, 62 if alnum != alnum.lower() else 36)


_COOKIE_HEADER = re.compile(r"(?i:\b(?:set-)?cookie)[\"']?[ \t]*[:=][ \t]*")
_COOKIE_PAIR = re.compile(r"[ \t]*([^=;\s\"']+)=([^;\s\"']*)")
# Set-Cookie attributes describe the cookie; they are not its value.
_COOKIE_ATTRS = frozenset({"path", "domain", "expires", "max-age", "samesite", "priority", "version", "comment"})


def cookie_values(text: str) -> Iterator[tuple[int, int]]:
    """Spans of cookie values in ``Cookie:`` / ``Set-Cookie:`` headers: a cookie value is a
    session credential (whoever replays it is logged in), whatever its format.

    >>> t = "Cookie: sessionid=abc123def456; theme=dark"
    >>> [t[s:e] for s, e in cookie_values(t)]
    ['abc123def456']
    """
    for h in _COOKIE_HEADER.finditer(text):
        pos = h.end()
        while True:
            m = _COOKIE_PAIR.match(text, pos)
            if not m:
                break
            name, value = m.group(1), m.group(2)
            # Short values are flags and preferences (theme=dark, lang=en, consent=1).
            if name.lower() not in _COOKIE_ATTRS and len(value) >= 8 and not value.isalpha():
                yield m.start(2), m.end(2)
            pos = m.end()
            if pos < len(text) and text[pos] == ";":
                pos += 1
            else:
                break


# Login commands take the user and the password as a pair of short options (mysql -u root -pS3cr3t,
# docker login -u ci -p …): where a -u/--user option is given, -p carries the password. -p means a
# port, a parent dir or a project elsewhere (docker run -p 8080:80, mkdir -p /x): numbers, paths
# and plain words are left (bare_ok).
_USER_OPTION = re.compile(r"(?<!\S)(?:-u|-U|--user(?:name)?)(?:[ =]|(?=[A-Za-z]))")
_P_OPTION = re.compile(r"(?<!\S)-p(?:[ \t]+)?([\"']?)([^\s\"'\-][^\s\"']{3,255})\1(?!\S)")
_PORTISH = re.compile(r"[\d:.\-/a-z]*\d[\d:.\-/]*(?:/(?:tcp|udp))?")


def user_password_flags(text: str) -> Iterator[tuple[int, int]]:
    """Spans of ``-p`` option values on a command line that also gives ``-u``/``--user``.

    >>> t = "mysql -u root -pS3cr3tPw shop"
    >>> [t[s:e] for s, e in user_password_flags(t)]
    ['S3cr3tPw']
    """
    if not _USER_OPTION.search(text):
        return
    for m in _P_OPTION.finditer(text):
        v = m.group(2)
        if bare_ok(v) and not _PORTISH.fullmatch(v):
            yield m.start(2), m.end(2)


# A webhook URL is its own credential (whoever has it can post): the random parts of its path
# (hex of 16+, UUIDs, random tokens) are the secret, whatever service minted it.
_HOOK_URL = re.compile(r"(?i:https?://)[^\s\"'<>]*(?i:hook)[^\s\"'<>]*")
_URL_PIECE = re.compile(r"[^/@?#&=]+")


def webhook_secrets(text: str) -> Iterator[tuple[int, int]]:
    """Spans of the random path parts of webhook URLs.

    >>> t = "post https://chat.example/hooks/9f8e7d6c5b4a39281706aabbccdd0011 ok"
    >>> [t[s:e] for s, e in webhook_secrets(t)]
    ['9f8e7d6c5b4a39281706aabbccdd0011']
    """
    for url in _HOOK_URL.finditer(text):
        host_end = text.find("/", url.start() + url.group(0).index("//") + 2, url.end())
        if host_end < 0:
            continue
        for m in _URL_PIECE.finditer(text, host_end, url.end()):
            piece = m.group(0)
            if len(piece) < 16:
                continue
            hexish = all(c in _HEX or c == "-" for c in piece) and any(c.isdigit() for c in piece) and any(c.isalpha() for c in piece)
            if hexish or is_random_token(piece.replace("-", "").replace("_", "")):
                yield m.start(), m.end()


# A quoted UUID or 128+-bit hex assigned to a named setting (``postmark: "…"``, ``ACME = '…'``) is a
# key unless the name says what kind of record or content it identifies. Bare UUIDs and hex stay
# (request, trace and span ids, commits, digests), and so do values under identifier names:
# ``*Id``, ``*_uuid``, record nouns (_ID_NOUNS) and digest/version words.
_ASSIGNED_HEX = re.compile(
    r"(?P<k>[A-Za-z_][A-Za-z0-9_.\-]{0,60})[\"']?[ \t]*(?::=|=>|=|:)[ \t]*(?P<q>[\"'])"
    r"(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32,128})(?P=q)")
_ASSIGNMENT = re.compile(r"[A-Za-z_][\w.\-]*[\"']?[ \t]*(?::=|=>|=|:)(?!//)")
_HEX_QUOTE = re.compile(r"[\"'][0-9a-fA-F]{8}")
_KEY_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_NOT_A_KEY = re.compile(r"(?i:hash|sha\d*|md5|digest|checksum|commit|version|etag|fingerprint|integrity|nonce|salt|revision)")


_BARE_HEX_LINE = re.compile(
    r"[ \t]*(?:export[ \t]+|-[ \t]+|set[ \t]+)?(?P<k>[A-Za-z_][A-Za-z0-9_.\-]{0,60})[ \t]*(?:=|:)[ \t]*"
    r"(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32,128})[ \t]*")


def _names_a_key(name: str) -> bool:
    """The setting's name does not say it identifies a record or some content (see assigned_hex)."""
    words = [w.lower() for w in _KEY_WORDS.findall(name)]
    return bool(words) and words[-1] not in _ID_NOUNS and not words[-1].endswith("id") and not _NOT_A_KEY.search(name)


def assigned_hex(text: str) -> Iterator[tuple[int, int]]:
    """Spans of quoted UUID / hex values assigned to names that do not name an identifier, when
    that setting is the only one on its line (a line of several key/values is data, not a secret).

    >>> t = 'acme: "3f2a1c9e-6b1d-4c2e-9f00-1a2b3c4d5e6f"'
    >>> [t[s:e] for s, e in assigned_hex(t)]
    ['3f2a1c9e-6b1d-4c2e-9f00-1a2b3c4d5e6f']
    >>> list(assigned_hex('requestId: "3f2a1c9e-6b1d-4c2e-9f00-1a2b3c4d5e6f"'))
    []
    """
    if not _HEX_QUOTE.search(text):
        bare = _BARE_HEX_LINE.fullmatch(text)
        # An env file or shell line that is one unquoted setting (``ZORP=<hex>``, ``export X=…``,
        # ``- X=…`` in a compose list) is configuration too, read the same way.
        if bare and _names_a_key(bare.group("k")) and ("-" in bare.group("v") or _hex_random(bare.group("v"))):
            yield bare.start("v"), bare.end("v")
        return
    # One setting per line is configuration or source; a line with several key/value pairs is a
    # record (a JSON log event), whose UUIDs and hex values name the things the event is about.
    if len(_ASSIGNMENT.findall(text)) > 1:
        return
    for m in _ASSIGNED_HEX.finditer(text):
        if not _names_a_key(m.group("k")):
            continue
        v = m.group("v")
        if "-" in v or _hex_random(v):
            yield m.start("v"), m.end("v")
