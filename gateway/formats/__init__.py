"""One adapter per partner format. Adding a format means adding a module here and registering it below;
ingress and delivery only ever see the :class:`~gateway.formats.base.FormatAdapter` interface."""

from __future__ import annotations

from gateway.formats.base import FormatAdapter
from gateway.formats.canonical import CanonicalAdapter
from gateway.formats.ceb import CebAdapter
from gateway.formats.ics_ens import IcsEnsAdapter
from gateway.formats.wco_dms import WcoDmsAdapter


def default_adapters() -> dict[str, FormatAdapter]:
    adapters: list[FormatAdapter] = [CanonicalAdapter(), CebAdapter()]
    adapters.append(WcoDmsAdapter())
    adapters.append(IcsEnsAdapter())
    return {adapter.name: adapter for adapter in adapters}


__all__ = ["FormatAdapter", "default_adapters"]
