"""``gateway partners add|update|suspend|resume|remove|rotate-cert|test``: partner administration.

Each change works on the partner files directly (validated, the whole folder checked, audited in the store;
the running gateway picks the files up on its next look at the folder, on SIGHUP or on an admin reload), or,
with ``--api URL``, through a running gateway's admin API (which validates, writes, reloads and audits).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.admin.partners import Change, PartnerAdmin
from gateway.config import Settings, config_path_from, load_settings
from gateway.errors import ConfigError, GatewayError
from gateway.partners.files import PartnerFolder

ConfigArg = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(config_path_from(args.config))


def _list(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The partner file fields given on the command line (certificates as PEM text)."""
    data: dict[str, Any] = {}
    for key in ("name", "role", "country", "format"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    for key in ("sends", "receives"):
        if (values := _list(getattr(args, key))) is not None:
            data[key] = values
    if args.samples_dir is not None:
        data["samples_dir"] = args.samples_dir
    if args.url is not None:
        data["delivery"] = {"transport": "http", "url": args.url}
    if args.cert:
        try:
            data["certificates"] = [Path(c).read_text(encoding="ascii") for c in args.cert]
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--cert: cannot read a PEM certificate: {exc}") from None
    return data


# Two ways to make a change ---------------------------------------------------------------------------------


def cli_actor() -> str:
    """``cli:<user>``, the user reduced to what ``X-Gateway-Actor`` accepts (A-Z a-z 0-9 . _ @ $ \\ -, 64)."""
    user = re.sub(r"[^A-Za-z0-9._@$\\-]", "_", getpass.getuser())[:64] or "unknown"
    return f"cli:{user}"


async def _on_files(settings: Settings, change: Callable[[PartnerAdmin], Awaitable[Change]]) -> Change:
    from gateway.formats import default_adapters
    from gateway.store import open_store

    store = open_store(settings.store.url, settings.sqlite_path)
    await store.open()  # no audit record, no change
    try:
        folder = PartnerFolder(settings.partners_dir, frozenset(default_adapters()))
        return await change(PartnerAdmin.for_files(folder, store, cli_actor()))
    finally:
        await store.close()


def _token(args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    path = Path(args.token_file) if args.token_file else None
    if path is None:
        settings = _settings(args)
        path = settings.resolve(settings.admin.token_file)
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"--token-file: cannot read the admin token from {path}: {exc.strerror}") from None


async def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> dict[str, Any]:
    import aiohttp

    url = args.api.rstrip("/") + "/v1/admin" + path
    # The gateway records this user, not just "admin-api", as the actor of the change (its audit log).
    headers = {"Authorization": f"Bearer {_token(args)}", "X-Gateway-Actor": cli_actor()}
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=60)
            ) as response,
        ):
            answer: dict[str, Any] = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
        raise GatewayError(f"{method} {url} failed: {exc!r}") from None
    if response.status >= 300:
        raise GatewayError(f"{method} {url}: HTTP {response.status} {answer.get('error')}: {answer.get('message')}")
    return answer


def _report(change: Change | dict[str, Any], *, through_api: bool) -> int:
    detail = change.detail if isinstance(change, Change) else change["detail"]
    print(f"ok: {detail}")
    if through_api:
        reloaded = change.get("reloaded") if isinstance(change, dict) else None
        print(f"the gateway reloaded its partners ({reloaded})")
    else:
        print(
            "the running gateway picks this up at its next look at the partners folder "
            "([admin] watch_interval), "
            "on SIGHUP, or on POST /v1/admin/partners/reload"
        )
    return 0


# Commands --------------------------------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace) -> int:
    fields = _fields(args)
    if args.command_name == "add":
        missing = [f"--{k}" for k in ("name", "role", "country") if k not in fields] + (
            [] if "certificates" in fields else ["--cert"]
        )
        if missing:
            raise ConfigError(f"partners add {args.id}: {', '.join(missing)} required")
    if args.api:
        current: dict[str, Any] = {}
        if args.command_name == "update":
            current = asyncio.run(_call(args, "GET", f"/partners/{args.id}"))["spec"]
        return _report(asyncio.run(_call(args, "PUT", f"/partners/{args.id}", {**current, **fields})), through_api=True)

    settings = _settings(args)

    async def change(admin: PartnerAdmin) -> Change:
        current: dict[str, Any] = {}
        if args.command_name == "update":
            current = admin.folder.read(args.id)
        elif admin.folder.exists(args.id):
            raise ConfigError(f"partner {args.id} exists already: use `gateway partners update {args.id}`")
        return await admin.put(args.id, {**current, **fields})

    return _report(asyncio.run(_on_files(settings, change)), through_api=False)


def cmd_suspend(args: argparse.Namespace) -> int:
    suspended = args.command_name == "suspend"
    if args.api:
        answer = asyncio.run(_call(args, "POST", f"/partners/{args.id}/{args.command_name}"))
        return _report(answer, through_api=True)
    change = asyncio.run(_on_files(_settings(args), lambda admin: admin.set_suspended(args.id, suspended)))
    return _report(change, through_api=False)


def cmd_remove(args: argparse.Namespace) -> int:
    if args.api:
        return _report(asyncio.run(_call(args, "DELETE", f"/partners/{args.id}")), through_api=True)
    return _report(asyncio.run(_on_files(_settings(args), lambda admin: admin.remove(args.id))), through_api=False)


def cmd_rotate(args: argparse.Namespace) -> int:
    try:
        pem = Path(args.certificate).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{args.certificate}: cannot read the certificate: {exc.strerror}") from None
    if args.api:
        body = {"certificate": pem.decode("ascii", "replace"), "drop_expired": args.drop_expired}
        return _report(asyncio.run(_call(args, "POST", f"/partners/{args.id}/certificates", body)), through_api=True)
    change = asyncio.run(
        _on_files(
            _settings(args),
            lambda admin: admin.rotate_certificate(args.id, pem, drop_expired=args.drop_expired),
        )
    )
    return _report(change, through_api=False)


def cmd_test(args: argparse.Namespace) -> int:
    if args.api:
        answer = asyncio.run(_call(args, "POST", f"/partners/{args.id}/test"))
        print(answer["text"])
        return 0 if answer["passed"] else 1
    from gateway.conformance import Conditions, run_conformance, samples_folder
    from gateway.formats import default_adapters
    from gateway.partners import load_partners

    settings = _settings(args)
    adapters = default_adapters()
    registry = load_partners(settings.partners_dir, frozenset(adapters))
    partner = registry.get(args.id)
    if partner is None:
        raise ConfigError(f"no partner {args.id!r} in {settings.partners_dir}")
    report = run_conformance(
        Conditions.of(settings, registry, adapters), partner, samples_folder(partner, settings.partners_dir)
    )
    print(report.render())
    return 0 if report.passed else 1


def add_commands(partners: Any, with_config: ConfigArg) -> None:
    """Add the administration subcommands to ``gateway partners``."""

    def command(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = with_config(partners.add_parser(name, help=help_text))
        parser.add_argument("id", help="the partner id (its file is partners/<id>.toml)")
        api = parser.add_argument_group("through a running gateway's admin API instead of the files")
        api.add_argument("--api", metavar="URL", help="the gateway's base URL, e.g. http://127.0.0.1:8080")
        api.add_argument("--token", help="admin token (default: read from --token-file)")
        api.add_argument("--token-file", help="default: [admin] token_file of the configuration")
        parser.set_defaults(func=func, command_name=name)
        return parser

    for name, help_text in (
        ("add", "onboard a new partner"),
        ("update", "change fields of a partner (those not given are kept; --cert replaces the whole list)"),
    ):
        parser = command(name, help_text, cmd_add)
        parser.add_argument("--name")
        parser.add_argument("--role", choices=["customs", "single-window"])
        parser.add_argument("--country", help="ISO 3166-1 alpha-2, e.g. FR")
        parser.add_argument("--format", help="the partner's message format (adapter), e.g. canonical")
        parser.add_argument(
            "--cert",
            action="append",
            help="a trusted certificate (PEM file); repeat for several"
            + (
                ". REPLACES the partner's whole certificate list with the ones given: to add the next certificate "
                "beside the current ones use `partners rotate-cert`; to stop trusting an old certificate that is "
                "still valid, give every certificate to keep"
                if name == "update"
                else ""
            ),
        )
        parser.add_argument("--sends", help="message types it may send, comma separated")
        parser.add_argument("--receives", help="message types it receives, comma separated")
        parser.add_argument("--url", help="its HTTP inbox (required when it receives)")
        parser.add_argument("--samples-dir", help="folder of its sample messages (for `partners test`)")
    command(
        "suspend",
        "answer what it sends with 503 partner-suspended (send again later) and hold what is routed to it in "
        "its queue, undelivered, until it is resumed",
        cmd_suspend,
    )
    command("resume", "lift a suspension: what was held for it is delivered", cmd_suspend)
    command("remove", "delete the partner file", cmd_remove)
    rotate = command("rotate-cert", "trust the partner's next certificate beside the current one", cmd_rotate)
    rotate.add_argument("certificate", metavar="NEW.crt")
    rotate.add_argument("--drop-expired", action="store_true", help="also stop trusting expired certificates")
    command("test", "run its sample messages through parse, signature, schema, mapping and routing", cmd_test)
