"""The gateway's own signing identities: SM2-SM3 towards CEB partners, key rollover, published certs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.cli import main
from gateway.errors import CertificateUntrusted, ConfigError, SignatureInvalid
from gateway.formats import default_adapters
from gateway.formats.ceb import CebAdapter
from gateway.mapping import ceb
from gateway.mapping.ceb import CEB_NS
from gateway.partners import load_partners
from gateway.runtime import RUNTIME, Runtime
from gateway.security.certificates import load_certificate, load_sm2_private_key
from gateway.security.keyring import Keyring, load_keyring
from gateway.security.signatures import SignatureVerifier, Signer
from gateway.security.sm2 import CHINAPORT_SM2_SM3, Sm2Signer
from gateway.security.verified import DS, Verified
from gateway.security.xml import parse_xml, to_bytes
from gateway.sender import send_file
from tests.conftest import remove_topology
from tests.formats import ceb_samples
from tests.helpers import (
    Deployment,
    Identity,
    PartnerSpec,
    Sm2Identity,
    envelope,
    make_deployment,
    make_identity,
    make_sm2_identity,
    signed,
)

C = f"{{{CEB_NS}}}"
NS = {"c": CEB_NS, "ds": DS}
SM2_PARTNER = 'signature_algorithm = "sm2-sm3"'
NOW = dt.datetime.now(dt.UTC)


def set_gateway_keys(deployment: Deployment, **keys: str) -> None:
    """Add keys to the [gateway] section of the deployment's gateway.toml (values are TOML literals)."""
    lines = "".join(f"{name} = {value}\n" for name, value in keys.items())
    text = deployment.config_path.read_text()
    deployment.config_path.write_text(
        text.replace('partners_dir = "partners"\n', f'partners_dir = "partners"\n{lines}')
    )


def add_sm2_key(deployment: Deployment) -> Sm2Identity:
    identity = make_sm2_identity(deployment.folder / "keys", "gw-test-sm2")
    set_gateway_keys(deployment, sm2_signing_key='"keys/gw-test-sm2.key"', sm2_signing_cert='"keys/gw-test-sm2.crt"')
    return identity


def add_next_key(deployment: Deployment, switch_at: dt.datetime) -> Identity:
    """The next RSA key, its certificate valid from two days ago for 30 days."""
    identity = make_identity(deployment.folder / "keys", "gw-test-next", not_before=NOW - dt.timedelta(days=2))
    set_gateway_keys(
        deployment,
        next_signing_key='"keys/gw-test-next.key"',
        next_signing_cert='"keys/gw-test-next.crt"',
        signing_switch_at=f'"{switch_at.strftime("%Y-%m-%dT%H:%M:%SZ")}"',
    )
    return identity


@dataclass
class Sm2Partner:
    signer: Sm2Signer
    key_path: Path
    cert_path: Path


def sm2_partner(deployment: Deployment, partner_id: str) -> Sm2Partner:
    """Give a partner an SM2 key: its pinned certificate becomes the SM2 one (as a CEB signing device's)."""
    identity = make_sm2_identity(deployment.folder / "partner-keys", f"{partner_id}-sm2")
    (deployment.folder / "partners" / "certs" / f"{partner_id}.crt").write_bytes(identity.cert_path.read_bytes())
    signer = Sm2Signer(load_sm2_private_key(identity.key_path), identity.cert)
    return Sm2Partner(signer, identity.key_path, identity.cert_path)


def verify_sm2(data: bytes, cert_path: Path) -> Verified:
    """What a CEB partner does with the gateway's SM2 certificate (SignatureVerifier hands it to sm2)."""
    return SignatureVerifier("gw-test", [load_certificate(cert_path)]).verify(parse_xml(data))


def nsw_spec(url: str = "http://127.0.0.1:9/inbox", **fields: object) -> PartnerSpec:
    values: dict[str, object] = {
        "format": "ceb", "role": "single-window", "country": "CN", "sends": ["order"], "receives": ["order"],
        "extra": SM2_PARTNER, **fields,
    }  # fmt: skip
    return PartnerSpec("cn-nsw", url=url, **values)  # type: ignore[arg-type]


# --- choosing and loading ------------------------------------------------------------------------------


def test_each_partner_gets_the_signer_of_its_algorithm(tmp_path):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x"), nsw_spec()])
    sm2 = add_sm2_key(deployment)
    settings = deployment.settings()
    registry = load_partners(settings.partners_dir, frozenset(default_adapters()))
    keyring = load_keyring(settings)
    keyring.check(registry.values())

    to_nsw = keyring.for_partner(registry["cn-nsw"])
    assert isinstance(to_nsw, Sm2Signer)
    assert to_nsw.certificate == sm2.cert
    to_nl = keyring.for_partner(registry["nl-customs"])
    assert isinstance(to_nl, Signer)
    assert to_nl.certificate == deployment.gateway.cert
    assert keyring.for_partner(None) is to_nl  # an unknown sender's rejection: the default key
    document = to_bytes(to_nsw.sign(ceb_samples.order(ceb_samples.Purchase())))
    assert verify_sm2(document, sm2.cert_path).algorithm == CHINAPORT_SM2_SM3


def test_a_partner_asking_for_sm2_without_an_sm2_key_refuses_the_start(tmp_path):
    deployment = make_deployment(tmp_path, [nsw_spec()])
    with pytest.raises(ConfigError) as caught:
        build_app(deployment.settings())
    message = caught.value.message
    assert "cn-nsw" in message
    assert "cn-nsw.toml" in message
    assert '"sm2-sm3"' in message.replace("'", '"')
    assert "sm2_signing_key and sm2_signing_cert" in message
    assert "--algorithm sm2" in message


async def test_a_partner_turning_to_sm2_without_an_sm2_key_is_refused_at_reload(tmp_path):
    deployment = make_deployment(tmp_path, [nsw_spec(extra="")])
    runtime = Runtime(deployment.settings())
    assert runtime.keyring.for_partner(runtime.registry["cn-nsw"]).certificate == deployment.gateway.cert
    partner_file = deployment.folder / "partners" / "cn-nsw.toml"
    partner_file.write_text(f"{SM2_PARTNER}\n{partner_file.read_text()}")
    with pytest.raises(ConfigError, match="sm2_signing_key"):
        await runtime.reload(actor="test")
    assert runtime.registry["cn-nsw"].spec.signature_algorithm is None  # the running set stays


def _rsa_key_as_sm2(d: Deployment) -> None:
    set_gateway_keys(d, sm2_signing_key='"keys/gw-test.key"', sm2_signing_cert='"keys/gw-test.crt"')


def _sm2_key_as_default(d: Deployment) -> None:
    make_sm2_identity(d.folder / "keys", "gw-sm2")
    text = d.config_path.read_text().replace('"keys/gw-test.key"', '"keys/gw-sm2.key"')
    d.config_path.write_text(text.replace('"keys/gw-test.crt"', '"keys/gw-sm2.crt"'))


def _mismatched_pair(d: Deployment) -> None:
    make_identity(d.folder / "keys", "other")
    d.config_path.write_text(d.config_path.read_text().replace('"keys/gw-test.crt"', '"keys/other.crt"'))


def _next_cert_not_valid_at_switch(d: Deployment) -> None:
    add_next_key(d, NOW + dt.timedelta(days=60))  # the next certificate ends after 28 days


@pytest.mark.parametrize(
    ("configure", "expected"),
    [
        (
            lambda d: set_gateway_keys(d, next_signing_key='"k"', next_signing_cert='"c"'),
            "signing_switch_at (an RFC 3339 time, e.g. 2027-01-01T00:00:00Z) is required with next_signing_",
        ),
        (lambda d: set_gateway_keys(d, next_signing_key='"k"'), "next_signing_key and next_signing_cert go"),
        (lambda d: set_gateway_keys(d, sm2_signing_cert='"c"'), "sm2_signing_key and sm2_signing_cert go"),
        (
            lambda d: set_gateway_keys(
                d, next_signing_key='"k"', next_signing_cert='"c"', signing_switch_at="2027-01-01T00:00:00"
            ),
            "gateway.signing_switch_at: Input should have timezone info",
        ),
        (
            lambda d: set_gateway_keys(
                d, next_signing_key='"k"', next_signing_cert='"c"', signing_switch_at='"next monday"'
            ),
            "gateway.signing_switch_at: Input should be a valid datetime",
        ),
        (_rsa_key_as_sm2, "[gateway] sm2_signing_key / sm2_signing_cert: "),
        (_rsa_key_as_sm2, "gw-test.key: not an SM2 private key"),
        (_sm2_key_as_default, "[gateway] signing_key / signing_cert: "),
        (_sm2_key_as_default, "an SM2 private key where an RSA or EC key is needed"),
        (_mismatched_pair, "other.crt: this certificate does not hold the public key of"),
        (_next_cert_not_valid_at_switch, "which does not include signing_switch_at"),
    ],
    ids=["switch-missing", "cert-missing", "sm2-key-missing", "naive-time", "not-a-time", "rsa-as-sm2",
         "rsa-as-sm2-reason", "sm2-as-default", "sm2-as-default-reason", "mismatched-pair",
         "next-cert-window"],
)  # fmt: skip
def test_a_bad_key_configuration_is_refused_naming_the_key(tmp_path, configure, expected):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x")])
    configure(deployment)
    with pytest.raises(ConfigError) as caught:
        load_keyring(deployment.settings())
    assert expected in caught.value.message


@pytest.mark.parametrize("switched", [False, True], ids=["switch-in-the-future", "switch-in-the-past"])
def test_the_next_key_signs_from_the_switch_time(tmp_path, switched):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x")])
    switch_at = NOW + (dt.timedelta(days=-1) if switched else dt.timedelta(days=10))
    following = add_next_key(deployment, switch_at)
    keyring = load_keyring(deployment.settings())
    partner = load_partners(deployment.settings().partners_dir)["nl-customs"]

    expected, other = (following, deployment.gateway) if switched else (deployment.gateway, following)
    assert keyring.for_partner(partner).certificate == expected.cert
    document = to_bytes(keyring.for_partner(partner).sign(envelope("gw-test", "nl-customs")))
    XMLVerifier().verify(document, x509_cert=expected.cert)
    with pytest.raises(CertificateUntrusted):  # a partner that pinned only the other certificate refuses it
        SignatureVerifier("gw-test", [load_certificate(other.cert_path)]).verify(parse_xml(document))
    # The same keyring at a chosen moment: before and after the switch (no sleeping).
    at = Keyring(keyring.default, clock=lambda: (switch_at - dt.timedelta(seconds=1)).timestamp())
    assert at.for_partner(partner).certificate == deployment.gateway.cert
    at = Keyring(keyring.default, clock=lambda: switch_at.timestamp())
    assert at.for_partner(partner).certificate == following.cert


# --- through the running gateway: receipts, deliveries, published certificates --------------------------


@pytest.mark.parametrize("switched", [False, True], ids=["switch-in-the-future", "switch-in-the-past"])
async def test_receipts_and_deliveries_use_the_key_of_the_moment_and_both_certificates_are_published(
    tmp_path, inbox_factory, amqp, aiohttp_client, switched
):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x"), PartnerSpec("de-customs", url=inbox.url)],
    )
    switch_at = NOW + (dt.timedelta(days=-1) if switched else dt.timedelta(days=10))
    following = add_next_key(deployment, switch_at)
    expected = following if switched else deployment.gateway
    client = await aiohttp_client(build_app(deployment.settings()))
    try:
        body = signed(deployment.partners["nl-customs"], envelope("nl-customs", "de-customs"))
        response = await client.post("/v1/partners/nl-customs/messages", data=body)
        assert response.status == 202, await response.text()
        XMLVerifier().verify(await response.read(), x509_cert=expected.cert)
        await inbox.wait_for(1)
        XMLVerifier().verify(inbox.received[0][1], x509_cert=expected.cert)

        public = await client.get("/v1/keys")  # no token: certificates are public
        assert public.status == 200
        keys = (await public.json())["keys"]
        assert [(k["signature_algorithm"], k["slot"], k["in_use"]) for k in keys] == [
            ("default", "current", not switched),
            ("default", "next", switched),
        ]
        assert [k["certificate"].encode() for k in keys] == [
            deployment.gateway.cert_path.read_bytes(),
            following.cert_path.read_bytes(),
        ]
        assert keys[0]["signs_until"] == keys[1]["signs_from"] == switch_at.replace(microsecond=0).isoformat()
        assert keys[1]["subject"] == "CN=gw-test-next"
        assert keys[1]["not_after"] > switch_at.isoformat()
        assert "key_file" not in keys[0]

        assert (await client.get("/v1/admin/keys")).status == 401
        token = client.server.app[RUNTIME].token
        admin = await client.get("/v1/admin/keys", headers={"Authorization": f"Bearer {token}"})
        listed = (await admin.json())["keys"]
        assert [k["cert_file"] for k in listed] == [
            str(deployment.gateway.cert_path),
            str(following.cert_path),
        ]
        assert listed[1]["key_file"] == str(following.key_path)
    finally:
        await client.close()
        await remove_topology(amqp, deployment, ["nl-customs", "de-customs"])


def test_keys_show_prints_both_certificates_with_their_validity(tmp_path, capsys):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x")])
    switch_at = NOW + dt.timedelta(days=10)
    following = add_next_key(deployment, switch_at)
    sm2 = add_sm2_key(deployment)
    assert main(["keys", "show", "--config", str(deployment.config_path)]) == 0
    out = capsys.readouterr().out
    assert f"default signing key, current (in use, signs until {switch_at.replace(microsecond=0).isoformat()})" in out
    assert "default signing key, next (not in use yet, signs from" in out
    assert "sm2-sm3 signing key, current (in use)" in out
    for identity in (deployment.gateway, following, sm2):
        assert identity.cert_path.read_text() in out
        assert f"certificate {identity.cert_path}: CN={identity.id}" in out
    assert "days left" in out


# --- SM2-SM3 towards a CEB partner, end to end ----------------------------------------------------------


@pytest.fixture
async def sm2_flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    nl_inbox, nsw_inbox = await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            nsw_spec(nsw_inbox.url),
            PartnerSpec("nl-customs", url=nl_inbox.url, sends=["order"], receives=["order"]),
        ],
        rules='[[routing.rules]]\ntypes = ["order"]\nsenders = ["cn-nsw"]\nreceivers = ["nl-customs"]\n',
    )
    gateway_sm2 = add_sm2_key(deployment)
    nsw = sm2_partner(deployment, "cn-nsw")
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, gateway_sm2, nsw, nl_inbox, nsw_inbox
    await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "nl-customs"])


async def test_receipts_to_an_sm2_ceb_partner_are_sm2_signed(sm2_flow):
    deployment, client, gateway_sm2, nsw, nl_inbox, _ = sm2_flow
    purchase = ceb_samples.Purchase()
    body = to_bytes(nsw.signer.sign(ceb_samples.order(purchase)))
    response = await client.post("/v1/partners/cn-nsw/messages", data=body)
    answer = await response.read()
    assert response.status == 202, answer

    verified = verify_sm2(answer, gateway_sm2.cert_path)
    assert verified.algorithm == CHINAPORT_SM2_SM3
    receipt = parse_xml(answer)
    assert receipt.find("ds:Signature/ds:KeyInfo/ds:KeyName", NS) is not None  # the CEB profile's KeyInfo
    # The GACC receipt schemas have no place for ds:Signature: signed in the DxpMsg carrying it (chapter 4).
    document = ceb_samples.carried(verified.xml)
    assert etree.QName(document).localname == "CEB312Message"
    returned = ceb.fields_of(document.find(C + "OrderReturn"))
    assert (returned["orderNo"], returned["returnStatus"]) == (purchase.order_no, "2")
    CebAdapter().validate(document)
    with pytest.raises((CertificateUntrusted, SignatureInvalid)):  # not by the gateway's RSA key
        SignatureVerifier("gw-test", [load_certificate(deployment.gateway.cert_path)]).verify(receipt)

    # The canonical receiver of the same order still gets the gateway's RSA signature.
    await nl_inbox.wait_for(1)
    XMLVerifier().verify(nl_inbox.received[0][1], x509_cert=deployment.gateway.cert)

    # A rejection is SM2-signed too (spec chapter 7 code -1001 for a broken signature).
    tampered = to_bytes(nsw.signer.sign(ceb_samples.order(ceb_samples.Purchase()))).replace(
        purchase.order_no.encode(), b"ORD-2026-999999"
    )
    response = await client.post("/v1/partners/cn-nsw/messages", data=tampered)
    assert response.status == 401
    rejection = verify_sm2(await response.read(), gateway_sm2.cert_path)
    assert ceb_samples.carried(rejection.xml).findtext("c:OrderReturn/c:returnStatus", namespaces=NS) == "-1001"


async def test_a_delivery_to_an_sm2_ceb_receiver_arrives_sm2_signed(sm2_flow):
    deployment, client, gateway_sm2, _, _, nsw_inbox = sm2_flow
    original = envelope("nl-customs", "cn-nsw", message_type="order", example="order.xml")
    response = await client.post(
        "/v1/partners/nl-customs/messages", data=signed(deployment.partners["nl-customs"], original)
    )
    assert response.status == 202, await response.text()
    XMLVerifier().verify(await response.read(), x509_cert=deployment.gateway.cert)  # its receipt: RSA

    await nsw_inbox.wait_for(1)
    headers, delivered = nsw_inbox.received[0]
    assert headers["X-Gateway-Message-Id"] == response.headers["X-Gateway-Message-Id"]
    verified = verify_sm2(delivered, gateway_sm2.cert_path)
    assert verified.algorithm == CHINAPORT_SM2_SM3
    document = parse_xml(delivered)
    assert etree.QName(document).localname == "CEB311Message"
    assert document.find("ds:SignedInfo", NS) is None
    assert document[-1].tag == f"{{{DS}}}Signature"
    CebAdapter().validate(document)
    assert ceb.fields_of(verified.xml.find("c:Order/c:OrderHead", NS))["orderNo"] == "ORD-2026-000123"


async def test_gateway_send_signs_with_sm2_when_given_an_sm2_key(sm2_flow, tmp_path):
    _, client, gateway_sm2, nsw, _, _ = sm2_flow
    message = tmp_path / "order.xml"
    message.write_bytes(to_bytes(ceb_samples.order(ceb_samples.Purchase(order_no="ORD-2026-000777"))))
    url = str(client.make_url("/v1/partners/cn-nsw/messages"))
    status, answer = await send_file(message, nsw.key_path, nsw.cert_path, url)
    assert status == 202, answer
    assert verify_sm2(answer, gateway_sm2.cert_path).algorithm == CHINAPORT_SM2_SM3


def test_the_gateways_own_certificates_expiring_are_warned_about(tmp_path):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x")])
    sm2 = add_sm2_key(deployment)  # 30 days, like the gateway's test certificate
    keyring = load_keyring(deployment.settings())
    assert keyring.expiry_warnings(10) == []
    default, sm2_line = keyring.expiry_warnings(31)
    assert f"the gateway's default signing certificate {deployment.gateway.cert_path} (CN=gw-test)" in default
    assert "expires in 30.0 days" in default
    assert "set [gateway] next_signing_key, next_signing_cert and signing_switch_at" in default
    assert f"sm2-sm3 signing certificate {sm2.cert_path}" in sm2_line
    # With a next key configured, what counts is the next certificate's end (two days later here).
    add_next_key(deployment, NOW + dt.timedelta(days=10))
    (line,) = load_keyring(deployment.settings()).expiry_warnings(29)
    assert "gw-test-next.crt (CN=gw-test-next) expires in 2" in line  # 28 days from NOW
