"""China customs code lists -> ISO / UN/ECE (gateway.mapping.codes)."""

from __future__ import annotations

import re

import pytest

from gateway.errors import MappingFailed
from gateway.mapping.codes import COUNTRY, CURRENCY, PACKAGING, TRANSPORT_MODE, UNIT, CodeList


@pytest.mark.parametrize(
    ("national", "iso"),
    [("142", "CN"), ("502", "US"), ("303", "GB"), ("304", "DE"), ("305", "FR"), ("309", "NL"), ("116", "JP"),
     ("133", "KR"), ("110", "HK"), ("121", "MO"), ("143", "TW"), ("344", "RU"), ("601", "AU"), ("244", "ZA")],
)  # fmt: skip
def test_country_codes(national, iso):
    assert COUNTRY.international(national, "/country") == iso
    assert COUNTRY.national(iso, "/CountryCode") == national


@pytest.mark.parametrize(
    ("national", "iso"),
    [("142", "CNY"), ("502", "USD"), ("300", "EUR"), ("303", "GBP"), ("116", "JPY"), ("110", "HKD"),
     ("133", "KRW"), ("601", "AUD"), ("331", "CHF")],
)  # fmt: skip
def test_currency_codes(national, iso):
    assert CURRENCY.international(national, "/currency") == iso
    assert CURRENCY.national(iso, "/@currencyID") == national


def test_lists_are_large_enough_and_well_formed():
    assert len(CURRENCY.entries) >= 20
    assert len(COUNTRY.entries) >= 40
    for codes, pattern in [(COUNTRY, r"[A-Z]{2}"), (CURRENCY, r"[A-Z]{3}"), (UNIT, r"[A-Z0-9]{2,3}"),
                           (TRANSPORT_MODE, r"[0-9]"), (PACKAGING, r"[0-9A-Z]{2}")]:  # fmt: skip
        for national, international in codes.entries.items():
            assert re.fullmatch(pattern, international), (codes.name, national, international)
    for codes in (COUNTRY, CURRENCY, UNIT):
        assert all(re.fullmatch(r"[0-9]{3}", national) for national in codes.entries), codes.name


@pytest.mark.parametrize("codes", [COUNTRY, CURRENCY, PACKAGING], ids=lambda c: c.name)
def test_one_to_one_lists_are_one_to_one(codes):
    assert len(set(codes.entries.values())) == len(codes.entries)


@pytest.mark.parametrize(
    ("national", "unit", "hint"),
    [("007", "H87", None), ("011", "H87", "011"), ("001", "H87", "001"), ("122", "H87", "122"),
     ("142", "H87", "142"), ("035", "KGM", None), ("036", "GRM", None), ("070", "TNE", None),
     ("006", "SET", None), ("025", "PR", None), ("026", "PR", "026"), ("095", "LTR", None),
     ("030", "MTR", None), ("127", "DZN", None), ("054", "MIL", None), ("143", "MIL", "143")],
)  # fmt: skip
def test_units_map_to_rec20_and_keep_the_finer_china_unit(national, unit, hint):
    assert UNIT.international(national, "/unit") == unit
    assert UNIT.hint(national) == hint
    assert UNIT.national(unit, "/Quantity", hint) == national


@pytest.mark.parametrize("codes", [COUNTRY, CURRENCY, UNIT, TRANSPORT_MODE, PACKAGING], ids=lambda c: c.name)
def test_every_code_comes_back_unchanged(codes):
    for national in codes.entries:
        back = codes.national(codes.international(national, "/x"), "/y", codes.hint(national))
        assert back == national


@pytest.mark.parametrize(
    ("codes", "value"),
    [(COUNTRY, "199"), (COUNTRY, "701"), (COUNTRY, "aaa"), (CURRENCY, "999"), (UNIT, "038"), (UNIT, "999"),
     (TRANSPORT_MODE, "Q"), (PACKAGING, "8")],
)  # fmt: skip
def test_unknown_code_is_mapping_failed_naming_the_field_and_the_value(codes, value):
    pointer = "/CEB311Message/Order[2]/OrderList[1]/field"
    with pytest.raises(MappingFailed) as caught:
        codes.international(value, pointer)
    assert caught.value.code == "mapping-failed"
    assert caught.value.pointer == pointer
    assert pointer in caught.value.message
    assert repr(value) in caught.value.message


def test_unknown_international_code_is_mapping_failed():
    with pytest.raises(MappingFailed, match=r"ISO 4217 'XAU'.*/@currencyID|/@currencyID.*'XAU'"):
        CURRENCY.national("XAU", "/@currencyID")


def test_national_code_that_contradicts_the_international_one_is_refused():
    with pytest.raises(MappingFailed, match="nationalCode '035'"):
        UNIT.national("H87", "/Quantity", "035")


def test_a_shared_international_code_needs_a_preferred_national_one():
    with pytest.raises(ValueError, match="preferred"):
        CodeList("test", "test", {"1": "A", "2": "A"})
    with pytest.raises(ValueError, match="does not map"):
        CodeList("test", "test", {"1": "A", "2": "A"}, preferred={"A": "3"})


def test_transport_modes():
    assert TRANSPORT_MODE.international("5", "/trafMode") == "4"  # air
    assert TRANSPORT_MODE.international("2", "/trafMode") == "1"  # waterway -> maritime
    assert TRANSPORT_MODE.international("6", "/trafMode") == "5"  # mail
    assert TRANSPORT_MODE.international("Y", "/trafMode") == "9"  # bonded port zone: no border crossing
    assert TRANSPORT_MODE.hint("Y") == "Y"
    assert TRANSPORT_MODE.hint("0") is None
