"""SM2-SM3 XML signatures in the CEB profile (spec chapter 6).

SM3/SM2 vectors and OpenSSL interop, round trips on real CEB samples, tampering, both SignatureValue
encodings, both SignatureMethod URIs, pinning, validity, keys and partner files.
"""

from __future__ import annotations

import base64
import datetime as dt
import stat

import gmssl_pyx
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from lxml import etree

from gateway.cli import main
from gateway.errors import CertificateExpired, CertificateUntrusted, ConfigError, Rejection, SignatureInvalid
from gateway.partners.model import PartnerFile
from gateway.security.certificates import (
    SM2_DEFAULT_ID,
    Sm2PrivateKey,
    load_certificate,
    load_private_key,
    load_sm2_private_key,
    new_key_and_certificate,
    sm2_z,
    write_key_and_certificate,
)
from gateway.security.signatures import SignatureVerifier
from gateway.security.sm2 import CHINAPORT_SM2_SM3, CHINAPORT_SM3, W3_SM2_SM3, Sm2Signer, load_sm2_signer, sm3
from gateway.security.verified import DS
from gateway.security.xml import parse_xml, to_bytes
from tests.helpers import FIXTURES

CEB = FIXTURES / "ceb"
CEB311 = CEB / "samples" / "import" / "CEB311Message.xml"  # 17.6 KB, starts with a UTF-8 BOM
CEB621_3KB = CEB / "signed" / "CEB621Message_unsigned_webapp.xml"
CEB621_WEBAPP_SIGNED = CEB / "signed" / "CEB621Message_signed_webapp.xml"
NS = {"ds": DS, "ceb": "http://www.chinaport.gov.cn/ceb"}

# An independent implementation's output: OpenSSL 3.0.19 made this SM2 key, this self-signed SM2-with-SM3
# certificate (openssl req -x509 -sm3 -sigopt distid:1234567812345678) and this signature of OPENSSL_MESSAGE
# (openssl pkeyutl -sign -rawin -digest sm3 -pkeyopt distid:1234567812345678). Test data, no secret.
OPENSSL_KEY = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgMTQwU9CkSOfT7eU4
9AALBCS7YBaAhkTwKdTm9HhufOqhRANCAASMrR4yXWyectSkLO6HhS4+j1LXUHkD
3TyR0QRWuDjgh6PE6K6KAlNmXi3cIbEdaaldoJcCFfNEk1pORXkZKph8
-----END PRIVATE KEY-----
"""
OPENSSL_CERT = b"""-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUF7MYmpI+VuakordWKNi2PKCJjdcwCgYIKoEcz1UBg3Uw
HTEbMBkGA1UEAwwSb3BlbnNzbC1zbTItdmVjdG9yMCAXDTI2MTEyNzIyNTcwNloY
DzIxMjYxMTAzMjI1NzA2WjAdMRswGQYDVQQDDBJvcGVuc3NsLXNtMi12ZWN0b3Iw
WTATBgcqhkjOPQIBBggqgRzPVQGCLQNCAASMrR4yXWyectSkLO6HhS4+j1LXUHkD
3TyR0QRWuDjgh6PE6K6KAlNmXi3cIbEdaaldoJcCFfNEk1pORXkZKph8o1MwUTAd
BgNVHQ4EFgQUGIdMBpVo+U8z8EXTRa/hhfY6ixwwHwYDVR0jBBgwFoAUGIdMBpVo
+U8z8EXTRa/hhfY6ixwwDwYDVR0TAQH/BAUwAwEB/zAKBggqgRzPVQGDdQNIADBF
AiEAkP9U29pcrimL9WE+KbHSLvyeP2BHq1S6vEU0HWhCdMYCIEG1t3Ibab294Fcu
ME7vb0z/MU16c6wVPQluXIvu0HV8
-----END CERTIFICATE-----
"""
OPENSSL_MESSAGE = b"GM/T 0009 interop: signed by OpenSSL 3.0"
OPENSSL_SIGNATURE = base64.b64decode(
    "MEUCIB5MBmTqVP+S0YDHx/ggVwYaVLi3gf/5Er7PzZNpbo5wAiEA64lD1PN4FszxC6sW9NVACzRyPxyMiHfIzqYDpvvJPt0="
)
OPENSSL_VALID_AT = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # inside its 2026-2126 window on any clock


class Party:
    """An SM2 identity as files on disk (what a partner file pins), loaded the gateway's way."""

    def __init__(self, folder, name, *, days=30, not_before=None):
        key, cert = new_key_and_certificate(name, algorithm="sm2", days=days, not_before=not_before)
        self.key_path, self.cert_path = folder / f"{name}.key", folder / f"{name}.crt"
        write_key_and_certificate(key, cert, self.key_path, self.cert_path)
        self.key = load_sm2_private_key(self.key_path)
        self.trusted = load_certificate(self.cert_path)
        self.signer = Sm2Signer(self.key, self.trusted.certificate)


@pytest.fixture(scope="module")
def nsw(tmp_path_factory):
    return Party(tmp_path_factory.mktemp("sm2"), "cn-nsw")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    return Party(tmp_path_factory.mktemp("sm2-stranger"), "cn-nsw")  # same name, other key


def unsigned(path):
    """A CEB sample without its illustrative signature (the official samples' signatures do not verify)."""
    root = parse_xml(path.read_bytes())
    for signature in root.findall("ds:Signature", NS):
        root.remove(signature)
    return root


def signed_bytes(party, path=CEB311):
    return to_bytes(party.signer.sign(unsigned(path)))


def verify(data, *trusted, legacy=()):
    return SignatureVerifier("cn-nsw", list(trusted), legacy).verify(parse_xml(data))


def edit(data, change):
    """Apply ``change(root)`` to a signed document and return the bytes: an attacker's edit."""
    root = parse_xml(data)
    change(root)
    return to_bytes(root)


def resign(data, key, change):
    """Change SignedInfo and sign it again: a valid signature in a changed profile."""
    root = parse_xml(data)
    change(root)
    signed_info = root.find("ds:Signature/ds:SignedInfo", NS)
    r, s = decode_dss_signature(key.sign(etree.tostring(signed_info, method="c14n", with_comments=False)))
    root.find("ds:Signature/ds:SignatureValue", NS).text = base64.b64encode(
        r.to_bytes(32, "big") + s.to_bytes(32, "big")
    ).decode()
    return to_bytes(root)


def test_sm3_standard_vectors():
    # GM/T 0004-2012 appendix A, examples 1 and 2
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm2_signature_binds_the_default_user_id(nsw):
    message = b"CEB SignedInfo"
    signature = nsw.key.sign(message)
    assert gmssl_pyx.sm2_verify(nsw.key.public, message, signature, signer_id=b"1234567812345678")
    assert SM2_DEFAULT_ID == b"1234567812345678"
    assert not gmssl_pyx.sm2_verify(nsw.key.public, message, signature, signer_id=b"ALICE123@YAHOO.COM")


def test_openssl_key_certificate_and_signature_interoperate(tmp_path):
    (tmp_path / "o.key").write_bytes(OPENSSL_KEY)
    (tmp_path / "o.key").chmod(0o600)
    (tmp_path / "o.crt").write_bytes(OPENSSL_CERT)
    key = load_sm2_private_key(tmp_path / "o.key")
    trusted = load_certificate(tmp_path / "o.crt")
    assert trusted.sm2_public_key == key.public
    assert trusted.subject == "CN=openssl-sm2-vector"
    # OpenSSL's Z (default distinguishing id) is ours: its signature verifies against SM3(Z || M).
    digest = sm3(sm2_z(key.public) + OPENSSL_MESSAGE)
    assert gmssl_pyx.sm2_verify_sm3_digest(key.public, digest, OPENSSL_SIGNATURE)
    # ... and an XML document signed with OpenSSL's key verifies against OpenSSL's certificate.
    data = to_bytes(Sm2Signer(key, trusted.certificate).sign(unsigned(CEB621_3KB)))
    result = SignatureVerifier("cn-nsw", [trusted]).verify(parse_xml(data), now=OPENSSL_VALID_AT)
    assert result.certificate is trusted


def test_round_trip_on_the_ceb311_sample(nsw):
    assert CEB311.read_bytes().startswith(b"\xef\xbb\xbf")
    data = signed_bytes(nsw)
    result = verify(data, nsw.trusted)
    assert result.algorithm == CHINAPORT_SM2_SM3
    assert result.certificate is nsw.trusted
    assert not result.legacy
    assert etree.QName(result.xml).localname == "CEB311Message"
    assert result.xml.find("ds:Signature", NS) is None  # parsed from what the signature covers
    assert result.xml.findtext("ceb:Order/ceb:OrderHead/ceb:orderNo", namespaces=NS)
    assert b"Signature" not in result.signed_data
    assert result.signed_data.startswith(b"<ceb:CEB311Message")


def test_signature_follows_chapter_6_and_the_ceb_schema(nsw):
    root = parse_xml(signed_bytes(nsw))
    signature = root[-1]  # the XSDs put ds:Signature last
    assert etree.QName(signature).text == f"{{{DS}}}Signature"
    info = signature.find("ds:SignedInfo", NS)
    assert info.find("ds:CanonicalizationMethod", NS).get("Algorithm") == (
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    )
    assert info.find("ds:SignatureMethod", NS).get("Algorithm") == CHINAPORT_SM2_SM3
    assert info.find("ds:Reference", NS).get("URI") == ""
    assert info.find("ds:Reference/ds:DigestMethod", NS).get("Algorithm") == CHINAPORT_SM3
    assert len(base64.b64decode(signature.findtext("ds:SignatureValue", namespaces=NS))) == 64  # r || s
    serial = nsw.trusted.certificate.serial_number
    assert int(signature.findtext("ds:KeyInfo/ds:KeyName", namespaces=NS), 16) == serial
    embedded = signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    assert base64.b64decode(embedded) == nsw.trusted.der
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    schema = etree.XMLSchema(etree.parse(str(CEB / "xsd" / "ceb_import_business_202205.xsd"), parser))
    assert schema.validate(root), schema.error_log.last_error


def test_tampered_content_is_signature_invalid(nsw):
    data = edit(signed_bytes(nsw), lambda r: r.find(".//ceb:orderNo", NS).__setattr__("text", "order-999"))
    with pytest.raises(SignatureInvalid, match=r"SM3 digest .* does not match DigestValue"):
        verify(data, nsw.trusted)


def test_tampered_signature_value_is_signature_invalid(nsw):
    def flip(root):
        value = root.find("ds:Signature/ds:SignatureValue", NS)
        raw = bytearray(base64.b64decode(value.text))
        raw[40] ^= 0x01
        value.text = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(SignatureInvalid, match="does not verify") as caught:
        verify(edit(signed_bytes(nsw), flip), nsw.trusted)
    assert caught.value.code == "signature-invalid"
    assert caught.value.http_status == 401


def test_der_and_raw_signature_values_are_both_accepted(nsw):
    data = signed_bytes(nsw)

    def to_der(root):
        value = root.find("ds:Signature/ds:SignatureValue", NS)
        raw = base64.b64decode(value.text)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        value.text = base64.encodebytes(der).decode()  # with line breaks, as CEB samples wrap base64

    assert verify(data, nsw.trusted).algorithm == CHINAPORT_SM2_SM3
    assert verify(edit(data, to_der), nsw.trusted).algorithm == CHINAPORT_SM2_SM3


def test_indented_signature_as_ceb_clients_write_it_verifies(nsw):
    # Whitespace inside SignedInfo is signed as it stands (inclusive C14N in place): a signer that indents its
    # ds:Signature before signing, as the official samples show, verifies.
    def indent(root):
        etree.indent(root.find("ds:Signature", NS), space="  ")

    assert verify(resign(signed_bytes(nsw), nsw.key, indent), nsw.trusted).certificate is nsw.trusted
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify(edit(signed_bytes(nsw), indent), nsw.trusted)  # indented after signing: SignedInfo changed


def test_signature_value_of_another_shape_is_refused(nsw):
    def shorten(root):
        root.find("ds:Signature/ds:SignatureValue", NS).text = base64.b64encode(b"\x01" * 63).decode()

    with pytest.raises(SignatureInvalid, match="63 bytes is neither"):
        verify(edit(signed_bytes(nsw), shorten), nsw.trusted)


def test_the_w3_org_sm2_sm3_variant_is_accepted(nsw):
    def w3(root):
        root.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS).set("Algorithm", W3_SM2_SM3)

    assert verify(resign(signed_bytes(nsw), nsw.key, w3), nsw.trusted).algorithm == W3_SM2_SM3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r.find("ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestMethod", NS).set(
                "Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1"
            ),
            "digest algorithm .*sha1.* not accepted with sm2-sm3",
        ),
        (
            lambda r: etree.SubElement(
                r.find("ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms", NS),
                f"{{{DS}}}Transform",
                Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
            ),
            "transforms .* not accepted with sm2-sm3",
        ),
        (
            lambda r: r.find("ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod", NS).set(
                "Algorithm", "http://www.w3.org/2006/12/xml-c14n11"
            ),
            "CanonicalizationMethod .* not accepted with sm2-sm3",
        ),
    ],
    ids=["sha1-digest", "exclusive-c14n-transform", "c14n-1.1"],
)
def test_other_profiles_are_refused_even_when_correctly_signed(nsw, change, message):
    with pytest.raises(SignatureInvalid, match=message):
        verify(resign(signed_bytes(nsw), nsw.key, change), nsw.trusted)


def test_every_broken_signature_part_is_a_clean_rejection(nsw):
    """Each element of ds:Signature removed, emptied, filled with junk or given a junk Algorithm: a Rejection
    (never another exception), or accepted only where the change is outside what is signed (KeyInfo) or leaves
    the canonical form as it was (empty text where there was none)."""
    data = signed_bytes(nsw, CEB621_3KB)
    names = [etree.QName(e).localname for e in parse_xml(data).find("ds:Signature", NS).iter()]
    outcomes = {}
    for index in range(1, len(names)):
        for damage in ("remove", "empty", "junk", "attribute"):

            def change(root, index=index, damage=damage):
                element = list(root.find("ds:Signature", NS).iter())[index]
                if damage == "remove":
                    element.getparent().remove(element)
                elif damage == "empty":
                    element.text = ""
                elif damage == "junk":
                    element.text = "@@not base64@@" if len(element) == 0 else element.text
                else:
                    element.set("Algorithm", "urn:junk")

            try:
                verify(edit(data, change), nsw.trusted)
                outcomes[names[index], damage] = "accepted"
            except Rejection as exc:
                outcomes[names[index], damage] = exc.code
    assert set(outcomes.values()) == {"accepted", "signature-invalid", "certificate-untrusted"}
    methods = ["CanonicalizationMethod", "SignatureMethod", "Transform", "DigestMethod"]
    for name in [*methods, "SignedInfo", "Reference", "Transforms", "DigestValue", "SignatureValue"]:
        assert outcomes[name, "remove"] == "signature-invalid", name
    for name in methods:
        assert outcomes[name, "attribute"] == "signature-invalid", name
    for name in ["DigestValue", "SignatureValue"]:
        assert outcomes[name, "junk"] == "signature-invalid", name


def test_key_whose_certificate_is_not_pinned_is_certificate_untrusted(nsw, stranger):
    with pytest.raises(CertificateUntrusted, match="not one of partner cn-nsw's trusted certificates"):
        verify(signed_bytes(stranger), nsw.trusted)


def test_without_an_embedded_certificate_the_pinned_sm2_certificates_are_tried(nsw, stranger):
    def drop_x509(root):
        key_info = root.find("ds:Signature/ds:KeyInfo", NS)
        key_info.remove(key_info.find("ds:X509Data", NS))

    data = edit(signed_bytes(nsw), drop_x509)
    assert verify(data, stranger.trusted, nsw.trusted).certificate is nsw.trusted
    with pytest.raises(SignatureInvalid, match="does not verify with partner cn-nsw's certificate"):
        verify(data, stranger.trusted)


def test_sm2_signature_for_a_partner_with_only_rsa_certificates(nsw, tmp_path):
    from tests.helpers import make_identity

    rsa = load_certificate(make_identity(tmp_path, "cn-nsw").cert_path)

    def drop_x509(root):
        key_info = root.find("ds:Signature/ds:KeyInfo", NS)
        key_info.remove(key_info.find("ds:X509Data", NS))

    with pytest.raises(CertificateUntrusted, match="no SM2 certificate"):
        verify(edit(signed_bytes(nsw), drop_x509), rsa)


def test_expired_sm2_certificate_is_certificate_expired(tmp_path):
    old = Party(tmp_path, "cn-nsw", days=1, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
    with pytest.raises(CertificateExpired, match="expired on"):
        verify(signed_bytes(old, CEB621_3KB), old.trusted)


def test_the_official_sample_signature_is_rejected_cleanly(nsw):
    # SM2 URIs, but an RSA-1024 certificate, a 20-byte DigestValue and a 128-byte value: illustrative only.
    with pytest.raises(CertificateUntrusted, match="not one of partner cn-nsw's trusted certificates"):
        verify(CEB311.read_bytes(), nsw.trusted)


def test_the_webapp_signed_ceb621_with_scrambled_certificate_is_rejected_cleanly(nsw):
    # rsa-sha1 with a certificate whose base64 lines are shuffled (valid base64, not a certificate): refused
    # for its algorithm, and where a partner allows rsa-sha1, for its certificate (not pinned, unreadable).
    data = CEB621_WEBAPP_SIGNED.read_bytes()
    with pytest.raises(SignatureInvalid, match="rsa-sha1"):
        verify(data, nsw.trusted)
    with pytest.raises(CertificateUntrusted, match="unreadable certificate"):
        verify(data, nsw.trusted, legacy=["rsa-sha1"])


def test_signer_refuses_a_certificate_of_another_key_and_a_signed_document(nsw, stranger):
    with pytest.raises(ConfigError, match="does not hold the public key"):
        Sm2Signer(nsw.key, stranger.trusted.certificate)
    with pytest.raises(ValueError, match="already carries a ds:Signature"):
        nsw.signer.sign(parse_xml(CEB311.read_bytes()))


def test_keys_new_sm2_writes_a_usable_key_and_certificate(tmp_path, capsys):
    assert main(["keys", "new", "cn-nsw", "--out", str(tmp_path), "--days", "10", "--algorithm", "sm2"]) == 0
    key_path, cert_path = tmp_path / "cn-nsw.key", tmp_path / "cn-nsw.crt"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = load_sm2_private_key(key_path)
    trusted = load_certificate(cert_path)
    assert trusted.sm2_public_key == key.public
    assert trusted.subject == "CN=cn-nsw"
    assert 9.9 < trusted.days_left(trusted.not_before) <= 10.01
    data = to_bytes(load_sm2_signer(key_path, cert_path).sign(unsigned(CEB621_3KB)))
    assert verify(data, trusted).certificate is trusted
    with pytest.raises(ConfigError, match="an SM2 private key"):
        load_private_key(key_path)  # the gateway's RSA/EC signing_key slot says what it is given


def test_unreadable_sm2_key_files_are_config_errors(tmp_path):
    path = tmp_path / "k.key"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="unreadable SM2 private key"):
        load_sm2_private_key(path)
    path.write_bytes(Sm2PrivateKey.generate().pem().replace(b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"))
    with pytest.raises(ConfigError, match="encrypted private keys are not supported"):
        load_sm2_private_key(path)


def test_partner_file_signature_algorithm():
    base = {"id": "cn-nsw", "name": "NSW", "role": "single-window", "country": "CN", "certificates": ["c"]}
    assert PartnerFile.model_validate(base).signature_algorithm is None
    sm2 = PartnerFile.model_validate({**base, "signature_algorithm": "sm2-sm3"})
    assert sm2.signature_algorithm == "sm2-sm3"
    with pytest.raises(ValueError, match="sm2-sm3"):
        PartnerFile.model_validate({**base, "signature_algorithm": "sm2"})
