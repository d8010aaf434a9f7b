"""Partner changes: validated, written as partner files, made live (a reload in a running gateway, a check of the
whole folder from the command line), undone when refused, and audited."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigError, GatewayError, Unavailable, UnknownPartner
from gateway.partners.files import Backup, PartnerFolder, render_partner, set_key, spec_data
from gateway.partners.model import Partner
from gateway.partners.registry import RegistryChanges, load_partners
from gateway.security.certificates import load_certificate
from gateway.store.base import Store

log = logging.getLogger(__name__)

PEM_MARK = "-----BEGIN"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def expiry_warnings(partners: Iterable[Partner], horizon_days: float, now: dt.datetime | None = None) -> list[str]:
    """One line per partner whose trust runs out within the horizon (no later certificate to take over)."""
    now = now or _now()
    lines = []
    for partner in partners:
        if not partner.certificates:
            continue
        last = max(partner.certificates, key=lambda c: c.not_after)
        days = last.days_left(now)
        if days < horizon_days:
            when = f"expired {-days:.1f} days ago" if days < 0 else f"expires in {days:.1f} days"
            lines.append(
                f"partner {partner.id}: its last trusted certificate {last.path.name} ({last.subject}) "
                f"{when} ({last.not_after.isoformat()}); add the next one: "
                f"gateway partners rotate-cert {partner.id} NEW.crt"
            )
    return lines


async def audit(
    store: Store | None,
    actor: str,
    action: str,
    partner: str | None,
    *,
    detail: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record a configuration event; a store that is down loses the record (logged), not the change."""
    if store is None:
        return
    try:
        await store.record_config_event(actor, action, partner, detail=detail, before=before, after=after)
    except Unavailable:
        log.exception("could not record the configuration event %s %s by %s", action, partner, actor)


@dataclass(frozen=True)
class Change:
    action: str
    partner: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str
    changes: RegistryChanges | None = None


class PartnerAdmin:
    """Validated, audited changes to partner files. ``apply`` makes the folder live (reload) or checks it."""

    def __init__(
        self,
        folder: PartnerFolder,
        store: Store | None,
        actor: str,
        apply: Callable[[], Awaitable[RegistryChanges | None]],
        lock: asyncio.Lock | None = None,
    ) -> None:
        self.folder = folder
        self.store = store
        self.actor = actor
        self.apply = apply
        self.lock = lock or asyncio.Lock()

    @classmethod
    def for_files(cls, folder: PartnerFolder, store: Store | None, actor: str) -> PartnerAdmin:
        """No gateway in this process: a change must leave a folder the gateway will load (its watcher, SIGHUP
        or an admin reload then makes it live)."""

        async def apply() -> None:
            load_partners(folder.dir, folder.known_formats)

        return cls(folder, store, actor, apply)

    # The changes -----------------------------------------------------------------------------------------

    async def put(self, partner_id: str, payload: dict[str, Any]) -> Change:
        """Create or replace a partner from the partner file's fields; certificates as PEM text or paths."""
        async with self.lock:
            before = self._before(partner_id, must_exist=False)
            action = "update" if before is not None else "create"
            created: list[str] = []
            try:
                data = self._payload(partner_id, payload, created)
                partner = self.folder.validate(data)
            except GatewayError as exc:
                self._forget(created)
                await self._refused(action, partner_id, exc, before, payload)
                raise
            after = spec_data(partner.spec)
            text = render_partner(after, comment=f"Written by {self.actor} on {_now():%Y-%m-%d %H:%M} UTC.")
            new_certs = tuple(self.folder.dir / c for c in created)
            return await self._commit(
                action,
                partner_id,
                before,
                after,
                lambda: self.folder.write(partner_id, text, new_certs),
                f"{action}d partner {partner_id}",
            )

    async def remove(self, partner_id: str) -> Change:
        async with self.lock:
            before = self._before(partner_id)
            return await self._commit(
                "delete",
                partner_id,
                before,
                None,
                lambda: self.folder.remove(partner_id),
                f"removed partner {partner_id} (what is still queued for it is dead-lettered, retryable if it returns)",
            )

    async def set_suspended(self, partner_id: str, suspended: bool) -> Change:
        action = "suspend" if suspended else "resume"
        async with self.lock:
            before = self._before(partner_id)
            after = {**before, "suspended": suspended}
            text = self.folder.read_text(partner_id)
            new_text = set_key(text, "suspended", suspended) or render_partner(after)
            detail = (
                f"partner {partner_id} suspended: what it sends is answered 503 partner-suspended; what is routed "
                "to it is held in its queue, undelivered, until it is resumed"
                if suspended
                else f"partner {partner_id} resumed: what was held for it is delivered"
            )
            return await self._commit(
                action, partner_id, before, after, lambda: self.folder.write(partner_id, new_text), detail
            )

    async def rotate_certificate(self, partner_id: str, certificate: bytes, *, drop_expired: bool = False) -> Change:
        """Trust the next certificate beside the current ones (each used only inside its validity window)."""
        async with self.lock:
            before = self._before(partner_id)
            created: list[str] = []
            try:
                relative, new = self.folder.store_certificate(
                    partner_id, certificate, allow_weak=bool(before.get("legacy_algorithms"))
                )
                if new:
                    created.append(relative)
                current = [str(c) for c in before.get("certificates", [])]
                if relative in current:
                    raise ConfigError(f"certificates: {relative} is already trusted for {partner_id}")
                incoming = load_certificate(self.folder.dir / relative)
                now = _now()
                if incoming.not_after < now:
                    raise ConfigError(f"certificates: the new certificate expired on {incoming.not_after.isoformat()}")
                dropped = [c for c in current if drop_expired and self._expired(c, now)]
                certificates = [c for c in current if c not in dropped] + [relative]
            except GatewayError as exc:
                self._forget(created)
                await self._refused("rotate-cert", partner_id, exc, before, None)
                raise
            after = {**before, "certificates": certificates}
            text = self.folder.read_text(partner_id)
            new_text = set_key(text, "certificates", certificates) or render_partner(after)
            starts = "trusted now" if incoming.valid_at(now) else f"trusted from {incoming.not_before.isoformat()}"
            detail = f"added {relative} ({incoming.subject}, {starts} until {incoming.not_after.isoformat()})" + (
                f"; dropped expired {', '.join(dropped)}" if dropped else ""
            )
            new_certs = tuple(self.folder.dir / c for c in created)
            return await self._commit(
                "rotate-cert",
                partner_id,
                before,
                after,
                lambda: self.folder.write(partner_id, new_text, new_certs),
                detail,
            )

    # Helpers ---------------------------------------------------------------------------------------------

    def _before(self, partner_id: str, *, must_exist: bool = True) -> dict[str, Any]:
        before = self.folder.read_optional(partner_id)
        if before is None and must_exist:
            raise UnknownPartner(f"no partner {partner_id!r} in {self.folder.dir}")
        return before  # type: ignore[return-value]

    def _payload(self, partner_id: str, payload: dict[str, Any], created: list[str]) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ConfigError("the body must be a JSON object with the partner file's fields")
        data = dict(payload)
        if data.setdefault("id", partner_id) != partner_id:
            raise ConfigError(f"id: {data['id']!r} differs from the partner id {partner_id!r} in the URL")
        certificates = data.get("certificates")
        if not isinstance(certificates, list) or not certificates or not all(isinstance(c, str) for c in certificates):
            raise ConfigError(
                "certificates: a non-empty list is required, each a PEM certificate or a path inside the "
                "partners folder (e.g. certs/x.crt)"
            )
        resolved = []
        for value in certificates:
            if PEM_MARK in value:
                relative, new = self.folder.store_certificate(
                    partner_id,
                    value.encode("ascii", "replace"),
                    allow_weak=bool(data.get("legacy_algorithms")),
                )
                if new:
                    created.append(relative)
            else:
                relative = self.folder.certificate_reference(value)
            if relative not in resolved:
                resolved.append(relative)
        data["certificates"] = resolved
        return data

    def _expired(self, relative: str, now: dt.datetime) -> bool:
        try:
            return load_certificate(self.folder.dir / relative, allow_weak=True).not_after < now
        except ConfigError:
            return False

    def _forget(self, created: list[str]) -> None:
        for relative in created:
            (self.folder.dir / relative).unlink(missing_ok=True)

    async def _refused(
        self, action: str, partner_id: str, exc: GatewayError, before: dict[str, Any] | None, attempted: Any
    ) -> None:
        after = attempted if isinstance(attempted, dict) else None
        if after is not None and isinstance(after.get("certificates"), list):  # PEM text is not worth keeping
            after = {
                **after,
                "certificates": [c if PEM_MARK not in str(c) else "(PEM)" for c in after["certificates"]],
            }
        await audit(
            self.store,
            self.actor,
            f"{action}-refused",
            partner_id,
            detail=exc.message,
            before=before,
            after=after,
        )

    async def _commit(
        self,
        action: str,
        partner_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        write: Callable[[], Backup],
        detail: str,
    ) -> Change:
        backup = write()
        try:
            changes = await self.apply()
        except (ConfigError, Unavailable) as exc:
            self.folder.restore(backup)
            await self._refused(action, partner_id, exc, before, after)
            raise
        await audit(self.store, self.actor, action, partner_id, detail=detail, before=before, after=after)
        log.info("%s: %s", self.actor, detail)
        return Change(action, partner_id, before, after, detail, changes)
