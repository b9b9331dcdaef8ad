"""The workspace's bundle signing key (Ed25519): created on first use, kept private, public half exportable.

The private key lives at ``<workspace>/keys/bundle-signing-ed25519.pem`` (PKCS#8, mode 0600, in a
0700 folder). Verification never trusts a key found inside a bundle: callers pin one — this
workspace's own public key, or a PEM file somebody handed them out of band.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> key = signing_key(folder)
>>> public_key_pem(key.public_key()).startswith("-----BEGIN PUBLIC KEY-----")
True
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ConfigError, InputError, NotFound

__all__ = ["signing_key", "workspace_public_key", "load_public_key", "public_key_pem", "keyid", "key_path"]

KEY_DIR = "keys"
KEY_FILE = "bundle-signing-ed25519.pem"


def key_path(workspace_folder: str | Path) -> Path:
    return Path(workspace_folder) / KEY_DIR / KEY_FILE


def _read_private(path: Path) -> Ed25519PrivateKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Like ssh: a signing key others can read is no longer evidence of who signed.
        raise ConfigError(f"signing key {path} is accessible by other users (mode {mode:04o})",
                          hint=f"run `chmod 600 {path}`")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"signing key {path} cannot be read: {exc}", hint="restore it from a backup, or move it away to create a new key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path} is not an Ed25519 key", hint="move it away; CrashLens creates an Ed25519 key on first export")
    return key


def signing_key(workspace_folder: str | Path) -> Ed25519PrivateKey:
    """The workspace's private signing key, generated (0600) the first time it is needed."""
    path = key_path(workspace_folder)
    if path.exists():
        return _read_private(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() fails if another process created the key meanwhile: theirs wins, and no
            # reader ever sees a half-written key file.
            os.link(tmp, path)
        except FileExistsError:
            return _read_private(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def workspace_public_key(workspace_folder: str | Path) -> Ed25519PublicKey:
    """This workspace's public key; it does not create one (a new key has signed nothing)."""
    path = key_path(workspace_folder)
    if not path.exists():
        raise NotFound(f"this workspace has no bundle signing key yet ({path})",
                       hint="pass the signer's public key with --key PUB.pem (`crashlens bundle key` on their side prints it)")
    return _read_private(path).public_key()


def load_public_key(source: Ed25519PublicKey | bytes | str | Path) -> Ed25519PublicKey:
    """A pinned Ed25519 public key from a key object, PEM bytes/text, or a PEM file path."""
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, str) and "-----BEGIN" not in source:
        source = Path(source)
    if isinstance(source, Path):
        path = source
        try:
            source = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"public key file not found: {path}", hint="check the --key path") from None
    data = source.encode("utf-8") if isinstance(source, str) else source
    if b"PRIVATE KEY" in data:
        raise InputError("that is a private key, not a public key", hint="use `crashlens bundle key` to print the public key and pin that")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise InputError("not a PEM public key", hint="expected a file starting with -----BEGIN PUBLIC KEY-----") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("the public key is not an Ed25519 key", hint="CrashLens bundles are signed with Ed25519")
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def keyid(key: Ed25519PublicKey) -> str:
    """sha256 (hex) of the DER SubjectPublicKeyInfo: a stable name for the key."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
