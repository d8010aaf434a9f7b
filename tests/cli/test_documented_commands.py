"""Every command README.md and docs/ADMIN.md show runs as written, against a real gateway (issue 10).

The commands are read from the documents themselves: each ``$ ``-prompted line of a fenced block (with its ``\\``
continuation lines; the lines after it up to the next prompt are output the command must print), each line of a
```` ```sh ```` block, and each inline ```gateway ...``` span without placeholders (``ID``, ``FILE``, ``N``,
``a|b``, ``[...]``). They run in document order, README first, in a copy of the example configuration
(``gateway.toml``, ``partners/``, ``examples/``, ``rules/``, ``watchlist/``) with a real ``gateway run`` serving it
and a real RabbitMQ. The only changes: the gateway listens on a free port (``127.0.0.1:8080`` in a command becomes that
port) and uses the tests' broker with queue names of its own; the partners' inboxes point at a local test receiver.

What the documents describe in words rather than commands is done here, said where: the example keys (which
``make run`` makes), README's onboarding step 2 (put the certificate under ``partners/certs/``, then the running
gateway reloads it: the test sends SIGHUP), and the broken partner file whose ``partners check`` README shows.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import shlex
import shutil
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import remove_topology
from tests.helpers import AMQP_URL, ROOT, Deployment, make_identity
from tests.multiworker import Supervised

# ~30 commands, each a Python process starting the gateway's CLI: 80 s on a quiet machine, several minutes on a
# loaded one (the default 120 s per test is not enough there).
pytestmark = pytest.mark.timeout(900)

DOCS = [ROOT / "README.md", ROOT / "docs" / "ADMIN.md"]
PLACEHOLDERS = {"ID", "N", "FILE", "NEW.crt", "C.crt", "URL", "T", "F", "RECEIVER", "PATH", "..", "..."}
NOT_RUN = {("make", "run"): "runs the demo forever", ("make", "test"): "this suite itself (CI runs it)"}
BROKEN_COUNTRY = "country: String should match pattern '^[A-Z]{2}$' (got 'Netherlands')"


@dataclass
class Command:
    where: str  # document:line
    argv: list[str]
    output: list[str] = field(default_factory=list)  # lines the command must print


def _runnable_span(argv: list[str]) -> bool:
    if len(argv) < 3 or argv[1] == "run":  # `gateway send`: a name, not a command; `gateway run`: the server
        return False
    return not any(t in PLACEHOLDERS or "|" in t or t.startswith("[") for t in argv)


def documented_commands(path: Path) -> list[Command]:
    lines = path.read_text().splitlines()
    commands: list[Command] = []
    fence: str | None = None  # the info string of the fenced block we are in
    prompted: Command | None = None  # the last `$` command of this block, which output lines belong to
    index = 0
    while index < len(lines):
        number, stripped = index + 1, lines[index].strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:]
            prompted = None
        elif fence is not None:
            is_prompt = stripped.startswith("$ ")
            if is_prompt or (fence == "sh" and stripped and not stripped.startswith("#")):
                text = stripped[2:] if is_prompt else stripped
                while text.endswith("\\"):
                    index += 1
                    text = text[:-1] + " " + lines[index].strip()
                command = Command(f"{path.name}:{number}", shlex.split(text, comments=True))
                commands.append(command)
                prompted = command if is_prompt else None
            elif prompted is not None and stripped:
                prompted.output.append(stripped)
        else:
            for span in re.findall(r"`(gateway [^`]+)`", lines[index]):
                if _runnable_span(argv := shlex.split(span)):
                    commands.append(Command(f"{path.name}:{number}", argv))
        index += 1
    return commands


def test_the_documents_show_the_commands_this_test_runs():
    """The extraction itself: the commands the issue named are among those found (so none is skipped silently)."""
    found = [" ".join(c.argv) for path in DOCS for c in documented_commands(path)]
    assert "gateway partners ping nl-customs" in found
    assert any(c.startswith("gateway send --fresh --as fr-customs") and "--url" in c for c in found)
    assert any(c.startswith("gateway partners update fr-customs --cert") for c in found)
    assert not any(c.startswith("gateway partners rotate-cert ID") for c in found)  # placeholders are not run
    assert len(found) > 20


def _workspace(tmp_path: Path, inbox_url: str) -> Deployment:
    """A copy of the example configuration, with what `make run` would have made: the gateway's and the example
    partners' keys and certificates."""
    folder = tmp_path / "gw"
    folder.mkdir()
    for name in ("gateway.toml", "examples", "rules", "watchlist", "partners"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("certs"))
        else:
            shutil.copy(source, folder / name)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    config = folder / "gateway.toml"
    text = config.read_text()
    assert 'prefix = "gw"' in text
    assert 'url = "amqp://guest:guest@127.0.0.1:5672/"' in text
    text = text.replace('url = "amqp://guest:guest@127.0.0.1:5672/"', f'url = "{AMQP_URL}"')  # the tests' broker
    config.write_text(text.replace('prefix = "gw"', f'prefix = "{prefix}"'))
    gateway = make_identity(folder / "keys", "cn-customs", days=365)
    certs = folder / "partners" / "certs"
    certs.mkdir()
    partners = {}
    for partner in sorted(path.stem for path in (ROOT / "partners").glob("*.toml")):  # every example partner
        partners[partner] = make_identity(tmp_path / "example-keys", partner, days=365)
        shutil.copy(partners[partner].cert_path, certs / f"{partner}.crt")
        toml = folder / "partners" / f"{partner}.toml"
        toml.write_text(re.sub(r'url = "[^"]*"', f'url = "{inbox_url}"', toml.read_text()))
    return Deployment(folder, gateway, partners, prefix)


async def _run(argv: list[str], cwd: Path, port: int) -> tuple[int, str]:
    argv = [a.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for a in argv]
    if argv[0] == "gateway":
        argv = [sys.executable, "-m", "gateway", *argv[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:  # timed out or cancelled: no command outlives the test
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


async def _wait_for_log(gateway: Supervised, text: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while text not in gateway.log():
        assert time.monotonic() < deadline, f"{text!r} not in the gateway's log:\n{gateway.log()[-3000:]}"
        await asyncio.sleep(0.1)


async def test_every_documented_command_runs_as_written(tmp_path, inbox_factory, amqp):
    inbox = await inbox_factory()
    deployment = _workspace(tmp_path, inbox.url)
    folder = deployment.folder
    gateway = Supervised(deployment, workers=1, admin__watch_interval=0)  # reloads only when the docs say so
    ran: list[str] = []
    try:
        await gateway.start()
        for path in DOCS:
            for command in documented_commands(path):
                key = tuple(command.argv[:2])
                if key in NOT_RUN:
                    continue
                assert command.argv[0] in ("gateway", "mkdir"), f"{command.where}: how to run {command.argv}?"
                expected_code = 0
                partner_file = folder / "partners" / "nl-customs.toml"
                good = partner_file.read_text()
                if any(BROKEN_COUNTRY in line for line in command.output):
                    # README shows `partners check` on a file with country "Netherlands": break it so.
                    partner_file.write_text(good.replace('country = "NL"', 'country = "Netherlands"'))
                    expected_code = 2
                code, out = await _run(command.argv, folder, gateway.port)
                partner_file.write_text(good)
                ran.append(" ".join(command.argv))
                assert code == expected_code, f"{command.where}: {shlex.join(command.argv)} exited {code}:\n{out}"
                for line in command.output:
                    line = line.replace("/srv/gw/", f"{folder}/")
                    assert line in out, f"{command.where}: {shlex.join(command.argv)} did not print {line!r}:\n{out}"
                if command.argv[:4] == ["gateway", "keys", "new", "nl-customs"]:
                    # README onboarding step 2: the certificate goes under partners/certs/; a running gateway
                    # loads it on SIGHUP (or on its next look at the folder, off here), and says what changed.
                    shutil.copy(folder / "keys" / "nl-customs.crt", folder / "partners" / "certs" / "nl-customs.crt")
                    assert gateway.process is not None
                    os.kill(gateway.process.pid, signal.SIGHUP)
                    await _wait_for_log(gateway, "partner configuration reloaded (signal): changed: nl-customs")
        # ADMIN.md's changes were made with --api: audited as the command line's user, not as admin-api.
        status, body, _ = await gateway.request("GET", "/v1/admin/config-events?partner=fr-customs")
        assert status == 200, body
        actors = {(e["actor"], e["action"]) for e in json.loads(body)["events"]}
        user = f"cli:{getpass.getuser()}"
        assert actors == {(user, "create"), (user, "rotate-cert"), (user, "update")}, actors
    finally:
        await gateway.terminate()
        gateway.close()
        await remove_topology(amqp, deployment, ["nl-customs", "cn-nsw", "fr-customs"])

    # The documented commands did what they say.
    assert "gateway partners ping nl-customs" in ran
    assert any(r.startswith("gateway send --fresh --as nl-customs") for r in ran)  # README's connectivity test
    assert [h.get("X-Gateway-Test") for h, _ in inbox.received].count("connectivity") == 1
    assert (folder / "partners" / "samples" / "fr-customs" / "risk-alert.xml").is_file()
    fr = (folder / "partners" / "fr-customs.toml").read_text()
    assert fr.count("certs/fr-customs-") == 1  # the rollover ended with the new certificate only
