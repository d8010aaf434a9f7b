"""Per-message mapping cost of the partner-format adapters, on the published samples.

``python -m bench.mapping_cost [--iterations N]`` times, per valid sample of ``tests/fixtures`` and for the
largest DEC-DMS declaration generated from HMRC's schema (every path, repeatable elements twice):

    in    parse the bytes (the gateway's safe parser), identify, validate against the partner's schema and map
          to the canonical envelope (which includes checking the payload against the canonical schema)
    out   map the canonical envelope back to the partner's format (``from_canonical``), then validate it
          against the partner's schema, as the delivery worker does

Mean and median over N runs (300 by default) after a warm-up; no network, no signatures (measured elsewhere).
Performance is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

from lxml import etree

from gateway.formats.base import FormatAdapter
from gateway.formats.canonical import set_header
from gateway.formats.ceb import CebAdapter
from gateway.formats.ics_ens import IcsEnsAdapter
from gateway.formats.wco_dms import WcoDmsAdapter
from gateway.mapping.ceb import KINDS
from gateway.security.xml import parse_xml
from tests.helpers import FIXTURES

DMS = FIXTURES / "wco-dec-dms" / "samples"
ICS = FIXTURES / "ics-ens"


def _placeholder_fixed(data: bytes) -> bytes:
    """The CC315A sample that fills every group, with a real transport mode instead of its placeholder 42."""
    return data.replace(b"<TraModAtBorHEA76>42</TraModAtBorHEA76>", b"<TraModAtBorHEA76>4</TraModAtBorHEA76>")


def samples() -> list[tuple[str, FormatAdapter, bytes]]:
    dms, ics = WcoDmsAdapter(), IcsEnsAdapter()
    out: list[tuple[str, FormatAdapter, bytes]] = []
    for path in sorted((DMS / "declarations").glob("*.xml")):
        out.append((f"wco-dms DEC {path.stem.split('__')[0]}", dms, path.read_bytes()))
    for path in sorted((DMS / "notifications_namespaced").glob("*Function_Code_02.xml")):
        out.append((f"wco-dms RES {path.stem.split('__')[1][:10]}", dms, path.read_bytes()))
    for path in (
        ICS / "ens_store" / "examples" / "CC315A_reduced.xml",
        ICS / "ens_store" / "examples" / "validSubmission.xml",
        ICS / "ens_store" / "test_xmls" / "315NoOptional.xml",
    ):
        out.append((f"ics-ens CC315A {path.stem}", ics, path.read_bytes()))
    full = ICS / "ens_store" / "test_xmls" / "CC315A-schemaValidSample-v11-2.xml"
    out.append(("ics-ens CC315A all groups", ics, _placeholder_fixed(full.read_bytes())))
    for path in sorted((ICS / "intervention_cc351a" / "test_xmls").glob("Intervention*.xml")):
        out.append((f"ics-ens CC351A {path.stem}", ics, path.read_bytes()))
    out.extend(ceb_samples())
    out.append(("wco-dms DEC generated, every path, repeated", dms, largest_generated_declaration()))
    return out


def ceb_samples() -> list[tuple[str, FormatAdapter, bytes]]:
    """Every CEB message the gateway maps: the GACC import samples (CEB311/411/511/513/621/623/625/711), the export
    messages and the tax messages CEB816/818 as the tests generate them from the XSDs (most GACC export samples are
    invalid as published; there is no tax sample), and one CEB816 of 99 goods lines (the XSD's maximum per bill)."""
    from tests.formats import ceb_samples as generated  # the generator lives with the CEB tests

    adapter = CebAdapter()
    out: list[tuple[str, FormatAdapter, bytes]] = []
    for path in sorted((FIXTURES / "ceb" / "samples" / "import").glob("*.xml")):
        if path.stem in KINDS:
            out.append((f"ceb {path.stem} (GACC sample)", adapter, path.read_bytes()))
    purchase = generated.Purchase()
    for name, root in (
        ("CEB816Message", generated.tax_bill(purchase)),
        ("CEB818Message", generated.tax_status(purchase)),
        ("CEB603Message", generated.export_inventory(purchase)),
        ("CEB605Message", generated.export_cancellation(purchase)),
        ("CEB505Message", generated.export_waybill(purchase)),
        ("CEB403Message", generated.payment_receipt(purchase)),
        ("CEB507Message", generated.export_arrival(purchase)),
        ("CEB607Message", generated.consignment_list(purchase)),
        ("CEB509Message", generated.export_departure(purchase)),
        ("CEB701Message", generated.summary_application(purchase)),
    ):
        out.append((f"ceb {name} (generated)", adapter, etree.tostring(root, xml_declaration=True, encoding="UTF-8")))
    lines = tuple(generated.Line(f"商品{n}", "0402290000", "122", Decimal(1), Decimal(10)) for n in range(1, 100))
    big = generated.tax_bill(generated.Purchase(lines=lines))
    out.append(
        ("ceb CEB816Message 99 goods lines", adapter, etree.tostring(big, xml_declaration=True, encoding="UTF-8"))
    )
    return out


def largest_generated_declaration() -> bytes:
    """The largest declaration the schema-driven coverage test generates from WCO_DEC_2_DMS.xsd: every element
    and attribute present, every repeatable element twice (tests/formats/dec_instances.py)."""
    from tests.formats.dec_instances import Draw, instance  # the generator lives with the coverage test

    return etree.tostring(instance(Draw("full")), xml_declaration=True, encoding="UTF-8")


def _timed(action: Callable[[], object], iterations: int) -> tuple[float, float]:
    for _ in range(min(20, iterations)):
        action()
    runs = []
    for _ in range(iterations):
        start = time.perf_counter()
        action()
        runs.append(time.perf_counter() - start)
    return statistics.fmean(runs), statistics.median(runs)


def measure(iterations: int) -> list[tuple[str, int, float, float, float, float]]:
    rows = []
    for name, adapter, data in samples():

        def inbound(adapter: FormatAdapter = adapter, data: bytes = data) -> etree._Element:
            root = parse_xml(data)
            info = adapter.identify(root)
            adapter.validate(root)
            return adapter.to_canonical(root, info, "bench-partner")

        envelope = inbound()
        set_header(envelope, "Receiver", "bench-receiver")

        def outbound(adapter: FormatAdapter = adapter, envelope: etree._Element = envelope) -> None:
            adapter.validate(adapter.from_canonical(envelope, "bench-receiver"))

        in_mean, in_median = _timed(inbound, iterations)
        out_mean, out_median = _timed(outbound, iterations)
        rows.append((name, len(data), in_mean, in_median, out_mean, out_median))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    print(f"per-message mapping cost, {args.iterations} runs each (ms: mean / median)")
    print(f"{'sample':46} {'bytes':>7} {'in: parse+map':>16} {'out: map+validate':>18}")
    for name, size, in_mean, in_median, out_mean, out_median in measure(args.iterations):
        print(
            f"{name:46} {size:7d} {in_mean * 1e3:7.3f} / {in_median * 1e3:6.3f} "
            f"{out_mean * 1e3:8.3f} / {out_median * 1e3:6.3f}"
        )


if __name__ == "__main__":
    main()
