"""The ``gateway`` command: run the gateway, administer its partners and keys, send test messages."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway import logs
from gateway.cli_controls import add_commands as add_controls_commands
from gateway.cli_partners import add_commands as add_partner_commands
from gateway.config import Settings, config_path_from, is_participant_id, load_settings
from gateway.errors import ConfigError, GatewayError

log = logging.getLogger("gateway")

DESCRIPTION = """\
The customs exchange gateway: partners (foreign customs administrations, the national single window) send
it signed XML messages over HTTP; it verifies each signature against the partner's pinned certificates,
validates and maps the message to a canonical WCO-aligned form, routes it over RabbitMQ, and delivers it to
each receiver in the receiver's own format, signed with this administration's key, retrying until it is
delivered. Every message is answered with a signed receipt.

Start it with `gateway run`; manage partners with `gateway partners ...` (files under the configured
partners folder, or a running gateway with --api URL), keys with `gateway keys ...`, and test a
connection with `gateway send`. `gateway COMMAND --help` explains each command."""


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(config_path_from(args.config))


def cmd_run(args: argparse.Namespace) -> int:
    from gateway import logs
    from gateway.supervisor import run

    if args.log_format:  # before the settings: they (and spawned workers) read it from the environment
        os.environ["GATEWAY_LOG__FORMAT"] = args.log_format
    settings = _settings(args)
    logs.configure(settings.log.format, verbose=args.verbose)
    return run(settings, args.workers if args.workers is not None else settings.gateway.workers)


def cmd_partners_list(args: argparse.Namespace) -> int:
    from gateway.admin.views import PartnerView
    from gateway.formats import default_adapters
    from gateway.partners import load_partners

    settings = _settings(args)
    registry = load_partners(settings.partners_dir, frozenset(default_adapters()))
    print(f"{'ID':<20} {'ROLE':<14} {'CC':<3} {'FORMAT':<10} {'SENDS':<28} {'RECEIVES':<28} CERT EXPIRY (days)")
    for partner in registry.values():
        view = PartnerView.of(partner)
        expiry = ", ".join(f"{c.days_left:.0f}" for c in view.certificates)
        state = " (suspended)" if view.suspended else ""
        print(
            f"{view.id:<20} {view.role:<14} {view.country:<3} {view.format:<10} "
            f"{','.join(view.sends) or '-':<28} {','.join(view.receives) or '-':<28} {expiry}{state}"
        )
    return 0


def cmd_partners_show(args: argparse.Namespace) -> int:
    from gateway.admin.views import PartnerView
    from gateway.formats import default_adapters
    from gateway.partners import load_partners

    settings = _settings(args)
    registry = load_partners(settings.partners_dir, frozenset(default_adapters()))
    partner = registry.get(args.id)
    if partner is None:
        print(f"error: no partner {args.id!r} in {settings.partners_dir}", file=sys.stderr)
        return 1
    print(json.dumps(PartnerView.of(partner).as_json(), indent=2))
    return 0


def cmd_partners_check(args: argparse.Namespace) -> int:
    from gateway.formats import default_adapters
    from gateway.partners import load_partner, load_partners

    formats = frozenset(default_adapters())
    if args.path:
        path = Path(args.path)
        if path.is_dir():
            registry = load_partners(path, formats)
            names = list(registry)
        else:
            names = [load_partner(path, path.parent, formats).id]
    else:
        settings = _settings(args)
        names = list(load_partners(settings.partners_dir, formats))
    print(f"ok: {len(names)} partner file(s) valid: {', '.join(names)}")
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    from gateway.security.certificates import new_key_and_certificate, write_key_and_certificate

    if not is_participant_id(args.id):
        print(f"error: id {args.id!r} must be 2-64 characters of a-z 0-9 -", file=sys.stderr)
        return 2
    out = Path(args.out)
    key_path, cert_path = out / f"{args.id}.key", out / f"{args.id}.crt"
    if (key_path.exists() or cert_path.exists()) and not args.force:
        print(f"error: {key_path} or {cert_path} exists; use --force to replace it", file=sys.stderr)
        return 1
    key, cert = new_key_and_certificate(args.id, days=args.days, algorithm=args.algorithm)
    write_key_and_certificate(key, cert, key_path, cert_path)
    print(f"private key: {key_path} (mode 600; keep it secret)")
    print(f"certificate: {cert_path} (valid {args.days} days; give it to your partners)")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from gateway.sender import send_file

    if args.to is not None and not args.fresh:
        print("error: --to goes with --fresh (without --fresh the file is sent as it is)", file=sys.stderr)
        return 2
    options: dict[str, Any] = {"fresh": args.fresh, "sender": args.as_ if args.fresh else None, "receiver": args.to}
    if args.out is not None:
        from gateway.sender import sign_file, sign_with_images

        if args.images is not None:
            signed, _ = sign_with_images(Path(args.file), Path(args.key), Path(args.cert), Path(args.images), **options)
        else:
            signed = sign_file(Path(args.file), Path(args.key), Path(args.cert), **options)
        Path(args.out).write_bytes(signed)
        print(f"signed as {args.as_}: {args.out} (not sent)")
        return 0
    url = args.url or f"http://127.0.0.1:8080/v1/partners/{args.as_}/messages"
    images = Path(args.images) if args.images is not None else None
    status, body = asyncio.run(
        send_file(Path(args.file), Path(args.key), Path(args.cert), url, images=images, **options)
    )
    print(f"HTTP {status}")
    print(body.decode("utf-8", "replace"))
    return 0 if status < 300 else 1


def _key_state(key: dict[str, Any]) -> str:
    if key["in_use"]:
        return "in use"
    return "not in use yet" if key["slot"] == "next" else "no longer in use"


def cmd_keys_show(args: argparse.Namespace) -> int:
    """The gateway's certificates (current, next, SM2) as partners fetch them from ``GET /v1/keys``."""
    from gateway.security.keyring import load_keyring

    keys = load_keyring(_settings(args)).published(files=True)  # loading checks every key against its cert
    if args.json:
        print(json.dumps(keys, indent=2))
        return 0
    for key in keys:
        state = _key_state(key)
        when = [f"signs {word} {key[f'signs_{word}']}" for word in ("from", "until") if key[f"signs_{word}"]]
        print(f"{key['signature_algorithm']} signing key, {key['slot']} ({', '.join([state, *when])})")
        print(f"  certificate {key['cert_file']}: {key['subject']}, serial {key['serial']}")
        print(f"  sha256 {key['sha256']}")
        print(f"  valid {key['not_before']} to {key['not_after']} ({key['days_left']:.1f} days left)")
        print(key["certificate"])
    return 0


def cmd_partners_ping(args: argparse.Namespace) -> int:
    """Send a signed test message to a partner's inbox and report what happened (exit 1 unless 2xx)."""
    if args.api:
        from gateway.cli_partners import _call

        answer = asyncio.run(_call(args, "POST", f"/partners/{args.id}/ping"))
        print(json.dumps(answer, indent=2) if args.json else answer["text"])
        return 0 if answer["ok"] else 1
    from gateway.admin.ping import ping_partner
    from gateway.formats import default_adapters
    from gateway.partners import load_partners
    from gateway.security.keyring import load_keyring

    settings = _settings(args)
    adapters = default_adapters()
    registry = load_partners(settings.partners_dir, frozenset(adapters))
    partner = registry.get(args.id)
    if partner is None:
        print(f"error: no partner {args.id!r} in {settings.partners_dir}", file=sys.stderr)
        return 1
    result = asyncio.run(
        ping_partner(
            partner,
            adapter=adapters[partner.format],
            keyring=load_keyring(settings),
            participant_id=settings.gateway.id,
            default_timeout=settings.delivery.timeout,
        )
    )
    print(json.dumps(result.as_json(), indent=2) if args.json else result.render())
    return 0 if result.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return asyncio.run(run_demo(config=args.config, count=args.count, interval=args.interval))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", help="gateway.toml (default: $GATEWAY_CONFIG, else ./gateway.toml)")
        return p

    run = with_config(
        sub.add_parser(
            "run",
            help="run the gateway: receive, verify, route and deliver messages (SIGHUP reloads the partner files, "
            "SIGTERM stops after what is in flight)",
        )
    )
    run.add_argument("--workers", type=int, help="processes sharing the port (default: [gateway] workers)")
    run.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="json: one JSON object a line with time, level, event and the message's facts (default: [log] format)",
    )
    run.set_defaults(func=cmd_run)

    partners = sub.add_parser(
        "partners",
        help="list, check, onboard, change, suspend, remove and test partners (their files, or a running "
        "gateway with --api)",
    ).add_subparsers(dest="partners_command", required=True)
    with_config(partners.add_parser("list", help="partners with their certificates' days to expiry")).set_defaults(
        func=cmd_partners_list
    )
    show = with_config(partners.add_parser("show", help="one partner in full"))
    show.add_argument("id", help="the partner id")
    show.set_defaults(func=cmd_partners_show)
    check = with_config(partners.add_parser("check", help="validate partner files and certificates"))
    check.add_argument("path", nargs="?", help="a partner file or folder (default: the configured folder)")
    check.set_defaults(func=cmd_partners_check)
    add_partner_commands(partners, with_config)
    ping = with_config(
        partners.add_parser("ping", help="connectivity check: a signed test message to the partner's inbox")
    )
    ping.add_argument("id", help="the partner id")
    ping.add_argument("--api", metavar="URL", help="through a running gateway's admin API (its base URL)")
    ping.add_argument("--token", help="admin token (with --api; default: read from --token-file)")
    ping.add_argument("--token-file", help="default: [admin] token_file of the configuration")
    ping.add_argument("--json", action="store_true", help="the result as JSON")
    ping.set_defaults(func=cmd_partners_ping)
    add_controls_commands(sub, with_config)

    keys = sub.add_parser("keys", help="keys and certificates").add_subparsers(dest="keys_command", required=True)
    new = keys.add_parser("new", help="a new key and self-signed certificate")
    new.add_argument("id", help="whose key: the participant id, also the certificate's common name")
    new.add_argument("--out", default="keys", help="folder for ID.key (mode 600) and ID.crt (default: keys)")
    new.add_argument("--days", type=int, default=365, help="certificate validity (default: 365)")
    new.add_argument(
        "--algorithm", choices=["rsa", "ec", "sm2"], default="rsa", help="rsa (2048, default), ec (P-256) or sm2"
    )
    new.add_argument("--force", action="store_true", help="replace existing files")
    new.set_defaults(func=cmd_keys_new)
    show_keys = with_config(
        keys.add_parser("show", help="the gateway's certificates (current, next, SM2) as PEM with validity")
    )
    show_keys.add_argument("--json", action="store_true", help="as GET /v1/admin/keys answers")
    show_keys.set_defaults(func=cmd_keys_show)

    send = sub.add_parser(
        "send",
        help="sign FILE as partner ID and POST it to the gateway (a partner's connectivity test)",
        description="Sign FILE with the partner's key, as the partner would, and POST it to the gateway's inbox "
        "for that partner; prints the HTTP status and the gateway's signed receipt (exit 1 unless 2xx). The "
        "key's type decides the signature: RSA or EC keys sign XML-DSig RSA/ECDSA-SHA256, an SM2 key SM2-SM3.",
    )
    send.add_argument("--as", dest="as_", required=True, metavar="ID", help="the partner sending it")
    send.add_argument("--key", required=True, help="the partner's private key (PEM)")
    send.add_argument("--cert", required=True, help="the partner's certificate (PEM), one its partner file trusts")
    send.add_argument(
        "--url", help="where to POST (default: http://127.0.0.1:8080/v1/partners/ID/messages, ID from --as)"
    )
    send.add_argument(
        "--fresh",
        action="store_true",
        help="send it as a new message: canonical Envelope: new MessageID and CreationDateTime, Sender set to "
        "the --as partner (Receiver kept, or --to); CEB message: a new guid (CEB messages name no sender or "
        "receiver: the URL says who sends, routing rules where it goes); other formats are refused (edit their "
        "message id and time in the file). Without --fresh the file is sent as it is (to test duplicates)",
    )
    send.add_argument(
        "--to", metavar="RECEIVER", help="with --fresh: set a canonical Envelope's Receiver to this participant"
    )
    send.add_argument("--out", metavar="PATH", help="write the signed document to PATH instead of sending it")
    send.add_argument(
        "--images",
        metavar="DIR",
        help="an inspection result's image files (each Image's FileName, in DIR): their sizes and SHA-256 are "
        "written into the message before it is signed, and it is sent as multipart/related with them",
    )
    send.add_argument("file", help="the message (XML); any signature it has is replaced")
    send.set_defaults(func=cmd_send)

    demo = with_config(sub.add_parser("demo", help="the gateway with two simulated partners exchanging alerts"))
    demo.add_argument("--count", type=int, default=0, help="stop after this many messages each way (0: forever)")
    demo.add_argument("--interval", type=float, default=3.0, help="seconds between messages")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure("text", verbose=args.verbose)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"configuration error:\n{exc.message}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result
