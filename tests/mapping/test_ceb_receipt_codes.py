"""Every rejection code the gateway can answer has a CEB chapter 7 error code (table 7-1)."""

from gateway.errors import REJECTIONS
from gateway.mapping.ceb_receipt import CHAPTER_7


def test_every_rejection_code_maps_to_a_chapter_7_code():
    assert sorted(r.code for r in REJECTIONS if r.code not in CHAPTER_7) == []
    assert CHAPTER_7["matching-failed"][0] == "2999"  # a business error, not a system one
