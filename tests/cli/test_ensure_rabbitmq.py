"""scripts/ensure-rabbitmq.sh, which `make run` and `make test` call first: it must tell a broker that answers
from one that is absent, taken by another program, or wedged (accepts TCP, never answers), and never hang.

Only ports other than 5672 are probed with fakes here, where the script starts nothing (it only starts or
restarts a local broker on the default port)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import AMQP_URL

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-rabbitmq.sh"


def run_script(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_AMQP__URL": url, "RABBITMQ_PROBE_SECONDS": "1", "RABBITMQ_NO_INSTALL": "1"}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def listener(answer: bytes | None) -> Iterator[int]:
    """A TCP port that accepts connections and answers ``answer`` to anything, or stays silent (None)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            if answer is not None:
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


def test_a_broker_that_answers_is_used() -> None:
    result = run_script(AMQP_URL)
    assert result.returncode == 0, result.stderr
    assert "OK: RabbitMQ answers AMQP" in result.stdout


def test_a_silent_listener_is_called_wedged_and_the_script_gives_up() -> None:
    with listener(None) as port:
        result = run_script(f"amqp://guest:guest@127.0.0.1:{port}/")
    assert result.returncode == 1
    assert f"127.0.0.1:{port} accepts connections but does not answer the AMQP header" in result.stdout
    assert "wedged" in result.stderr


def test_another_program_on_the_port_is_named() -> None:
    with listener(b"HTTP/1.1 400 Bad Request\r\n\r\n") as port:
        result = run_script(f"amqp://guest:guest@127.0.0.1:{port}/")
    assert result.returncode == 1
    assert "does not answer as an AMQP 0-9-1 broker" in result.stderr
    assert "Another program holds" in result.stderr


def test_nothing_on_a_non_default_port_is_not_started() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    result = run_script(f"amqp://guest:guest@127.0.0.1:{port}/")
    assert result.returncode == 1
    assert f"no RabbitMQ answers on 127.0.0.1:{port}" in result.stdout
    assert "only started on the default port 5672" in result.stderr


def test_a_url_that_is_not_amqp_is_refused() -> None:
    result = run_script("http://127.0.0.1:5672/")
    assert result.returncode == 1
    assert "is not an amqp:// or amqps:// URL" in result.stderr
