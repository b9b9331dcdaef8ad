"""Redaction rules read from a value's structure: public keys (OpenSSH wire format, X.509
SubjectPublicKeyInfo) and ULIDs stay, private key structures do not pass for public ones; a
one-case label on a body of the other case is a key; example labels (``foo_…``) stay; builder
calls and key names with an encoding suffix carry secrets. Every value is made up here (seeded
random bytes, invented vendor labels), never a benchmark line."""

from __future__ import annotations

import base64
import random
import string
import time

import pytest

from crashlens_core.redact import PLACEHOLDER_RE, redact_text
from crashlens_core.redaction.checks import public_key_blob, ulid_ok
from crashlens_core.redaction.tokens import is_random_token

_rng = random.Random(2014)
B62 = string.ascii_letters + string.digits
LOWER36 = string.ascii_lowercase + string.digits
UPPER36 = string.ascii_uppercase + string.digits


def _r(n: int, alphabet: str = B62) -> str:
    # Letters and digits both present, as in every minted key body of 20+ characters.
    while True:
        s = "".join(_rng.choice(alphabet) for _ in range(n))
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
            return s


def _masked(line: str, value: str) -> bool:
    out = redact_text(line)
    return value not in out and bool(PLACEHOLDER_RE.search(out))


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    head = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + body


_EC_OIDS = _der(0x06, bytes.fromhex("2a8648ce3d0201")) + _der(0x06, bytes.fromhex("2a8648ce3d030107"))


def _ssh_blob(algo: bytes, key_len: int) -> str:
    body = len(algo).to_bytes(4, "big") + algo + key_len.to_bytes(4, "big") + _rng.randbytes(key_len)
    return base64.b64encode(body).decode()


def _spki() -> str:
    return base64.b64encode(_der(0x30, _der(0x30, _EC_OIDS) + _der(0x03, b"\x00\x04" + _rng.randbytes(64)))).decode()


def _pkcs8() -> str:
    inner = _der(0x02, b"\x00") + _der(0x30, _EC_OIDS) + _der(0x04, _rng.randbytes(48))
    return base64.b64encode(_der(0x30, inner)).decode()


def _encrypted_pkcs8() -> str:
    return base64.b64encode(_der(0x30, _der(0x30, _EC_OIDS) + _der(0x04, _rng.randbytes(64)))).decode()


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(ms: int) -> str:
    n = (ms << 80) | _rng.getrandbits(80)
    return "".join(_CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(26)))


# ---- public values that look random stay ---------------------------------------------------

SSH_ED, SSH_RSA, SPKI = _ssh_blob(b"ssh-ed25519", 32), _ssh_blob(b"ssh-rsa", 64), _spki()
ULID = _ulid(int(time.mktime((2024, 5, 14, 10, 0, 0, 0, 0, 0)) * 1000))


@pytest.mark.parametrize("line,value", [
    (f"ssh-ed25519 {SSH_ED} deploy@build-7", SSH_ED),
    (f"Accepted publickey for git: ssh-rsa {SSH_RSA}", SSH_RSA),
    (f"ecdsa-sha2-nistp256 {_ssh_blob(b'ecdsa-sha2-nistp256', 65)} host", None),
    (f"publicKey: {SPKI}", SPKI),
    (f'"signing_pub": "{SPKI}"', SPKI),
    (f"event {ULID} processed in 12ms", ULID),
    (f"enqueued job {_ulid(int(time.mktime((2026, 11, 30, 9, 0, 0, 0, 0, 0)) * 1000))} on queue mail", None),
])
def test_public_keys_and_ulids_stay(line, value):
    assert redact_text(line) == line
    if value is not None:
        assert public_key_blob(value) or ulid_ok(value)


@pytest.mark.parametrize("blob", [_pkcs8(), _encrypted_pkcs8(), _r(60), base64.b64encode(_rng.randbytes(48)).decode()])
def test_private_key_structures_and_random_bytes_are_not_public_keys(blob):
    assert not public_key_blob(blob)


def test_private_key_material_is_still_masked():
    key = _pkcs8()
    assert _masked(f"private_key = {key}", key)
    assert _masked(f"signing key {key}", key)


@pytest.mark.parametrize("raw", [
    "7" + _r(25, UPPER36).replace("I", "J"),       # starts past the 48-bit range of ULID time
    _ulid(int(time.mktime((2071, 1, 1, 0, 0, 0, 0, 0, 0)) * 1000)),  # an instant no system mints yet
    "01ARZ3NDEKTSV4RRFFQ69G5FAU"[:-1] + "I",       # I is outside Crockford's alphabet
    _r(26, UPPER36).lower(),
])
def test_ulid_needs_its_format_and_a_plausible_instant(raw):
    assert not ulid_ok(raw)


# ---- a label in one case glued to a single-case body --------------------------------------

@pytest.mark.parametrize("token", [
    "QZAK" + _r(54, LOWER36), "VNDR" + _r(30, LOWER36), "zq" + _r(40, UPPER36), "ACMETK" + _r(28, LOWER36),
])
def test_one_case_label_on_a_body_of_the_other_case(token):
    assert is_random_token(token)
    assert _masked(f"using {token} for upload", token)


@pytest.mark.parametrize("word", [
    "HTTPserver01handler", "JSONparserfactorydefault", "IOexception2handler",
    "UTF8encodingutilities1", "AWSregionuseast1config",
])
def test_capitalised_acronym_and_words_are_not_keys(word):
    assert not is_random_token(word)


# ---- example labels stay -----------------------------------------------------------------

@pytest.mark.parametrize("label", ["foo_", "bar-", "example_", "dummy.", "FAKE_", "sample-"])
def test_example_labelled_tokens_stay(label):
    line = f"see {label}{_r(36)} in the docs"
    assert redact_text(line) == line


def test_real_labels_still_masked():
    for label in ("food_", "zorp_", "sk_test_", "barn-"):
        body = _r(36)
        assert _masked(f"see {label}{body} here", body), label


# ---- secrets handed over by builder calls or under an encoding suffix ---------------------

@pytest.mark.parametrize("line,value", [
    ('client.builder().password("{v}").build()', _r(14)),
    ("Acme.builder().apiKey('{v}')", _r(24)),
    ('conn.user("app").token("{v}")', _r(20)),
    ("secret_key_base: {v}", _r(128, "0123456789abcdef")),
    ("API_TOKEN_VALUE={v}", _r(32)),
    ('"passwordB64": "{v}"', base64.b64encode(_rng.randbytes(12)).decode()),
    ("signing_secret_hex = '{v}'", _r(64, "0123456789abcdef")),
])
def test_builder_calls_and_encoding_suffixes(line, value):
    assert _masked(line.format(v=value), value)


@pytest.mark.parametrize("line", [
    'builder.password("${DB_PASSWORD}")',
    ".token(tokenProvider.get())",
    "passwordVariable: 'PASSWORD'",
    'secret_key_base: "<%= ENV["SECRET_KEY_BASE"] %>"',
    "token_string_length = 32",
])
def test_references_under_builders_and_suffixed_keys_stay(line):
    assert redact_text(line) == line


# ---- digests, ids and cursors under their own labels stay ---------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b64(n: int) -> str:
    return base64.b64encode(_rng.randbytes(n)).decode()


@pytest.mark.parametrize("line", [
    f"github.com/acme/zorp v1.4.2 h1:{_b64(32)}",
    f"github.com/acme/zorp v1.4.2/go.mod h1:{_b64(32)}",
    f'hashes = ["h1:{_b64(32)}", "zh:{_r(64, "0123456789abcdef")}"]',
    f"x-amz-id-2: {_b64(54)}",
    f'"@odata.etag": "W/\\"{_b64(36)}\\""',
    f"ETag: W/\"{_r(27)}\"",
    "cursor=" + base64.urlsafe_b64encode(b'{"id":42,"ts":1715680000}').decode().rstrip("="),
    f'nextPageToken: "{_b64(24)}"',
    f"page_token={_r(40)}",
    f"ipfs://Qm{''.join(_rng.choice(_B58) for _ in range(44))}/readme",
])
def test_digests_ids_and_cursors_under_their_labels_stay(line):
    assert redact_text(line) == line


@pytest.mark.parametrize("line,value", [
    ("h2:{v}", _r(40)),                 # not a hash label
    ("access_token: {v}", _r(40)),      # a token that is not a page token
    ("x-amz-security-token: {v}", _b64(60)),
])
def test_lookalike_labels_still_masked(line, value):
    assert _masked(line.format(v=value), value)


# ---- credentials by header, URL user and env-line context --------------------------------

HEX = "0123456789abcdef"


@pytest.mark.parametrize("line,value", [
    ("Authorization: Zorp {v}", _r(32)),
    ('"Authorization": "ZorpKey {v}"', _r(24, HEX)),
    ("authorization: Zorp-HMAC-SHA256 {v}", _b64(30)),
    ("git clone https://{v}:x-oauth-basic@git.example.test/acme/repo.git", _r(40)),
    ("dsn https://{v}@errors.example.test/42", _r(32, HEX)),
    ("ZORP={v}", _r(32, HEX)),
    ("export ZORP_ACCESS={v}", _r(40, HEX)),
    ("  - ZORP_CLIENT={v}", f"{_r(8, HEX)}-{_r(4, HEX)}-4{_r(3, HEX)}-a{_r(3, HEX)}-{_r(12, HEX)}"),
])
def test_credentials_by_header_url_user_and_env_line(line, value):
    assert _masked(line.format(v=value), value)


@pytest.mark.parametrize("line", [
    "Authorization: header missing",
    "authorization: Bearer",
    "https://deploy@git.example.test/acme/repo.git",
    "ssh://git@github.com:acme/repo.git",
    f"GIT_COMMIT={_r(40, HEX)}",
    f"BUILD_SHA={_r(40, HEX)}",
    f"export REQUEST_ID={_r(32, HEX)}",
    f"IMAGE_DIGEST={_r(64, HEX)}",
    f"trace={_r(32, HEX)} span={_r(16, HEX)}",
])
def test_names_users_and_ids_in_those_contexts_stay(line):
    assert redact_text(line) == line


# ---- base64 of readable text is as secret as what it encodes ------------------------------

def _enc(raw: str, url: bool = False) -> str:
    data = raw.encode()
    return (base64.urlsafe_b64encode(data).decode().rstrip("=") if url else base64.b64encode(data).decode())


@pytest.mark.parametrize("raw", [
    '{"password":"' + _r(12) + '"}',
    '{"auths":{"https://registry.example.test/v1/":{"auth":"opensesame"}}}',
    '{"client_id":"zorp","client_secret":"' + _r(20) + '"}',
    '{"sub":"42","api_key":"' + _r(24) + '","n":1}',
    "the deploy token is " + _r(24) + " for prod",
])
def test_encoded_text_naming_a_credential_is_masked(raw):
    for url in (False, True):
        token = _enc(raw, url)
        assert _masked(f"config: {token}", token)


@pytest.mark.parametrize("raw", [
    '{"id":4242,"ts":1715680000,"dir":"next"}',
    '{"offset":200,"limit":50,"sort":"created_at"}',
    "Hello from the build farm, all jobs finished in time.",
])
def test_encoded_cursors_and_messages_stay(raw):
    for url in (False, True):
        line = f"next page at cursor {_enc(raw, url)} (50 rows)"
        assert redact_text(line) == line


def test_encoded_password_without_spaces_and_random_bytes_are_still_masked():
    for token in (_enc("S!q9*d$zDsb=Kp2&xw7"), _enc("deploy:" + _r(12)), base64.b64encode(_rng.randbytes(30)).decode()):
        assert _masked(f"blob {token}", token)


# ---- an AWS key id's secret on the same line; '//' inside base64 --------------------------

_B64_ALPHABET = B62 + "+/"


def _aws_secret(with_slashes: bool = False) -> str:
    # A long lowercase stretch keeps the generic rule from judging it random: only the pairing
    # with the key id on the line can find it.
    body = _r(10) + "".join(_rng.choice(string.ascii_lowercase) for _ in range(20)) + _r(10, _B64_ALPHABET)
    return body[:10] + "//" + body[12:] if with_slashes else body


@pytest.mark.parametrize("template", ["{k}:{s}", "credentials {k} / {s}", "{k},{s},default", "id={k} pair={s}"])
def test_a_40_char_secret_beside_an_access_key_id(template):
    key_id = "AKIA" + "".join(_rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = _aws_secret()
    assert len(secret) == 40
    line = template.format(k=key_id, s=secret)
    assert _masked(line, secret) and key_id not in redact_text(line)


def test_forty_char_runs_without_an_access_key_id_or_in_one_case_stay():
    assert redact_text(f"commit {_r(40, '0123456789abcdef')} AKIA{'234567ABCDEFGHIJKLMN'[:16]}").count("REDACTED") == 1
    line = f"path {''.join(_rng.choice(string.ascii_lowercase) for _ in range(40))} ok"
    assert redact_text(line) == line


def test_double_slash_inside_a_base64_token_is_not_a_path():
    token = _r(18) + "//" + _r(20) + "+Q"
    assert _masked(f"blob {token} end", token)


# ---- placeholder bodies where a minted key goes -------------------------------------------

@pytest.mark.parametrize("line", [
    "ghp_" + "x" * 36, "export ZORP_TOKEN=zt_" + "X" * 32, "sk-proj-" + "X" * 40, "AIza" + "X" * 35,
    "xoxb-" + "0" * 12 + "-" + "0" * 12 + "-" + "x" * 24, "Authorization: Bearer " + "x" * 32,
    "api_key = '" + "X" * 24 + "'", "glpat-" + "a" * 20, '"secret": "' + "0" * 30 + '"',
])
def test_placeholder_bodies_stay(line):
    assert redact_text(line) == line


@pytest.mark.parametrize("line,value", [
    ("ghp_{v}", _r(36)), ("sk-proj-{v}", _r(40)), ("Authorization: Bearer {v}", _r(32)),
    ("password = '{v}'", "aaaa1111bbbb"),   # a weak password chosen by a person is still one
    ("api_key = '{v}'", "X" * 10 + _r(14)),  # a placeholder prefix on a random body
])
def test_varied_bodies_still_masked(line, value):
    assert _masked(line.format(v=value), value)


# ---- code and config expressions under secret names are references ------------------------

@pytest.mark.parametrize("line", [
    'storePassword = System.getenv("STORE_PASSWORD")', 'api_key=os.environ["API_KEY"]', "password=settings.DB_PASSWORD",
    "password = aws_db_instance.main.password", "password = random_password.db.result", 'private_key = file("~/.ssh/id_rsa")',
    "secret_key = get_random_secret_key()", "password = getpass.getpass()", "secret: !Ref DbSecret",
    "password: !GetAtt Database.MasterUserPassword", 'token = "Bearer " + accessToken', 'token: "YOUR_API_TOKEN"',
    "var token = localStorage.getItem('token');",
    "denied on arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/prod-Xy12Ab",
])
def test_code_and_config_expressions_stay(line):
    assert redact_text(line) == line


@pytest.mark.parametrize("line,value", [
    ("password={v}", "hello.shadow.freedom"),      # a dotted passphrase names no field at its end
    ("password={v}", "freedom.monkey"),            # "monkey" holds "key" but is no field name
    ("Server=db;Password={v};", "Summer(2024)"),
    ("secret: {v}", "!Horsewinter7"),
    ('"password": "{v}"', "TESTHORSE"),
    ("password: {v}", "Dragon4973!"),
])
def test_passwords_people_choose_are_still_masked(line, value):
    assert _masked(line.format(v=value), value)


def test_a_prefixed_token_beside_an_aws_key_id_keeps_its_own_type():
    # a vendor token's 40-character body glued to its prefix is not the AWS secret of the key id
    # on the same line: it is masked whole, under its own type (values invented)
    line = "gateway key gsk_" + "Qz1LmN7pRt2VwXy9KbC3dE6gH0jA5sU8iO1pLa4B" + " aws AKIAQWERTYUIOPASDFGH"
    out = redact_text(line)
    assert "gsk_" not in out
    assert "[REDACTED:aws_secret" not in out
