"""DSSE envelopes (Dead Simple Signing Envelope, v1.0): pre-authentication encoding, signing, checking.

An envelope is ``{"payload": b64, "payloadType": str, "signatures": [{"keyid": str, "sig": b64}]}``;
the signature is over ``PAE(payloadType, payload)``, never over the JSON, so no JSON parser
quirk can change what was signed. CrashLens signs with Ed25519 (RFC 8032, deterministic).

Checking is strict on purpose: the envelope must be the canonical JSON CrashLens writes, with
canonical base64 and exactly one signature, so that every byte of it matters — a changed byte
is either a different signed value or a rejected encoding, never silently the same envelope.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..canonical import StrictJSONError, canonical_json, strict_loads

__all__ = ["pae", "sign_envelope", "parse_envelope", "verify_signature", "Envelope", "EnvelopeError"]


class EnvelopeError(ValueError):
    """The envelope is malformed; ``check`` is ``envelope``, ``payload_type`` or ``signature``."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: ``DSSEv1 SP LEN(type) SP type SP LEN(body) SP body``.

    >>> pae("http://example.com/HelloWorld", b"hello world")
    b'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
    """
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_envelope(payload: bytes, payload_type: str, key: Ed25519PrivateKey, keyid: str = "") -> bytes:
    """The canonical JSON bytes of a DSSE envelope signing ``payload`` with ``key``."""
    sig = key.sign(pae(payload_type, payload))
    signature = {"sig": base64.b64encode(sig).decode("ascii")}
    if keyid:
        signature["keyid"] = keyid
    return canonical_json({
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [signature],
    })


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    sig: bytes
    keyid: str


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("envelope", f"{what} is not valid base64") from None
    # Base64 has spare bits in its last character: two spellings can decode to the same bytes.
    # Only the canonical spelling is accepted, so a changed character never goes unnoticed.
    if base64.b64encode(raw).decode("ascii") != text:
        raise EnvelopeError("envelope", f"{what} is not canonical base64")
    return raw


def parse_envelope(data: bytes) -> Envelope:
    """Check the envelope's shape and decode it (no signature check yet)."""
    try:
        doc: Any = strict_loads(data)
    except StrictJSONError as exc:
        raise EnvelopeError("envelope", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"payload", "payloadType", "signatures"}:
        keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise EnvelopeError("envelope", f"expected exactly the keys payload, payloadType, signatures; got {keys}")
    if not isinstance(doc["payload"], str) or not isinstance(doc["payloadType"], str):
        raise EnvelopeError("envelope", "payload and payloadType must be strings")
    sigs = doc["signatures"]
    if not isinstance(sigs, list) or len(sigs) != 1:
        raise EnvelopeError("envelope", "expected exactly one signature")
    entry = sigs[0]
    if not isinstance(entry, dict) or "sig" not in entry or not set(entry) <= {"sig", "keyid"} \
            or not all(isinstance(v, str) for v in entry.values()):
        raise EnvelopeError("envelope", "a signature must be {sig, keyid} strings")
    if canonical_json(doc) != data:
        raise EnvelopeError("envelope", "not in canonical JSON form (sorted keys, no extra whitespace)")
    payload = _b64(doc["payload"], "payload")
    sig = _b64(entry["sig"], "signature")
    return Envelope(doc["payloadType"], payload, sig, entry.get("keyid", ""))


def verify_signature(env: Envelope, public_key: Ed25519PublicKey, keyid: str = "") -> None:
    """Raise ``EnvelopeError('signature', …)`` unless ``public_key`` signed the envelope's PAE."""
    if keyid and env.keyid and env.keyid != keyid:
        raise EnvelopeError("signature", f"signed by key {env.keyid[:16]}…, not by the pinned key {keyid[:16]}…")
    try:
        public_key.verify(env.sig, pae(env.payload_type, env.payload))
    except InvalidSignature:
        raise EnvelopeError("signature", "the signature does not match the pinned public key "
                                         "(the bundle was changed after signing, or signed with another key)") from None
