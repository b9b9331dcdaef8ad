"""`crashlens bundle export|verify|import|key`: signed, verifiable incident bundles.

``verify`` and ``import`` pin a public key: this workspace's own by default, or ``--key PUB``
(a PEM file the signer gave you out of band). A failed verification exits 2 naming the check.
"""

from __future__ import annotations

import argparse
import sys

from ._common import EXIT_USER_ERROR, need, open_workspace, print_json, settings_for


def _pinned_key(args: argparse.Namespace):
    from ..bundle import load_public_key, workspace_public_key

    if args.key:
        return load_public_key(args.key)
    return workspace_public_key(settings_for(args).workspace)


def cmd_bundle(args: argparse.Namespace) -> int:
    action = args.action
    if action == "export":
        from ..bundle import export_bundle

        ws, settings = open_workspace(args)
        with ws:
            result = export_bundle(ws, settings, need(args.target, "bundle export ID -o FILE"),
                                   need(args.output, "bundle export ID -o FILE"))
        if args.json:
            print_json(result.to_json())
        else:
            masked = sum(result.redaction["summary"].values())
            print(f"wrote {result.path}: incident {result.incident_id[:8]}, {result.files} files, {result.runs} RCA run(s), "
                  f"{result.artifacts} artifact(s), {result.bytes:,} bytes; {masked} value(s) redacted; signed by key {result.keyid[:16]}")
            if result.redaction["unredacted_binary_artifacts"]:
                print(f"note: {len(result.redaction['unredacted_binary_artifacts'])} binary artifact(s) could not be redacted "
                      "and are included as they are (listed in the bundle's predicate)")
        return 0
    if action == "verify":
        from ..bundle import verify_bundle

        verified = verify_bundle(need(args.target, "bundle verify FILE [--key PUB]"), _pinned_key(args))
        if args.json:
            out = verified.to_json()
            out["path"] = args.target
            print_json(out)
        elif verified.ok:
            pred = (verified.statement or {}).get("predicate", {})
            inc = pred.get("incident", {})
            print(f"verified: {args.target}: {len(verified.files)} files, incident {inc.get('id')} ({inc.get('title')}), "
                  f"signed by key {verified.keyid[:16]}, statement sha256 {verified.statement_sha256[:16]}")
        if not verified.ok:
            sys.stderr.write(f"crashlens: bundle verification failed: {verified.failure} "
                             "(hint: do not trust this bundle; check you pinned the signer's public key with --key)\n")
            return EXIT_USER_ERROR
        return 0
    if action == "import":
        from ..bundle import import_bundle

        key = _pinned_key(args)
        ws, _ = open_workspace(args)
        with ws:
            outcome = import_bundle(ws, need(args.target, "bundle import FILE [--key PUB]"), key)
        if args.json:
            print_json(outcome.to_json())
        elif outcome.imported:
            print(f"imported incident {outcome.incident_id} (read-only): {outcome.runs} RCA run(s), {outcome.artifacts} artifact(s), "
                  f"{outcome.events} event(s)")
        else:
            print(f"incident {outcome.incident_id} was already imported from this bundle; nothing changed")
        return 0
    # key
    from ..bundle import keyid, public_key_pem, signing_key
    from ..bundle.keys import key_path

    folder = settings_for(args).workspace
    public = signing_key(folder).public_key()
    pem = public_key_pem(public)
    if args.output:
        with open(args.output, "w", encoding="ascii") as fh:
            fh.write(pem)
    if args.json:
        print_json({"keyid": keyid(public), "public_key_pem": pem, "private_key_path": str(key_path(folder)),
                    "written_to": args.output})
    elif not args.output:
        sys.stdout.write(pem)
    else:
        print(f"wrote the public key (keyid {keyid(public)[:16]}) to {args.output}")
    return 0


def register(sub, common):
    p = sub.add_parser(
        "bundle", parents=[common], help="export, verify and import signed incident bundles",
        description="Signed bundles: one archive with the incident, its redacted evidence, RCA reports (JSON + Markdown) "
                    "and artifacts, and a DSSE-signed (Ed25519) in-toto statement listing every file's sha256.",
        epilog="examples:\n  crashlens bundle export 3f2a1c -o incident.bundle.tar\n"
               "  crashlens bundle key -o workspace.pub.pem\n"
               "  crashlens bundle verify incident.bundle.tar --key alice.pub.pem\n"
               "  crashlens bundle import incident.bundle.tar --key alice.pub.pem",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("export", "verify", "import", "key"),
                   help="export ID -o FILE | verify FILE | import FILE | key (print this workspace's public key)")
    p.add_argument("target", nargs="?", metavar="ID|FILE", help="the incident id (export) or the bundle file (verify, import)")
    p.add_argument("-o", "--output", metavar="FILE", help="export: the bundle file to write; key: write the PEM public key here")
    p.add_argument("--key", metavar="PUB", help="verify/import: the signer's PEM public key (default: this workspace's own key)")
    p.set_defaults(func=cmd_bundle)
