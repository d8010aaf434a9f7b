"""A flat partner record <-> a nested canonical record, driven by one field table for both directions.

Partner formats such as CEB carry a record as a flat list of fields (``<orderNo>``, ``<buyerName>`` ...);
the canonical payloads nest them WCO-style (``OrderID``, ``Buyer/Name`` ...). A :class:`Table` lists, in
canonical element order, which partner field fills which canonical path and how the value is converted
(a :class:`Codec`). The same table drives both directions, so what one direction writes the other reads.

Canonical -> partner works on a copy of the canonical record and *takes* every value it maps (clears the
text, removes the attribute). Whatever is left is something the partner format cannot carry; it is reported
(:class:`Loss`), never dropped silently.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping.codes import CURRENCY, UNIT, CodeList

WCO_NS = "urn:customs-gateway:wco:1"  # the canonical payloads (gateway.formats.canonical.WCO_NS)
W = f"{{{WCO_NS}}}"
Fields = Mapping[str, str]  # a flat partner record: field name -> text


@dataclass(frozen=True)
class Loss:
    """A canonical value the partner format cannot carry."""

    pointer: str
    value: str


class Codec(Protocol):
    """Converts one partner field (and the partner fields it depends on) to one canonical element and back."""

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        """Partner -> canonical: set the text, attributes or children of the freshly placed ``element``."""
        ...

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        """Canonical -> partner: the partner fields; clears what it read from ``element`` (a working copy)."""
        ...


def take_text(element: etree._Element) -> str:
    text = (element.text or "").strip()
    element.text = None
    return text


def take_attribute(element: etree._Element, name: str) -> str:
    return str(element.attrib.pop(name, ""))


class Text:
    """The value as it is."""

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        element.text = value

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        return {source: take_text(element)}


@dataclass(frozen=True)
class ExactLength:
    """Text the partner format wants of one length (CEB record guids: 36 characters)."""

    size: int

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        element.text = value

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        text = take_text(element)
        if len(text) != self.size:
            raise MappingFailed(
                f"{pointer}: the partner format needs exactly {self.size} characters here; {text!r} has {len(text)}",
                pointer=pointer,
            )
        return {source: text}


@dataclass(frozen=True)
class Code:
    """A partner code <-> the international code; ``keep_national`` keeps a finer national code too."""

    codes: CodeList
    keep_national: bool = False

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        element.text = self.codes.international(value, pointer)
        hint = self.codes.hint(value) if self.keep_national else None
        if hint is not None:
            element.set("nationalCode", hint)

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        hint = (take_attribute(element, "nationalCode") or None) if self.keep_national else None
        return {source: self.codes.national(take_text(element), pointer, hint)}


@dataclass(frozen=True)
class LocalDateTime:
    """``yyyyMMddHHmmss`` in a fixed offset (China: +08:00) <-> xs:dateTime with that offset.

    ``layout``/``shown``: another partner layout, e.g. EU ICS ``yyyyMMddHHmm`` (no seconds to carry).
    ``millis``: three more digits of milliseconds (CEB receipt and tax-bill times, ``yyyyMMddHHmmssSSS``)."""

    offset: dt.timezone
    layout: str = "%Y%m%d%H%M%S"
    shown: str = "yyyyMMddHHmmss"
    millis: bool = False

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        try:
            if self.millis and not (len(value) > 3 and value[-3:].isdigit()):
                raise ValueError(value)
            parsed = dt.datetime.strptime(value[:-3] if self.millis else value, self.layout)
            parsed = parsed.replace(tzinfo=self.offset, microsecond=int(value[-3:]) * 1000 if self.millis else 0)
        except ValueError:
            raise MappingFailed(f"{pointer}: {value!r} is not a date-time {self.shown}", pointer=pointer) from None
        element.text = parsed.isoformat(timespec="milliseconds" if parsed.microsecond else "seconds")

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        text = take_text(element)
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise MappingFailed(f"{pointer}: {text!r} is not an xs:dateTime", pointer=pointer) from None
        if parsed.tzinfo is None:
            raise MappingFailed(f"{pointer}: {text!r} has no time zone", pointer=pointer)
        fraction = parsed.microsecond % 1000 if self.millis else parsed.microsecond
        if fraction or (parsed.second and "%S" not in self.layout):
            what = "fractions of a second" if fraction else "seconds"
            raise MappingFailed(
                f"{pointer}: {text!r} has {what}, which the partner format ({self.shown}) cannot carry",
                pointer=pointer,
            )
        try:
            local = parsed.astimezone(self.offset)
        except OverflowError:  # year 1 or 9999 moved across midnight of the calendar's ends (was a 500)
            raise MappingFailed(
                f"{pointer}: {text!r} is outside the dates the partner format can carry", pointer=pointer
            ) from None
        return {source: local.strftime(self.layout) + (f"{local.microsecond // 1000:03d}" if self.millis else "")}


class LocalDate:
    """``yyyyMMdd`` <-> xs:date without time zone."""

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        try:
            element.text = dt.datetime.strptime(value, "%Y%m%d").date().isoformat()
        except ValueError:
            raise MappingFailed(f"{pointer}: {value!r} is not a date yyyyMMdd", pointer=pointer) from None

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        text = take_text(element)
        try:
            return {source: dt.date.fromisoformat(text).strftime("%Y%m%d")}
        except ValueError:
            raise MappingFailed(f"{pointer}: {text!r} is not an xs:date", pointer=pointer) from None


def _sibling(pointer: str, name: str) -> str:
    return pointer.rsplit("/", 1)[0] + "/" + name


@dataclass(frozen=True)
class Amount:
    """An amount and the record's currency field <-> an amount with its ISO 4217 ``currencyID``."""

    currency: str

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        element.text = value
        code = record.get(self.currency, "")
        element.set("currencyID", CURRENCY.international(code, _sibling(pointer, self.currency)))

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        currency = take_attribute(element, "currencyID")
        return {
            source: take_text(element),
            self.currency: CURRENCY.national(currency, pointer + "/@currencyID"),
        }


@dataclass(frozen=True)
class Measure:
    """A quantity and its unit field <-> a quantity with a Rec 20 ``unitCode`` (and ``nationalCode``)."""

    unit: str

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        element.text = value
        code = record.get(self.unit, "")
        element.set("unitCode", UNIT.international(code, _sibling(pointer, self.unit)))
        hint = UNIT.hint(code)
        if hint is not None:
            element.set("nationalCode", hint)

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        unit, hint = take_attribute(element, "unitCode"), take_attribute(element, "nationalCode") or None
        return {source: take_text(element), self.unit: UNIT.national(unit, pointer + "/@unitCode", hint)}


@dataclass(frozen=True)
class FixedUnit:
    """A measure the partner gives in one unit (e.g. kilograms) <-> a measure with that ``unitCode``."""

    unit: str

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        element.text = value
        element.set("unitCode", self.unit)

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        unit = take_attribute(element, "unitCode")
        if unit != self.unit:
            # No unit (e.g. a DEC mass as HMRC sends it) is not assumed to be this one: the sender did not say.
            found = f"not in {unit}" if unit else "and this one has no unitCode"
            raise MappingFailed(
                f"{pointer}/@unitCode: the partner format carries this measure in {self.unit} only, {found}",
                pointer=pointer + "/@unitCode",
            )
        return {source: take_text(element)}


@dataclass(frozen=True)
class FixedCurrency:
    """An amount the partner gives in one currency, without a currency field <-> an amount in that currency."""

    currency: str

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        element.text = value
        element.set("currencyID", self.currency)

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        currency = take_attribute(element, "currencyID")
        if currency != self.currency:
            raise MappingFailed(
                f"{pointer}/@currencyID: the partner format carries this amount in {self.currency} only, not in "
                f"{currency!r}",
                pointer=pointer + "/@currencyID",
            )
        return {source: take_text(element)}


@dataclass(frozen=True)
class DutyTaxFee:
    """A duty amount of one type <-> a WCO DutyTaxFee (50A): TypeCode (113, UN/EDIFACT 5153) and
    Payment/TaxAssessedAmount (120) in a fixed currency (CEB tax bills: RMB, no currency field)."""

    type_code: str
    currency: str = "CNY"

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        etree.SubElement(element, W + "TypeCode").text = self.type_code
        amount = etree.SubElement(etree.SubElement(element, W + "Payment"), W + "TaxAssessedAmount")
        amount.text = value
        amount.set("currencyID", self.currency)

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        kind, amount = element.find(W + "TypeCode"), element.find(f"{W}Payment/{W}TaxAssessedAmount")
        if kind is not None:
            take_text(kind)
        if amount is None:
            return {source: ""}
        where = f"{pointer}/Payment/TaxAssessedAmount/@currencyID"
        currency = take_attribute(amount, "currencyID")
        if currency != self.currency:
            raise MappingFailed(
                f"{where}: the partner format carries this amount in {self.currency} only, not in {currency!r}",
                pointer=where,
            )
        return {source: take_text(amount)}


class Telephone:
    """A telephone number <-> a WCO Communication (ID + TypeCode TE)."""

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        etree.SubElement(element, W + "ID").text = value
        etree.SubElement(element, W + "TypeCode").text = "TE"

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        kind, number = element.find(W + "TypeCode"), element.find(W + "ID")
        if kind is not None:
            if (kind.text or "").strip() != "TE":
                raise MappingFailed(
                    f"{pointer}/TypeCode: the partner format carries a telephone number (TE) only, not "
                    f"{(kind.text or '').strip()!r}",
                    pointer=pointer + "/TypeCode",
                )
            take_text(kind)
        return {source: take_text(number) if number is not None else ""}


@dataclass(frozen=True)
class Field:
    """One partner field and the canonical path (relative to the record) it fills."""

    source: str
    target: str
    codec: Codec = field(default_factory=Text)

    @functools.cached_property
    def path(self) -> str:
        """``target`` as an ElementPath with the canonical namespace; a step may select by a child's text,
        ``DutyTaxFee[TypeCode='VAT']``, where one canonical element repeats with different meanings."""
        return "/".join(_step(name) for name in self.target.split("/"))


def _step(name: str) -> str:
    element, bracket, predicate = name.partition("[")
    return W + element + (f"[{W}{predicate}" if bracket else "")


@dataclass(frozen=True)
class Table:
    """The fields of one kind of partner record, in canonical element order."""

    fields: tuple[Field, ...]

    def sources(self) -> set[str]:
        """Every partner field the table reads, dependencies (currency, unit fields) included."""
        names = {f.source for f in self.fields}
        for f in self.fields:
            if isinstance(f.codec, Amount):
                names.add(f.codec.currency)
            if isinstance(f.codec, Measure):
                names.add(f.codec.unit)
        return names


def to_canonical(record: Fields, table: Table, target: etree._Element, pointer: Callable[[str], str]) -> None:
    """Append the canonical elements of a partner record to ``target``. Empty partner fields are absent."""
    for spec in table.fields:
        value = record.get(spec.source, "")
        if value:
            spec.codec.fill(place(target, spec.target), value, record, pointer(spec.source))


def place(parent: etree._Element, path: str) -> etree._Element:
    """A new leaf element at ``path``; groups reuse the last child of that name (the table is in order)."""
    *groups, leaf = path.split("/")
    leaf = leaf.partition("[")[0]  # a selecting predicate: the codec writes the child it selects by
    for name in groups:
        last = parent[-1] if len(parent) else None
        parent = last if last is not None and last.tag == W + name else etree.SubElement(parent, W + name)
    return etree.SubElement(parent, W + leaf)


def from_canonical(work: etree._Element, table: Table, pointer: str) -> dict[str, str]:
    """The partner fields of a canonical record. ``work`` is a copy: what is read is cleared from it."""
    out: dict[str, str] = {}
    for spec in table.fields:
        element = work.find(spec.path)
        if element is None:
            continue
        where = f"{pointer}/{spec.target}"
        for name, value in spec.codec.take(element, spec.source, where).items():
            if not value:
                continue
            if name in out and out[name] != value:
                raise MappingFailed(
                    f"{where}: the partner record carries one {name} for all its fields; found {out[name]!r} "
                    f"and {value!r}",
                    pointer=where,
                )
            out[name] = value
    return out


def leftovers(work: etree._Element, pointer: str) -> list[Loss]:
    """Values still in a worked-on copy: what the partner format cannot carry."""
    losses: list[Loss] = []
    for element in work.iter():
        if not isinstance(element.tag, str):
            continue
        text = (element.text or "").strip()
        if not text and not element.attrib:
            continue
        where = pointer + path_in(work, element)
        if text:
            losses.append(Loss(where, text))
        losses.extend(Loss(f"{where}/@{name}", str(value)) for name, value in element.attrib.items())
    return losses


def path_in(root: etree._Element, element: etree._Element) -> str:
    """``/Name[n]/Child`` from ``root`` (excluded) down to ``element``; [n] only where names repeat."""
    steps: list[str] = []
    while element is not root and element is not None:
        parent = element.getparent()
        name = etree.QName(element).localname
        if parent is not None:
            same = [c for c in parent if c.tag == element.tag]
            if len(same) > 1:
                name += f"[{same.index(element) + 1}]"
        steps.append(name)
        element = parent
    return "".join("/" + s for s in reversed(steps))


def working_copy(record: etree._Element) -> etree._Element:
    return copy.deepcopy(record)


def raise_losses(losses: Sequence[Loss], format_name: str) -> None:
    """Refuse to render what would drop data: one MappingFailed naming every value the format cannot carry."""
    if not losses:
        return
    shown = "; ".join(f"{loss.pointer} = {loss.value!r}" for loss in losses[:10])
    more = f" (and {len(losses) - 10} more)" if len(losses) > 10 else ""
    raise MappingFailed(
        f"the {format_name} format cannot carry {len(losses)} value(s) of this message: {shown}{more}",
        pointer=losses[0].pointer,
    )
