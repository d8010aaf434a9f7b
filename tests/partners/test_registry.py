"""Partner files: a bad file refuses the start with the file, the key and what is wrong."""

from __future__ import annotations

import re

import pytest

from gateway.config import load_settings
from gateway.errors import ConfigError
from gateway.partners import load_partners
from tests.helpers import PartnerSpec, make_deployment, partner_toml


@pytest.fixture
def deployment(tmp_path):
    return make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x")])


def write(deployment, name: str, text: str) -> None:
    (deployment.folder / "partners" / f"{name}.toml").write_text(text)


def test_valid_partner_loads_frozen(deployment):
    registry = load_partners(deployment.folder / "partners", frozenset({"canonical"}))
    partner = registry["nl-customs"]
    assert partner.spec.country == "NL"
    assert partner.may_send("risk-alert")
    assert partner.accepts("receipt")
    with pytest.raises(Exception, match="frozen"):
        partner.spec.country = "DE"  # type: ignore[misc]
    assert len(partner.certificates) == 1
    assert len(partner.certificates[0].fingerprint) == 64


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace('country = "NL"', 'country = "Netherlands"'), "country: String should match pattern"),
        (lambda t: t.replace('format = "canonical"', 'format = "edifact"'), "format: unknown format 'edifact'"),
        (lambda t: t.replace('role = "customs"', 'role = "bank"'), "role: Input should be 'customs' or"),
        (lambda t: t.replace('id = "nl-customs"', 'id = "de-customs"'), "must equal the file name"),
        (lambda t: t.replace('sends = ["risk-alert"', 'sends = ["risk-alrt"'), "sends.0: Input should be"),
        (lambda t: "colour = 'blue'\n" + t, "colour: Extra inputs are not permitted"),
        (lambda t: t.replace("certs/nl-customs.crt", "certs/missing.crt"), "cannot read certificate"),
        (lambda t: t.replace("[delivery]", "[delivery]\nretries = 3"), "delivery.retries: Extra inputs"),
        (lambda t: t.replace('url = "http://127.0.0.1:9/x"', 'url = "not a url"'), "delivery.url"),
        (lambda t: "id = ", "cannot read partner file"),
        (lambda t: 'legacy_algorithms = ["md5"]\n' + t, "unknown legacy algorithm 'md5'"),
    ],
)
def test_bad_partner_file_names_file_key_and_problem(deployment, change, expected):
    path = deployment.folder / "partners" / "nl-customs.toml"
    path.write_text(change(path.read_text()))
    with pytest.raises(ConfigError) as caught:
        load_partners(deployment.folder / "partners", frozenset({"canonical"}))
    assert str(path) in caught.value.message
    assert expected in caught.value.message


def test_receiving_partner_needs_delivery(deployment):
    spec = PartnerSpec("de-customs", url=None)
    write(deployment, "de-customs", partner_toml(spec, ["certs/nl-customs.crt"]))
    with pytest.raises(
        ConfigError, match=re.escape("de-customs.toml: delivery: required because the partner receives")
    ):
        load_partners(deployment.folder / "partners")


def test_every_bad_file_is_reported_at_once(deployment):
    write(deployment, "aa", "id = 'aa'")
    write(deployment, "bb", "id = 'bb'")
    with pytest.raises(ConfigError) as caught:
        load_partners(deployment.folder / "partners")
    assert "aa.toml" in caught.value.message
    assert "bb.toml" in caught.value.message


def test_settings_environment_overrides_file(deployment, monkeypatch):
    monkeypatch.setenv("GATEWAY_AMQP__URL", "amqp://u:p@127.0.0.1:5999/")
    monkeypatch.setenv("GATEWAY_HTTP__PORT", "9999")
    settings = load_settings(deployment.config_path)
    assert settings.amqp.url == "amqp://u:p@127.0.0.1:5999/"
    assert settings.http.port == 9999
    assert settings.amqp.prefix == deployment.prefix  # the rest of the section still comes from the file
    assert settings.sqlite_path == deployment.folder / "state" / "gateway.db"


def test_bad_settings_name_the_key(deployment):
    text = deployment.config_path.read_text().replace("port = 0", "port = 70000")
    deployment.config_path.write_text(text)
    with pytest.raises(ConfigError, match=r"http\.port: Input should be less than or equal to 65535 \(got 70000\)"):
        load_settings(deployment.config_path)


def test_missing_config_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml")
