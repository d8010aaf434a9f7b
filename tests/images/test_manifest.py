"""The images a signed message names (its manifest) and the magic numbers that tell PNG, JPEG and TIFF apart."""

from __future__ import annotations

import base64
import hashlib

import pytest
from lxml import etree

from gateway.errors import SchemaInvalid
from gateway.images.magic import sniff
from gateway.images.manifest import images_of
from tests.helpers import EXAMPLES

W = "{urn:customs-gateway:wco:1}"


def test_the_example_names_its_two_images_with_digest_size_and_type():
    root = etree.parse(str(EXAMPLES / "inspection-result.xml")).getroot()
    images = images_of(root)
    assert [(i.id, i.type_code, i.media_type) for i in images] == [
        ("xray-1", "xray", "image/png"),
        ("photo-1", "photo", "image/png"),
    ]
    for image in images:
        data = (EXAMPLES / "images" / str(image.file_name)).read_bytes()
        assert image.sha256 == hashlib.sha256(data).hexdigest()
        assert image.size == len(data)
        assert image.digest_b64 == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_other_messages_name_no_images():
    assert images_of(etree.parse(str(EXAMPLES / "risk-alert-drugs.xml")).getroot()) == ()


def test_an_image_id_used_twice_is_refused():
    root = etree.parse(str(EXAMPLES / "inspection-result.xml")).getroot()
    second = root.findall(f".//{W}Image")[1]
    second.find(f"{W}ID").text = "xray-1"
    with pytest.raises(SchemaInvalid, match="'xray-1' is used twice") as raised:
        images_of(root)
    assert raised.value.pointer == "/Envelope/Body/InspectionResult/Image[2]"


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (b"GIF89a\x01\x00", None),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_magic_numbers(head, media_type):
    assert sniff(head) == media_type
