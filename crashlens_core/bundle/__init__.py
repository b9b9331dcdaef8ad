"""Signed bundles: export an incident as one verifiable archive, verify it, import it, replay from it.

A bundle is a canonical tar of the incident, its (redacted) evidence and RCA reports, and the
artifacts, closed by a DSSE envelope (Ed25519) over an in-toto Statement v1 whose subjects are
every file with its sha256. Verification pins a public key and never trusts one from the bundle.

>>> # export_bundle(ws, settings, incident_id, "inc.bundle.tar")
>>> # verify_bundle("inc.bundle.tar", workspace_public_key(ws.folder)).ok
>>> # import_bundle(other_ws, "inc.bundle.tar", "alice.pub.pem")
>>> # open_bundle("inc.bundle.tar", key).report_bytes()      # for strict replay
"""

from .dsse import pae
from .export import ENVELOPE_NAME, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, ExportResult, export_bundle
from .importer import ImportResult, import_bundle
from .keys import keyid, load_public_key, public_key_pem, signing_key, workspace_public_key
from .verify import CHECKS, BundleInvalid, VerifiedBundle, VerifyResult, open_bundle, verify_bundle

__all__ = [
    "export_bundle", "ExportResult", "verify_bundle", "VerifyResult", "open_bundle", "VerifiedBundle", "BundleInvalid",
    "import_bundle", "ImportResult", "signing_key", "workspace_public_key", "load_public_key", "public_key_pem", "keyid",
    "pae", "CHECKS", "ENVELOPE_NAME", "PAYLOAD_TYPE", "PREDICATE_TYPE", "STATEMENT_TYPE",
]
