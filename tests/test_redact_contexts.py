"""Redaction rules for token shapes and contexts no vendor rule lists: a readable label on a hex
body, credential key names, secrets in XML/setters/prose/flags/webhook URLs/escaped JSON, crypt
hashes; and, for each, the ordinary values of logs that look alike and must stay. Inputs are made
up here (random bodies from a seeded generator, invented vendor names), never benchmark lines."""

from __future__ import annotations

import base64
import random

import pytest

from crashlens_core.redact import PLACEHOLDER_RE, redact_text
from crashlens_core.redaction.checks import basic_ok, is_path
from crashlens_core.redaction.tokens import keyed_value_ok, labelled_hex

_rng = random.Random(1414)
HEX = "0123456789abcdef"


def _r(n: int, alphabet: str = HEX) -> str:
    # A seeded random body that holds both letters and digits (as every minted key of 32+ does).
    while True:
        s = "".join(_rng.choice(alphabet) for _ in range(n))
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
            return s


def _digits(n: int) -> str:
    return "".join(_rng.choice("0123456789") for _ in range(n))


def _uuid() -> str:
    return f"{_r(8)}-{_r(4)}-4{_r(3)}-a{_r(3)}-{_r(12)}"


H32, H40, H48, H24, H34 = _r(32), _r(40), _r(48), _r(24), _r(34)
U1 = _uuid()
MIXED = _r(28, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")


def _masked(line: str, value: str) -> bool:
    out = redact_text(line)
    return value not in out and bool(PLACEHOLDER_RE.search(out))


# ---- a short readable label joined to a 128+-bit hex body ------------------------------------

@pytest.mark.parametrize("token", [
    f"zorp-{H40}", f"qlx_live_{H40}", f"vndr_{H48}", f"ACMESECK_TEST-{H32}-X", f"ZMAK-{H24}-{H34}",
    f"{H32}-eu7", f"dqpi{H32}", f"pat-eu1-{U1}", f"api-{U1}", f"sk-{U1}",
])
def test_labelled_hex_is_a_key(token):
    assert labelled_hex(token), token
    assert _masked(f"using {token} for upload", token)


@pytest.mark.parametrize("line", [
    f"commit-{H40} built", f"trace-{H32} sampled", f"container {H40} exited", f"{H40}-dirty",
    f"blockmgr-{U1} created", f"order-{U1} paid", f"image layer sha256-{H40}",
    f"GET https://wiki.example.org/Quarterly-Planning-Notes-Team-{H32}?v=2 200",
    f"GET https://docs.example.org/API-{H32.upper()} 200",
    f"Started cri-containerd-{_r(64)}.scope", f"/assets/app-{H32}.js", f"{H40}", f"req {H32}",
])
def test_ids_digests_and_paths_with_hex_stay(line):
    assert redact_text(line) == line


# ---- credential key names ----------------------------------------------------------------

@pytest.mark.parametrize("line,value", [
    (f"ZORP_PAT={H32}", H32), (f"db_pwd: {MIXED}", MIXED), (f'acme_passcode = "{H32}"', H32),
    (f"VENDOR_CREDS={H40}", H40), (f'"app_secrets": "{MIXED}"', MIXED), (f"bearer: {H40}", H40),
    (f"ZORP_LICENSE_KEY={H40}", H40), (f"zorp_session={H32}", H32), (f"hook_hmac: {H40}", H40),
    (f'SERVICE_LOGIN = "{_digits(8)}ABCDEFGH{_digits(10)}JKLMNPQR{_digits(6)}"', None),
])
def test_credential_key_names(line, value):
    out = redact_text(line)
    assert PLACEHOLDER_RE.search(out), out
    if value:
        assert value not in out


@pytest.mark.parametrize("line", [
    "compat=legacy-mode-enabled", "PATH=/usr/local/bin:/usr/bin", "PWD=/home/deploy/app",
    "prompt_tokens=1834 completion_tokens=210", "session=3 license: MIT sig=ok",
    "token: /var/run/secrets/kubernetes.io/serviceaccount/token", "private_key: ./certs/server.key",
    "--key server.key --token-file secrets.env", "sessionid: 0x14ede63a5a70002",
])
def test_ordinary_values_under_credential_names_stay(line):
    assert redact_text(line) == line


def test_value_checks():
    assert is_path("/var/run/secrets/token") and not is_path("/" + MIXED)
    user_pass = base64.b64encode(b"deploy:" + MIXED.encode()).decode()
    assert basic_ok(user_pass) and keyed_value_ok(user_pass)
    assert not basic_ok(base64.b64encode(bytes(range(200, 212))).decode())  # random bytes, no text
    assert not keyed_value_ok("0x7ffd5e8c9a10")


# ---- secrets by their context --------------------------------------------------------------

@pytest.mark.parametrize("line,value", [
    (f"<password>{MIXED}!</password>", MIXED), (f"<zorpApiKey>{H32}</zorpApiKey>", H32),
    (f'<entry key="token">{H32}</entry>', H32), (f"conn.setPassword('{MIXED}')", MIXED),
    (f'client.set_api_key("{H32}")', H32), (f'{{:password "{MIXED}"}}', MIXED),
    (f"machine git.example.org login ci password {MIXED}", MIXED), (f"X-Zorp-Api-Key {H32}", H32),
    (f"token {H32} expired", H32), (f"zorpctl -token {H32}", H32),
    (f"mysql -u root -p{MIXED} shop", MIXED), (f"registry login -u ci -p {MIXED} reg.example.org", MIXED),
    (f"POST https://chat.example.org/hooks/{H32} 200", H32),
    (f"https://org.webhook.example.net/webhookb2/{U1}/Incoming/{H32}", H32),
    (f'zorp: "{U1}",', U1), (f"ZORP = '{H40}'", H40),
    (r'{"log":"{\"password\":\"' + MIXED + r'\"}\n","stream":"stdout"}', MIXED),
    (r'{"log":"{\"api_key\":\"' + H32 + r'\"}"}', H32),
    ('{"auths": {"reg.example.org": {"auth": "' + base64.b64encode(b"ci:" + MIXED.encode()).decode() + '"}}}',
     base64.b64encode(b"ci:" + MIXED.encode()).decode()),
])
def test_secrets_found_by_context(line, value):
    assert _masked(line, value), redact_text(line)


@pytest.mark.parametrize("line", [
    "<tokenCount>1234</tokenCount> <passwordPolicy>strict</passwordPolicy>",
    "setTokenTtl(3600); setPassword(newPassword);", "login failed: password incorrect (attempt 3/5)",
    "token expired for client 42, refreshing", "docker run -u 1000 -p 8080:80 app:latest",
    "psql -U postgres -p 5432 -h db.internal shop", "mkdir -p /var/log/app -u",
    "webhook delivered to https://hooks.example.org/ci/build in 120ms",
    f'{{"product": "{U1}", "qty": 2}}', f'{{"execution": "{U1}", "status": "SUCCEEDED"}}',
    f'requestId: "{U1}"', f'version: "{H40}"', f'"checksum": "{_r(64)}"',
    f"dd.trace_id={_rng.randint(10**17, 10**18)} dd.span_id=4064743975168378427",
    "price $1$ and $5$ each; echo $1 $2",
])
def test_lookalikes_in_ordinary_logs_stay(line):
    assert redact_text(line) == line


@pytest.mark.parametrize("line", [
    "admin:$apr1$" + _r(8) + "$" + _r(22, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./"),
    "root:$6$rounds=5000$" + _r(16) + "$" + MIXED + MIXED + ":19000:0:99999:7:::",
    'hash = "$2b$12$' + _r(53, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./") + '"',
    "pbkdf2_sha256$600000$" + _r(12) + "$" + MIXED + "=",
])
def test_password_hashes_in_crypt_format(line):
    out = redact_text(line)
    assert "[REDACTED:password#1]" in out and "$" not in out.split("[REDACTED")[1].split("]")[0], out


def test_card_numbers_still_found_beside_id_keys():
    out = redact_text("card 4111 1111 1111 1111 span_id=4064743975168378427")
    assert out == "card [REDACTED:card#1] span_id=4064743975168378427"


@pytest.mark.parametrize("line", [
    "fp:96d5c1398df85357c290187909760e1b",  # an RCA evidence id, redacted on its own as every id is
    "fingerprint: 9c955f805cbd5184837a65ca78c11722",
    "SHA256 fingerprint: " + "".join(random.Random(3).choice("0123456789abcdef") for _ in range(64)),
])
def test_a_fingerprint_is_an_identifier_not_a_secret(line):
    # The RCA page showed "fp:[REDACTED:secret#1]" for exception groups: a fingerprint is a digest
    # that names something (an error group, a public key), like a hash or a checksum.
    assert redact_text(line) == line


def test_a_secret_named_as_such_beside_a_fingerprint_is_still_masked():
    assert "[REDACTED" in redact_text("API_SECRET: 96d5c1398df85357c290187909760e1b")
