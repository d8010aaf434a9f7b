"""The error tree is complete (like httpx's tests/test_exceptions.py): every exception the libraries at a boundary
define is translated there, every rejection is in the table the receipt formats are checked against, and every
error says how a consumed message is settled."""

from __future__ import annotations

import inspect
from types import ModuleType

import aio_pika.exceptions
import aiohttp.client_exceptions
import aiormq.exceptions
import pytest

from gateway import errors
from gateway.broker.connection import BROKER_ERRORS
from gateway.delivery.http import CLIENT_ERRORS
from gateway.errors import REJECTIONS, BrokerAction, GatewayError, Rejection


def _exceptions(module: ModuleType) -> list[type[BaseException]]:
    """Every exception class the module defines or re-exports (aio_pika.exceptions re-exports aiormq's)."""
    return [value for value in vars(module).values() if inspect.isclass(value) and issubclass(value, BaseException)]


def _subclasses(base: type[GatewayError]) -> set[type[GatewayError]]:
    found = set(base.__subclasses__())
    for cls in list(found):
        found |= _subclasses(cls)
    return found


@pytest.mark.parametrize("module", [aiormq.exceptions, aio_pika.exceptions], ids=lambda m: m.__name__)
def test_every_broker_library_exception_is_caught_at_the_broker_boundary(module: ModuleType) -> None:
    """gateway.broker catches BROKER_ERRORS (aio-pika's own CONNECTION_EXCEPTIONS) and answers Unavailable."""
    defined = _exceptions(module)
    assert len(defined) > 5
    assert [cls.__name__ for cls in defined if not issubclass(cls, BROKER_ERRORS)] == []
    assert issubclass(TimeoutError, BROKER_ERRORS)  # asyncio.timeout around a publish or a settlement


def test_every_http_client_exception_is_translated_by_the_http_transport() -> None:
    """gateway.delivery.http turns CLIENT_ERRORS into TransientDeliveryError (a retry)."""
    websocket_only = {"WSMessageTypeError"}  # raised by websocket reads; the transport only POSTs
    defined = [cls for cls in _exceptions(aiohttp.client_exceptions) if cls.__name__ not in websocket_only]
    assert len(defined) > 10
    assert [cls.__name__ for cls in defined if not issubclass(cls, CLIENT_ERRORS)] == []


def test_the_rejection_table_names_every_rejection_once() -> None:
    defined = {cls for cls in _subclasses(Rejection) if cls.__module__ == errors.__name__}
    codes = [cls.code for cls in REJECTIONS]
    assert len(codes) == len(set(codes)), "two rejections in the table share a code"
    # Unconfirmed is answered as Unavailable (same code): the table lists codes, one class for each.
    assert {cls.code for cls in defined} == set(codes)
    assert set(REJECTIONS) <= defined
    for cls in REJECTIONS:
        assert 400 <= cls.http_status < 600, cls
        assert cls.code != GatewayError.code, f"{cls.__name__} has no code of its own"


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (errors.TransientDeliveryError, BrokerAction.RETRY),
        (errors.PermanentDeliveryError, BrokerAction.DEAD_LETTER),
        (errors.Unavailable, BrokerAction.REQUEUE),  # the store or the broker down while delivering
        (errors.Unconfirmed, BrokerAction.REQUEUE),
        (errors.ConfigError, BrokerAction.REQUEUE),
        (errors.MappingFailed, BrokerAction.REQUEUE),  # the worker turns a render failure into a permanent one
    ],
)
def test_each_error_carries_its_settlement(error: type[GatewayError], action: BrokerAction) -> None:
    assert error("x").settlement is action


def test_every_error_class_has_a_settlement() -> None:
    for cls in _subclasses(GatewayError):
        assert isinstance(cls.settlement, BrokerAction), cls


@pytest.mark.parametrize("text", ["\x00", "\x01", "\x0b", "\x1f", "\udcff", "\ufffe", "\uffff"])
def test_a_message_quoting_what_xml_cannot_carry_is_escaped(text: str) -> None:
    """Undecodable header bytes arrive as surrogates; a receipt (lxml) and the store cannot carry them, nor C0
    controls: the message writes them as escapes, and keeps tab, newline and the rest of Unicode as they are."""
    from lxml import etree

    error = errors.MalformedMultipart(f"part 2 (Content-ID <a{text}b>)\tis\nodd: \u00e9\U0001f600")
    assert repr(text)[1:-1] in error.message
    assert error.message.endswith("\tis\nodd: \u00e9\U0001f600")
    etree.Element("Description").text = error.message  # raised ValueError / UnicodeEncodeError before
    error.message.encode("utf-8")
