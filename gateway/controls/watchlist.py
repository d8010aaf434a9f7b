"""The watch list of non-compliant products: what market regulators publish, as the gateway matches it.

Regulators publish their lists of dangerous or non-compliant products (the EU Safety Gate, SAMR recalls,
national market-surveillance notices) as CSV or JSON, one product a row: category, brand, model or type,
barcode (GTIN), HS code, hazard, measure taken. The files go in ``[controls] watchlist_dir`` (``*.csv``,
``*.json``); the folder is read at start and again when a file changes (a change with an error is refused
and the entries in force stay, as with the risk rules). ``gateway watchlist check FILE`` validates a file.

An item of an inventory (CEB621 ClearanceList) or declaration matches an entry by

    gtin           the item's barcode equals the entry's GTIN (GTIN-8/12/13/14, compared as 14 digits)
    brand-model    the item's declared brand equals the entry's brand and its model appears in the item's
                   text (specification, name, description), both normalised: NFKC, case-folded, letters and
                   digits only ("XY-100 B" = "xy100b")
    hs-keywords    the item's HS code starts with the entry's HS code and its description holds one of the
                   entry's keywords (normalised the same way, but spaces kept as one)

Each entry says what a match does (``action``): ``hold`` (default: the message is held for an operator's
release or refusal) or ``alert`` (forwarded; the hit is recorded and shown to the operators).

Matching is in memory: dictionaries built at load (GTIN -> entries, brand -> model -> entries, HS prefix -> a
keyword's first word -> entries), so a message costs a few lookups per item whatever the size of the list
(``python -m bench.controls`` measures it with 100,000 entries).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.controls.facts import W, payload
from gateway.controls.monitoring import declared_brand
from gateway.errors import ConfigError

log = logging.getLogger(__name__)

ACTIONS = ("hold", "alert")
SUFFIXES = (".csv", ".json")
# Column / key names as regulators write them -> the entry's field.
ALIASES: Mapping[str, str] = {
    "id": "id",
    "reference": "id",
    "notice": "id",
    "category": "category",
    "product category": "category",
    "product_category": "category",
    "brand": "brand",
    "model": "model",
    "type": "model",
    "model/type": "model",
    "model_type": "model",
    "model or type": "model",
    "gtin": "gtin",
    "barcode": "gtin",
    "barcode/gtin": "gtin",
    "ean": "gtin",
    "hs": "hs",
    "hs code": "hs",
    "hs_code": "hs",
    "keywords": "keywords",
    "hazard": "hazard",
    "risk": "hazard",
    "measure": "measure",
    "measure taken": "measure",
    "measures": "measure",
    "measure_taken": "measure",
    "action": "action",
    "authority": "authority",
}
_KEYWORD_SPLIT = re.compile(r"[;|,，；]")  # noqa: RUF001
_MODEL = re.compile(r"(?:规格型号|型号|货号|model(?:\s*(?:no\.?|number))?|type)\s*[:：=]\s*([^;；|,，\n]+)", re.I)  # noqa: RUF001
_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_SPACES = re.compile(r"[\W_]+", re.UNICODE)


def squeeze(text: str | None) -> str:
    """Brand and model as compared: NFKC, case-folded, letters and digits only."""
    return _ALNUM.sub("", unicodedata.normalize("NFKC", text or "").casefold())


def words(text: str | None) -> str:
    """Text as keywords are looked for in it: NFKC, case-folded, every run of other characters one space."""
    return " " + _SPACES.sub(" ", unicodedata.normalize("NFKC", text or "").casefold()).strip() + " "


def gtin14(value: str) -> str | None:
    """A GTIN-8/12/13/14 as 14 digits when its check digit is right; None otherwise."""
    digits = value.strip().replace(" ", "").replace("-", "")
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        return None
    padded = digits.rjust(14, "0")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(padded[:13]))
    return padded if (10 - total % 10) % 10 == int(padded[13]) else None


@dataclass(frozen=True)
class Entry:
    id: str
    source: str  # file:line (CSV) or file[index] (JSON)
    category: str = ""
    brand: str = ""
    model: str = ""
    gtin: str = ""
    hs: str = ""
    keywords: tuple[str, ...] = ()
    hazard: str = ""
    measure: str = ""
    action: str = "hold"
    authority: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "category": self.category,
            "brand": self.brand,
            "model": self.model,
            "gtin": self.gtin,
            "hs": self.hs,
            "keywords": list(self.keywords),
            "hazard": self.hazard,
            "measure": self.measure,
            "action": self.action,
            "authority": self.authority,
        }


@dataclass(frozen=True)
class Goods:
    """One goods item as the watch list looks at it."""

    seq: int
    gtin: str | None
    brand: str | None
    model: str | None
    hs: str
    text: str  # name, description, specification together


@dataclass(frozen=True)
class Screened:
    """One consignment (a ClearanceList, a declaration) and who put it on the market."""

    index: int  # 1-based position of the record in its message
    reference: str
    platform: str  # the e-commerce platform (CEB ebpCode); "" for a declaration
    seller: str  # the seller / e-commerce enterprise (CEB ebcCode), the exporter of a declaration
    seller_name: str
    goods: tuple[Goods, ...]
    pointer: str


@dataclass(frozen=True)
class Hit:
    entry: Entry
    by: str  # gtin | brand-model | hs-keywords
    record: int
    item: int
    pointer: str
    platform: str
    seller: str

    def describe(self) -> str:
        e = self.entry
        what = " ".join(x for x in (e.brand, e.model) if x) or e.category or e.hs
        hazard = f"; hazard: {e.hazard}" if e.hazard else ""
        measure = f"; measure: {e.measure}" if e.measure else ""
        return f"watch-list entry {e.id} ({what}) matched goods item {self.item} by {self.by}{hazard}{measure}"

    def as_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry.id,
            "by": self.by,
            "record": self.record,
            "item": self.item,
            "pointer": self.pointer,
            "action": self.entry.action,
            "brand": self.entry.brand,
            "model": self.entry.model,
            "gtin": self.entry.gtin,
            "hs": self.entry.hs,
            "category": self.entry.category,
            "hazard": self.entry.hazard,
            "measure": self.entry.measure,
            "source": self.entry.source,
        }


# Loading ------------------------------------------------------------------------------------------------------


def _entry(raw: Mapping[str, Any], source: str, default_id: str) -> Entry:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = ALIASES.get(str(key).strip().casefold())
        if name is None or value is None:
            continue
        if name == "keywords":
            items = value if isinstance(value, list) else _KEYWORD_SPLIT.split(str(value))
            values[name] = tuple(k for k in (words(str(x)).strip() for x in items) if k)
        else:
            values[name] = str(value).strip()
    action = (values.get("action") or "hold").casefold()
    if action not in ACTIONS:
        raise ConfigError(f"{source}: action {values.get('action')!r} is not one of {', '.join(ACTIONS)}")
    values["action"] = action
    if values.get("gtin"):
        normal = gtin14(values["gtin"])
        if normal is None:
            raise ConfigError(f"{source}: gtin {values['gtin']!r} is not a GTIN-8/12/13/14 with a right check digit")
        values["gtin"] = normal
    hs = (values.get("hs") or "").replace(".", "").replace(" ", "")
    if hs and (not hs.isdigit() or not 2 <= len(hs) <= 10):
        raise ConfigError(f"{source}: hs {values['hs']!r} is not an HS code (2 to 10 digits)")
    values["hs"] = hs
    brand_model = bool(squeeze(values.get("brand")) and squeeze(values.get("model")))
    hs_keywords = bool(hs and values.get("keywords"))
    if not (values.get("gtin") or brand_model or hs_keywords):
        raise ConfigError(
            f"{source}: nothing to match on: give a gtin, a brand with a model, or an hs code with keywords"
        )
    return Entry(id=values.pop("id", "") or default_id, source=source, **values)


def parse_file(path: Path) -> list[Entry]:
    """The entries of one regulator file (CSV with a header row, or JSON: a list of objects or
    ``{"entries": [...]}``); ConfigError names the file, the line or index, and the field."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    if path.suffix.casefold() == ".json":
        return _from_json(path, text)
    if path.suffix.casefold() == ".csv":
        return _from_csv(path, text)
    raise ConfigError(f"{path}: a watch-list file is .csv or .json")


def _from_json(path: Path, text: str) -> list[Entry]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: not JSON: {exc.msg}") from exc
    rows = document.get("entries") if isinstance(document, dict) else document
    if not isinstance(rows, list):
        raise ConfigError(f"{path}: expected a list of entries or an object with 'entries'")
    entries = []
    for number, row in enumerate(rows):
        source = f"{path.name}[{number}]"
        if not isinstance(row, dict):
            raise ConfigError(f"{source}: an entry is an object, not {type(row).__name__}")
        entries.append(_entry(row, source, f"{path.stem}-{number + 1}"))
    return entries


def _from_csv(path: Path, text: str) -> list[Entry]:
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    known = [f for f in reader.fieldnames or () if str(f).strip().casefold() in ALIASES]
    if not known:
        raise ConfigError(
            f"{path}: line 1: no known column (e.g. brand, model, gtin, hs, keywords, hazard, measure, action)"
        )
    entries = []
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        entries.append(_entry(row, f"{path.name}:{line}", f"{path.stem}-{line}"))
    return entries


def files_of(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(f"controls.watchlist_dir: {folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.casefold() in SUFFIXES and p.is_file())


def fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files_of(folder))
    except (ConfigError, OSError):
        return ()


def load_dir(folder: Path) -> list[Entry]:
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for path in files_of(folder):
        for entry in parse_file(path):
            if entry.id in seen:
                raise ConfigError(f"{entry.source}: id {entry.id!r} is used already at {seen[entry.id]}")
            seen[entry.id] = entry.source
            entries.append(entry)
    return entries


# Matching -----------------------------------------------------------------------------------------------------


@dataclass
class Index:
    """The entries as three dictionaries (see the module docstring)."""

    entries: list[Entry] = field(default_factory=list)
    by_gtin: dict[str, list[Entry]] = field(default_factory=dict)
    by_brand: dict[str, dict[str, list[Entry]]] = field(default_factory=dict)
    # HS prefix -> the first word of a keyword in Latin script -> (entry, keyword): an item looks up its own words
    # only, however many entries share its HS heading; keywords in scripts written without spaces are scanned.
    by_hs_word: dict[str, dict[str, list[tuple[Entry, str]]]] = field(default_factory=dict)
    by_hs_scan: dict[str, list[tuple[Entry, str]]] = field(default_factory=dict)
    hs_lengths: tuple[int, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Index:
        index = cls()
        for entry in entries:
            index.entries.append(entry)
            if entry.gtin:
                index.by_gtin.setdefault(entry.gtin, []).append(entry)
            brand, model = squeeze(entry.brand), squeeze(entry.model)
            if brand and model:
                index.by_brand.setdefault(brand, {}).setdefault(model, []).append(entry)
            for keyword in entry.keywords if entry.hs else ():
                if keyword.isascii():
                    first = keyword.split(" ", 1)[0]
                    index.by_hs_word.setdefault(entry.hs, {}).setdefault(first, []).append((entry, keyword))
                else:
                    index.by_hs_scan.setdefault(entry.hs, []).append((entry, keyword))
        index.hs_lengths = tuple(sorted({len(k) for k in (*index.by_hs_word, *index.by_hs_scan)}))
        return index

    def match(self, records: Sequence[Screened]) -> list[Hit]:
        hits: list[Hit] = []
        for record in records:
            for goods in record.goods:
                for entry, by in self._goods(goods):
                    hits.append(
                        Hit(
                            entry,
                            by,
                            record.index,
                            goods.seq,
                            f"{record.pointer}/GoodsItem[{goods.seq}]",
                            record.platform,
                            record.seller,
                        )
                    )
        return hits

    def _goods(self, goods: Goods) -> Iterator[tuple[Entry, str]]:
        found: set[str] = set()
        if goods.gtin:
            for entry in self.by_gtin.get(goods.gtin, ()):
                found.add(entry.id)
                yield entry, "gtin"
        brand = squeeze(goods.brand)
        models = self.by_brand.get(brand) if brand else None
        if models:
            declared = squeeze(goods.model)
            text = squeeze(goods.text)
            for model, entries in models.items():
                # A short model ("A1") only by the declared model, a longer one anywhere in the item's text.
                if model == declared or (len(model) >= 4 and model in text):
                    for entry in entries:
                        if entry.id not in found:
                            found.add(entry.id)
                            yield entry, "brand-model"
        if goods.hs and self.hs_lengths:
            yield from self._keywords(goods, found)

    def _keywords(self, goods: Goods, found: set[str]) -> Iterator[tuple[Entry, str]]:
        """Keywords in Latin script as whole words (looked up by the item's words), others anywhere (积木)."""
        text = words(goods.text)
        tokens = list(dict.fromkeys(text.split()))  # in text order: the same hits in the same order every run
        for length in self.hs_lengths:
            if length > len(goods.hs):
                break
            prefix = goods.hs[:length]
            by_word = self.by_hs_word.get(prefix, {})
            candidates = [c for token in tokens for c in by_word.get(token, ())]
            for entry, keyword in candidates:
                if entry.id not in found and f" {keyword} " in text:
                    found.add(entry.id)
                    yield entry, "hs-keywords"
            for entry, keyword in self.by_hs_scan.get(prefix, ()):
                if entry.id not in found and keyword in text:
                    found.add(entry.id)
                    yield entry, "hs-keywords"


class WatchList:
    """The entries in force, reloaded from their folder when a file changes (a bad change keeps the old ones)."""

    def __init__(self, folder: Path | None, entries: Sequence[Entry] = ()) -> None:
        self.folder = folder
        self.index = Index.of(entries)
        self.seen = fingerprint(folder) if folder is not None else ()

    @classmethod
    def load(cls, folder: Path) -> WatchList:
        seen = fingerprint(folder)
        watchlist = cls(None, load_dir(folder))
        watchlist.folder, watchlist.seen = folder, seen
        return watchlist

    @property
    def entries(self) -> list[Entry]:
        return self.index.entries

    def maybe_reload(self) -> bool:
        """Reload if the folder changed; True when a new list is in force. Refused changes are logged."""
        if self.folder is None:
            return False
        now = fingerprint(self.folder)
        if now == self.seen:
            return False
        self.seen = now
        try:
            entries = load_dir(self.folder)
        except ConfigError as exc:
            log.error("watch list not reloaded; the entries in force stay: %s", exc.message)
            return False
        self.index = Index.of(entries)
        log.info("watch list reloaded from %s: %d entries", self.folder, len(entries))
        return True

    def match(self, records: Sequence[Screened]) -> list[Hit]:
        return self.index.match(records)


# What a canonical message declares ----------------------------------------------------------------------------


def _text(element: etree._Element | None, path: str) -> str:
    if element is None:
        return ""
    found = element.find(path.replace("w:", W))
    return (found.text or "").strip() if found is not None else ""


def declared_model(*texts: str) -> str | None:
    for text in texts:
        if text and (found := _MODEL.search(text)):
            return found.group(1).strip()
    return None


def _goods(item: etree._Element, *, name: str, description: str, specification: str, hs: str, seq: int) -> Goods:
    barcode = _text(item, "w:BarcodeID")
    return Goods(
        seq=seq,
        gtin=gtin14(barcode) if barcode else None,
        brand=declared_brand(specification, description, name),
        model=declared_model(specification, description, name),
        hs=hs.replace(".", ""),
        text=" ".join(t for t in (name, description, specification) if t),
    )


def screened(envelope: etree._Element, message_type: str) -> list[Screened]:
    """The consignments of a canonical inventory or declaration (deletions and other types: none)."""
    body = payload(envelope)
    if body is None:
        return []
    if message_type == "inventory":
        out = []
        for number, record in enumerate(body.iterfind(W + "ClearanceList"), 1):
            if _text(record, "w:FunctionCode") == "3":
                continue
            goods = tuple(
                _goods(
                    item,
                    name=_text(item, "w:ItemName"),
                    description=" ".join(
                        x for x in (_text(item, "w:Description"), _text(item, "w:ItemDescription")) if x
                    ),
                    specification=_text(item, "w:Specification"),
                    hs=_text(item, "w:Classification/w:ID"),
                    seq=int(_text(item, "w:SequenceNumeric") or n),
                )
                for n, item in enumerate(record.iterfind(W + "GoodsItem"), 1)
            )
            out.append(
                Screened(
                    index=number,
                    reference=_text(record, "w:FunctionalReferenceID"),
                    platform=_text(record, "w:Platform/w:ID"),
                    seller=_text(record, "w:Seller/w:ID"),
                    seller_name=_text(record, "w:Seller/w:Name"),
                    goods=goods,
                    pointer=f"/Envelope/Body/Inventory/ClearanceList[{number}]",
                )
            )
        return out
    if message_type == "declaration" and _text(body, "w:FunctionCode") != "3":
        shipment = body.find(W + "GoodsShipment")
        items = shipment.iterfind(W + "GovernmentAgencyGoodsItem") if shipment is not None else iter(())
        goods = tuple(
            _goods(
                item,
                name="",
                description=_text(item, "w:Commodity/w:Description"),
                specification="",
                hs=_text(item, "w:Commodity/w:Classification/w:ID"),
                seq=int(_text(item, "w:SequenceNumeric") or n),
            )
            for n, item in enumerate(items, 1)
        )
        party = next(
            (
                p
                for p in (
                    body.find(W + "Exporter"),
                    shipment.find(W + "Consignor") if shipment is not None else None,
                    body.find(W + "Declarant"),
                )
                if p is not None
            ),
            None,
        )
        seller = _text(party, "w:ID")
        return [
            Screened(
                index=1,
                reference=_text(body, "w:FunctionalReferenceID") or _text(body, "w:ID"),
                platform="",
                seller=seller,
                seller_name=_text(party, "w:Name"),
                goods=goods,
                pointer="/Envelope/Body/Declaration",
            )
        ]
    return []
