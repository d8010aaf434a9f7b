"""``gateway rules check|test``, ``gateway watchlist check`` and ``gateway consignments``: the controls from
the command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config import Settings, config_path_from, load_settings
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.controls.store import ControlsStore

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(config_path_from(args.config))


def _store(settings: Settings) -> ControlsStore:
    from gateway.controls.store import controls_store

    path = settings.sqlite_path
    if path is not None and not path.exists():
        raise ConfigError(f"store.url: {path} does not exist yet (has the gateway run with [controls] on?)")
    store = controls_store(settings.store.url, path)
    store.open()
    return store


def cmd_rules_check(args: argparse.Namespace) -> int:
    from gateway.controls.rule_files import load_dir, load_file

    if args.path:
        path = Path(args.path)
        rules = load_dir(path) if path.is_dir() else load_file(path)
    else:
        settings = _settings(args)
        if settings.controls.rules_dir is None:
            raise ConfigError("controls.rules_dir is not set; name a rule file or folder")
        rules = load_dir(settings.resolve(settings.controls.rules_dir))
    print(f"ok: {len(rules)} rule(s) valid: {', '.join(f'{r.id} ({r.type})' for r in rules)}")
    return 0


def cmd_rules_test(args: argparse.Namespace) -> int:
    from gateway.controls import alerts
    from gateway.controls.replay import replay
    from gateway.controls.rule_files import load_file
    from gateway.controls.rules import RuleBook
    from gateway.formats import default_adapters
    from gateway.partners import load_partners

    rules = load_file(Path(args.file))
    settings = _settings(args)
    store = _store(settings)
    partners = load_partners(settings.partners_dir, frozenset(default_adapters()))
    until = dt.datetime.now(dt.UTC)
    since = until - dt.timedelta(days=args.days)
    try:
        seen, findings = replay(store, RuleBook(None, rules), since, until)
    finally:
        store.close()
    print(f"{len(rules)} rule(s) from {args.file} over {seen} stored consignment(s) of the last {args.days:g} days:")
    if not findings:
        print("nothing would have fired")
        return 0
    print(f"{len(findings)} alert(s) would have been raised:")
    for finding in findings:
        to = alerts.receivers(partners, finding.destinations, participant_id=settings.gateway.id)
        print(f"\n{finding.at:%Y-%m-%d %H:%M} {finding.rule.id} [{finding.pattern}]")
        print(f"  {finding.summary}")
        for code, description in finding.indicators:
            print(f"  {code}: {description}")
        commodity = finding.commodity
        print(
            f"  commodity: {commodity.description} (HS {commodity.hs or '-'}, "
            f"brand {commodity.brand or '-'}, unit value {commodity.unit_value or '-'})"
        )
        print(
            f"  routes: {', '.join(f'{a}>{b}' for a, b in finding.routes) or '-'}; "
            f"channels: {', '.join(finding.channels) or '-'}; consignments: {len(finding.consignments)}"
        )
        print(f"  action: {finding.rule.action}; would go to: {', '.join(to) or 'nobody (no partner concerned)'}")
    return 0


def cmd_watchlist_check(args: argparse.Namespace) -> int:
    """Validate a regulator's file (or a folder of them) as the gateway would load it; with ``--match``, show
    which goods items of a canonical inventory or declaration it would hold or alert."""
    from gateway.controls.watchlist import Index, load_dir, parse_file, screened

    if args.path:
        path = Path(args.path)
        entries = load_dir(path) if path.is_dir() else parse_file(path)
        where = str(path)
    else:
        settings = _settings(args)
        if settings.controls.watchlist_dir is None:
            raise ConfigError("controls.watchlist_dir is not set; name a watch-list file or folder")
        folder = settings.resolve(settings.controls.watchlist_dir)
        entries, where = load_dir(folder), str(folder)
    by_action = {a: sum(1 for e in entries if e.action == a) for a in ("hold", "alert")}
    keys = {
        "gtin": sum(1 for e in entries if e.gtin),
        "brand+model": sum(1 for e in entries if e.brand and e.model),
        "hs+keywords": sum(1 for e in entries if e.hs and e.keywords),
    }
    print(
        f"ok: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} valid in {where} "
        f"(hold {by_action['hold']}, alert {by_action['alert']}; "
        + ", ".join(f"{k} {v}" for k, v in keys.items())
        + ")"
    )
    if args.match:
        from gateway.formats.canonical import CanonicalAdapter
        from gateway.security.xml import parse_xml

        root = parse_xml(Path(args.match).read_bytes())
        info = CanonicalAdapter().identify(root)
        hits = Index.of(entries).match(screened(root, info.message_type))
        if not hits:
            print(f"{args.match}: no goods item matches")
        for hit in hits:
            print(f"{args.match}: {hit.entry.action}: {hit.describe()} ({hit.pointer})")
    return 0


def cmd_consignments(args: argparse.Namespace) -> int:
    from gateway.controls.model import Query
    from gateway.controls.monitoring import CHANNELS, find

    if args.channel and args.channel not in CHANNELS:
        print(f"error: channel {args.channel!r} unknown; allowed: {', '.join(CHANNELS)}", file=sys.stderr)
        return 2
    settings = _settings(args)
    store = _store(settings)
    try:
        report = find(
            store,
            Query(
                commodity=args.commodity,
                consignor=args.consignor,
                destination=args.destination,
                channel=args.channel,
                days=args.days,
                limit=args.limit,
            ),
        )
    finally:
        store.close()
    print(json.dumps(report.as_json(), indent=2, ensure_ascii=False) if args.json else report.render())
    return 0


def add_commands(sub: argparse._SubParsersAction, with_config: WithConfig) -> None:  # type: ignore[type-arg]
    rules = sub.add_parser("rules", help="risk rule files: check them, try them on stored traffic").add_subparsers(
        dest="rules_command", required=True
    )
    check = with_config(rules.add_parser("check", help="validate rule files (default: [controls] rules_dir)"))
    check.add_argument("path", nargs="?", help="a rule file or folder")
    check.set_defaults(func=cmd_rules_check)
    test = with_config(rules.add_parser("test", help="run a rule file over stored history; print what would fire"))
    test.add_argument("file")
    test.add_argument("--days", type=float, default=90.0, help="history to replay (default 90 days)")
    test.set_defaults(func=cmd_rules_test)

    watch = sub.add_parser(
        "watchlist", help="the watch list of non-compliant products: check a regulator's file"
    ).add_subparsers(dest="watchlist_command", required=True)
    wcheck = with_config(
        watch.add_parser(
            "check",
            help="validate a watch-list file (CSV or JSON) or folder (default: [controls] watchlist_dir)",
        )
    )
    wcheck.add_argument("path", nargs="?", help="a .csv or .json file, or a folder of them")
    wcheck.add_argument("--match", metavar="XML", help="a canonical inventory or declaration: show what would match")
    wcheck.set_defaults(func=cmd_watchlist_check)

    query = with_config(
        sub.add_parser(
            "consignments", help="monitoring: consignments by commodity / consignor / destination, by channel"
        )
    )
    query.add_argument("--commodity", help="HS code prefix (e.g. 9503) or words of the goods description")
    query.add_argument("--consignor", help="consignor id, or words of its name")
    query.add_argument("--destination", help="destination country (ISO 3166-1 alpha-2)")
    query.add_argument("--channel", help="post, express, cbec or cargo")
    query.add_argument("--days", type=float, default=30.0, help="the last N days (default 30)")
    query.add_argument("--limit", type=int, default=50, help="consignments listed (default 50)")
    query.add_argument("--json", action="store_true", help="JSON instead of a table")
    query.set_defaults(func=cmd_consignments)
