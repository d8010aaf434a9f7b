"""``gateway partners add|update|suspend|resume|rotate-cert|remove|test`` on the partner files, audited."""

from __future__ import annotations

import asyncio
import datetime as dt
import tomllib

from gateway.cli import main
from gateway.store.sqlite import SqliteStore
from tests.helpers import EXAMPLES, PartnerSpec, make_deployment, make_identity, signed


def events(deployment):
    async def read():
        store = SqliteStore(deployment.settings().sqlite_path)
        await store.open()
        try:
            return await store.config_events()
        finally:
            await store.close()

    return asyncio.run(read())


def test_partner_lifecycle_from_the_command_line(tmp_path, capsys):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/a")])
    config = ["--config", str(deployment.config_path)]
    folder = tmp_path / "partners"
    fr = make_identity(tmp_path / "fr", "fr-customs")

    code = main(
        [
            "partners",
            "add",
            "fr-customs",
            *config,
            "--name",
            "Douane",
            "--role",
            "customs",
            "--country",
            "FR",
            "--cert",
            str(fr.cert_path),
            "--sends",
            "risk-alert",
            "--receives",
            "risk-alert",
            "--url",
            "http://127.0.0.1:9/fr",
        ]
    )
    assert code == 0
    assert "created partner fr-customs" in capsys.readouterr().out
    assert tomllib.loads((folder / "fr-customs.toml").read_text())["country"] == "FR"

    # A second add is refused; an incomplete one names what is missing.
    assert (
        main(
            [
                "partners",
                "add",
                "fr-customs",
                *config,
                "--name",
                "X",
                "--role",
                "customs",
                "--country",
                "FR",
                "--cert",
                str(fr.cert_path),
            ]
        )
        == 2
    )
    assert "exists already" in capsys.readouterr().err
    assert main(["partners", "add", "es-customs", *config, "--name", "X"]) == 2
    assert "--role, --country, --cert required" in capsys.readouterr().err

    assert main(["partners", "update", "fr-customs", *config, "--country", "France"]) == 2
    err = capsys.readouterr().err
    assert "country" in err
    assert "'France'" in err
    assert main(["partners", "update", "fr-customs", *config, "--sends", "risk-alert,declaration"]) == 0
    assert tomllib.loads((folder / "fr-customs.toml").read_text())["sends"] == ["risk-alert", "declaration"]

    assert main(["partners", "suspend", "fr-customs", *config]) == 0
    assert tomllib.loads((folder / "fr-customs.toml").read_text())["suspended"] is True
    assert main(["partners", "resume", "fr-customs", *config]) == 0
    assert tomllib.loads((folder / "fr-customs.toml").read_text())["suspended"] is False

    # Rollover: the next certificate joins the current one; an expired one can be dropped at the same time.
    expired = make_identity(
        tmp_path / "old", "fr-customs", days=1, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    )
    assert main(["partners", "rotate-cert", "fr-customs", *config, str(expired.cert_path)]) == 2
    assert "expired on" in capsys.readouterr().err
    nxt = make_identity(tmp_path / "next", "fr-customs", days=60)
    assert main(["partners", "rotate-cert", "fr-customs", *config, str(nxt.cert_path)]) == 0
    certs = tomllib.loads((folder / "fr-customs.toml").read_text())["certificates"]
    assert len(certs) == 2
    assert all((folder / c).exists() for c in certs)
    assert main(["partners", "rotate-cert", "fr-customs", *config, str(nxt.cert_path)]) == 2
    assert "already trusted" in capsys.readouterr().err

    capsys.readouterr()
    assert main(["partners", "list", *config]) == 0
    assert "fr-customs" in capsys.readouterr().out

    assert main(["partners", "remove", "fr-customs", *config]) == 0
    assert not (folder / "fr-customs.toml").exists()
    assert main(["partners", "remove", "fr-customs", *config]) == 1

    log = [(e.action, e.partner) for e in reversed(events(deployment))]
    assert log == [
        ("create", "fr-customs"),
        ("update-refused", "fr-customs"),
        ("update", "fr-customs"),
        ("suspend", "fr-customs"),
        ("resume", "fr-customs"),
        ("rotate-cert-refused", "fr-customs"),
        ("rotate-cert", "fr-customs"),
        ("rotate-cert-refused", "fr-customs"),
        ("delete", "fr-customs"),
    ]
    assert all(e.actor.startswith("cli:") for e in events(deployment))


def test_a_change_that_breaks_the_folder_is_undone(tmp_path, capsys):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/a")])
    folder = tmp_path / "partners"
    before = (folder / "nl-customs.toml").read_text()
    # Suspending is fine on its own, but another file in the folder is broken: the whole change is refused.
    (folder / "zz-broken.toml").write_text("id = 'zz-broken'\n")
    assert main(["partners", "suspend", "nl-customs", "--config", str(deployment.config_path)]) == 2
    assert "zz-broken.toml" in capsys.readouterr().err
    assert (folder / "nl-customs.toml").read_text() == before


def test_conformance_report(tmp_path, capsys):
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("nl-customs", url="http://127.0.0.1:9/a", extra='samples_dir = "samples/nl"'),
            PartnerSpec("de-customs", url="http://127.0.0.1:9/b"),
        ],
    )
    nl = deployment.partners["nl-customs"]
    samples = tmp_path / "partners" / "samples" / "nl"
    samples.mkdir(parents=True)
    from tests.helpers import envelope

    (samples / "1-good.xml").write_bytes(signed(nl, envelope("nl-customs", "de-customs")))
    (samples / "2-unsigned.xml").write_bytes((EXAMPLES / "risk-alert.xml").read_bytes())
    other = make_identity(tmp_path / "other", "nl-customs")
    (samples / "3-other-key.xml").write_bytes(signed(other, envelope("nl-customs", "de-customs")))
    wrong_type = envelope("nl-customs", "de-customs", message_type="order")
    (samples / "4-order.xml").write_bytes(signed(nl, wrong_type))
    (samples / "5-not-xml.xml").write_bytes(b"<Envelope><unclosed>")
    old = envelope("nl-customs", "de-customs", created=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    (samples / "6-old.xml").write_bytes(signed(nl, old))

    assert main(["partners", "test", "nl-customs", "--config", str(deployment.config_path)]) == 1
    out = capsys.readouterr().out
    blocks = {b.split("\n", 1)[0]: b for b in out.split("\n\n")}
    assert "route             would be delivered to de-customs" in blocks["PASS  1-good.xml"]
    assert "signature-invalid: the message is not signed" in blocks["FAIL  2-unsigned.xml"]
    assert "certificate-untrusted" in blocks["FAIL  3-other-key.xml"]
    assert "schema-invalid" in blocks["FAIL  4-order.xml"] or "not-permitted" in blocks["FAIL  4-order.xml"]
    assert "malformed-xml" in blocks["FAIL  5-not-xml.xml"]
    assert "warning creation time" in blocks["PASS  6-old.xml"]
    assert "result: 2 passed, 4 failed" in out

    # A partner without samples_dir is told what to add.
    assert main(["partners", "test", "de-customs", "--config", str(deployment.config_path)]) == 2
    assert "samples_dir: not set" in capsys.readouterr().err
