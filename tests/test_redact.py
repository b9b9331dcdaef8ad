"""Redaction: every secret and PII kind is masked with a typed placeholder, ordinary log
lines are left alone, placeholders are stable and idempotent, and a `gsk_` key never survives."""

from __future__ import annotations

import gzip
import json
import random
import string

import pytest

from crashlens_core.config import Settings
from crashlens_core.errors import ConfigError
from crashlens_core.redact import PLACEHOLDER_RE, Redactor, redact_lines, redact_text

from .conftest import run_cli


def _rand(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


RNG = random.Random(20240514)
_AWS = "AKIA" + _rand(RNG, 16, string.ascii_uppercase + string.digits)
_AWS_SECRET = _rand(RNG, 40, string.ascii_letters + string.digits + "/+")
_GCP = "AIza" + _rand(RNG, 35)
_AZURE = _rand(RNG, 86) + "=="
_GH = "ghp_" + _rand(RNG, 36)
_GL = "glpat-" + _rand(RNG, 20)
_SLACK = f"xoxb-{RNG.randint(10**11, 10**12)}-{RNG.randint(10**11, 10**12)}-{_rand(RNG, 24)}"
_HOOK = f"https://hooks.slack.com/services/T{_rand(RNG, 8).upper()}/B{_rand(RNG, 8).upper()}/{_rand(RNG, 24)}"
_STRIPE = "sk_live_" + _rand(RNG, 24)
_GSK = "gsk_" + _rand(RNG, 52)
_OPENAI = "sk-proj-" + _rand(RNG, 48)
_JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsIm5hbWUiOiJCb2IifQ.c2lnbmF0dXJlX2J5dGVzX2hlcmU"
# (line, the sensitive value, the expected placeholder type)
POSITIVES = [
    (f"using {_AWS} for s3", _AWS, "aws_key"),
    (f"aws_secret_access_key = {_AWS_SECRET}", _AWS_SECRET, "aws_secret"),
    (f"maps key {_GCP}", _GCP, "gcp_key"),
    (f"DefaultEndpointsProtocol=https;AccountName=shop;AccountKey={_AZURE};EndpointSuffix=core.windows.net", _AZURE, "azure_key"),
    (f"git clone with {_GH}", _GH, "github_token"),
    (f"CI_TOKEN {_GL}", _GL, "gitlab_token"),
    (f"bot {_SLACK}", _SLACK, "slack_token"),
    (f"notify {_HOOK}", _HOOK, "slack_webhook"),
    (f"charge with {_STRIPE}", _STRIPE, "stripe_key"),
    (f"client = Groq(api_key='{_GSK}')", _GSK, "groq_key"),
    (f"OPENAI_API_KEY={_OPENAI}", _OPENAI, "openai_key"),
    (f"auth {_JWT}", _JWT, "jwt"),
    ("GET /api Authorization: Bearer abcDEF123456ghiJKL789mno", "abcDEF123456ghiJKL789mno", "bearer_token"),
    ("proxy Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy", "bearer_token"),
    ("connect postgres://app:S3cr3t-pass@db.internal:5432/shop failed", "S3cr3t-pass", "url_password"),
    ("Server=db;Database=shop;User Id=sa;Password=Tr0ub4dor&3;", "Tr0ub4dor&3", "password"),
    ("GET /login?user=bob&password=Hunter22&next=/home", "Hunter22", "password"),
    ("cache redis://:p4ssw0rd@cache:6379/0 down", "p4ssw0rd", "url_password"),
    ("curl -u admin:hunter2 https://api.test/v1", "hunter2", "password"),
    ("X-Api-Key: 4f9a8b7c6d5e4f3a2b1c", "4f9a8b7c6d5e4f3a2b1c", "secret"),
    ('config {"db_password": "hunter2hunter2"}', "hunter2hunter2", "password"),
    ("export CLIENT_SECRET=9f8e7d6c5b4a39281706", "9f8e7d6c5b4a39281706", "secret"),
    ("ldap password ---- H7IKC85R#@4$", "H7IKC85R#@4$", "password"),
    ("order by jane.doe+shop@example.co.uk failed", "jane.doe+shop@example.co.uk", "email"),
    ("request from 93.184.216.34 rejected", "93.184.216.34", "ipv4"),
    ("request from 2a00:1450:4001:82b::200e rejected", "2a00:1450:4001:82b::200e", "ipv6"),
    ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "card"),
    ("card 378282246310005 declined", "378282246310005", "card"),
    ("call +44 20 7946 0958 back", "+44 20 7946 0958", "phone"),
    ("call (415) 555-2671 back", "(415) 555-2671", "phone"),
    ("ssn 123-45-6789 on file", "123-45-6789", "ssn"),
    ("iban DE89 3704 0044 0532 0130 00 refund", "DE89 3704 0044 0532 0130 00", "iban"),
]


@pytest.mark.parametrize("line,value,kind", POSITIVES, ids=[p[2] + str(i) for i, p in enumerate(POSITIVES)])
def test_each_kind_is_masked_with_its_typed_placeholder(line, value, kind):
    r = Redactor()
    # Exactly the value is replaced: nothing of it survives, nothing around it is eaten.
    assert r.redact(line) == line.replace(value, f"[REDACTED:{kind}#1]")
    assert r.mapping == {f"[REDACTED:{kind}#1]": value}


ORDINARY = [
    "2024-05-14T10:05:33.123Z INFO checkout request_id=3f2a1c9e-6b1d-4c2e-9f00-1a2b3c4d5e6f GET /api/v2/orders/1234 200 in 37ms",
    "2024-05-14 10:05:33,120 WARN payments trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 took 1.234s",
    "May 14 10:05:33 web-01 sshd[2211]: Accepted publickey for deploy from 10.0.3.17 port 52144 ssh2",
    "started shop-api version 3.12.4 build 2024.05.14 commit 9c1e7f3a8b2d4e6f0a1b2c3d4e5f6a7b8c9d0e1f pid=4242",
    "cache_key=user:42 hit ratio=0.981 ttl=300s bytes=1048576 epoch_ms=1715681133123",
    "token refresh ok; expires_in=3600 prompt_tokens=812 completion_tokens=97 max_token=4096",
    "login failed: password incorrect for user id 1234; auth: denied; secret rotation at 02:00:00",
    "pod checkout-7d9f8b6c5d-x2k4q ready on node ip-172-31-20-5.ec2.internal (192.168.1.20, 127.0.0.1, ::1, fe80::1%eth0)",
    "java.lang.IllegalStateException: at com.shop.Payments.charge(Payments.java:142) duration=1h2m3s retries=3/5",
    "order 4012-8888-8888-1882 amount=129.99 USD at 12:30:45.123456 +0000 latency_p95=250.5ms mac=00:1a:2b:3c:4d:5e",
    "std::vector<int> Foo::bar() at 0x7ffd5e8c9a10 errno=-110 (ETIMEDOUT) sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "top -u root; sudo -u postgres:psql vacuum; http://localhost:8080/health ok; Failed password for invalid user admin",
    "passwordVariable: 'PASSWORD', credentialsId: '29f63271-dc2f-4734-8221-5b31b5169bac', api_key = \"\"",
]


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_log_lines_are_left_alone(line):
    assert redact_text(line) == line


def test_same_value_same_placeholder_numbered_per_type():
    r = Redactor()
    out = r.redact("a@example.com b@example.com a@example.com 8.8.8.8")
    assert out == "[REDACTED:email#1] [REDACTED:email#2] [REDACTED:email#1] [REDACTED:ipv4#1]"
    assert r.redact("again a@example.com") == "again [REDACTED:email#1]"
    assert r.mapping == {"[REDACTED:email#1]": "a@example.com", "[REDACTED:email#2]": "b@example.com",
                         "[REDACTED:ipv4#1]": "8.8.8.8"}
    assert r.summary() == {"email": 4, "ipv4": 1}


def test_redaction_is_stable_and_idempotent():
    text = "\n".join(line for line, _, _ in POSITIVES) + "\n" + "\n".join(ORDINARY)
    once = redact_text(text)
    assert redact_text(text) == once  # stable: a fresh Redactor gives the same text
    r = Redactor()
    first = r.redact(text)
    assert r.redact(first) == first  # idempotent with the same Redactor
    assert Redactor().redact(first) == first  # and with a fresh one: placeholders are never re-masked
    assert first.count("\n") == text.count("\n")


def test_a_groq_key_never_survives():
    rng = random.Random(7)
    contexts = ["{k}", "GROQ_API_KEY={k}", 'api_key="{k}"', "Authorization: Bearer {k}", "https://x.test/?key={k}&a=1",
                '{{"groq": "{k}"}}', "key:{k},next", "({k})", "prefix-{k}", "'{k}'", "token {k} and {k}", "<{k}>"]
    for i in range(200):
        key = "gsk_" + _rand(rng, rng.choice([20, 32, 52, 56]), string.ascii_letters + string.digits + ("_-" if i % 3 == 0 else ""))
        line = rng.choice(contexts).format(k=key)
        for settings in (None, Settings(redact_skip="email,ipv4,ipv6,card,phone,ssn,iban")):
            out = Redactor(settings).redact(line)
            assert "gsk_" not in out, (line, out)
            assert "gsk_" not in "".join(redact_lines([line + "\n"]))


def test_secrets_cannot_be_skipped_but_pii_can():
    with pytest.raises(ConfigError) as exc:
        Redactor(Settings(redact_skip="groq_key"))
    assert "secrets are always masked" in exc.value.hint
    r = Redactor(Settings(redact_skip="ipv4"))
    assert r.redact("from 8.8.8.8 as bob@example.com") == "from 8.8.8.8 as [REDACTED:email#1]"


def test_private_keys_are_masked_line_for_line():
    body = "\n".join(_rand(RNG, 64, string.ascii_letters + string.digits + "+/") for _ in range(5))
    block = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    lines = ["before 1\n", *[ln + "\n" for ln in block.split("\n")], "after 2\n"]
    out = list(redact_lines(lines))
    assert len(out) == len(lines)
    assert out[0] == "before 1\n" and out[-1] == "after 2\n"
    assert all(ln == "[REDACTED:private_key#1]\n" for ln in out[1:-1])
    assert redact_text(block).count("\n") == block.count("\n")
    # A placeholder body is not a key; a header without END must not swallow the log.
    assert redact_text("-----BEGIN PRIVATE KEY-----\nanything\n-----END PRIVATE KEY-----").startswith("-----BEGIN")
    dangling = ["-----BEGIN PRIVATE KEY----- (truncated)\n", "next line 8 ok\n", "another line\n"]
    out = list(redact_lines(dangling))
    assert out[1:] == dangling[1:]


def test_redact_lines_keeps_one_line_per_line_and_terminators():
    lines = ["a bob@example.com\r\n", "b\n", "", "c 8.8.8.8", "line with\rcr 8.8.4.4\n"]
    out = list(redact_lines(lines))
    assert len(out) == len(lines)
    assert out[0] == "a [REDACTED:email#1]\r\n" and out[1] == "b\n" and out[2] == "" and out[3] == "c [REDACTED:ipv4#1]"
    assert out[4].endswith("\n") and "8.8.4.4" not in out[4]


def test_cli_redact_file_gzip_and_stdin(tmp_path):
    lines = [line for line, _, _ in POSITIVES] + ORDINARY
    src = tmp_path / "app.log.gz"
    with gzip.open(src, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    done = run_cli("redact", str(src), "--json", workspace=tmp_path / "ws")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert len(out) == len(lines)
    assert out[len(POSITIVES):] == ORDINARY
    assert all(PLACEHOLDER_RE.search(o) for o in out[: len(POSITIVES)])
    summary = json.loads(done.stderr.strip().splitlines()[-1])
    assert summary["total"] == sum(summary["redacted"].values()) >= len(POSITIVES)

    piped = run_cli("redact", "-", input="key gsk_abcdefghijklmnopqrstuvwx\nplain\n", workspace=tmp_path / "ws")
    assert piped.returncode == 0 and piped.stdout == "key [REDACTED:groq_key#1]\nplain\n"

    missing = run_cli("redact", str(tmp_path / "nope.log"), workspace=tmp_path / "ws")
    assert missing.returncode == 2 and "no such file" in missing.stderr
