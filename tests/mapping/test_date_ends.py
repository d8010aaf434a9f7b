"""Date-times at the calendar's ends (year 1 at +14:00, 9999 at -14:00) are valid xs:dateTime, but moving them to
another offset leaves years 1-9999: a named mapping-failed, not an OverflowError (a 500 at ingress, where the
receivers' formats are rendered before a message is accepted)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping import wco_dms
from gateway.mapping.ceb_receipt import return_time
from gateway.mapping.records import LocalDateTime

CHINA = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+00:30", "9999-12-31T23:59:59-00:30"])
def test_wco_dms_304_of_a_time_beyond_utc_is_mapping_failed(text: str) -> None:
    with pytest.raises(MappingFailed, match=r"/X: .* is outside the dates the WCO DMS date-time can carry"):
        wco_dms.to_304(text, "/X")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_local_date_time_beyond_the_calendar_is_mapping_failed(text: str) -> None:
    element = etree.Element("IssueDateTime")
    element.text = text
    with pytest.raises(MappingFailed, match=r"/X: .* is outside the dates the partner format can carry"):
        LocalDateTime(CHINA).take(element, "appTime", "/X")


def test_local_date_time_inside_the_calendar_still_maps() -> None:
    element = etree.Element("IssueDateTime")
    element.text = "2026-12-03T10:00:00+00:00"
    assert LocalDateTime(CHINA).take(element, "appTime", "/X") == {"appTime": "20261203180000"}


def test_a_ceb_return_time_after_year_9999_in_china_is_mapping_failed() -> None:
    with pytest.raises(MappingFailed, match=r"IssueDateTime .* after the last day a CEB returnTime can write"):
        return_time(dt.datetime(9999, 12, 31, 20, 0, tzinfo=dt.UTC))
    assert return_time(dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)) == "20261203180000000"
