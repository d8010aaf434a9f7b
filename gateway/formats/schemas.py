"""Schemas: loaded once, from local files only (imports resolve inside the schemas folder)."""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

from gateway.errors import MappingFailed, SchemaInvalid

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"


@functools.cache
def load_schema(relative: str) -> etree.XMLSchema:
    """Compile a schema once; lxml resolves ``xs:import``/``xs:include`` relative to the file."""
    path = SCHEMAS_DIR / relative
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def validate(schema: etree.XMLSchema, root: etree._Element, what: str) -> None:
    if schema.validate(root):
        return
    error = schema.error_log.last_error
    message = error.message if error else "unknown schema error"
    # The line first: receipts of some formats cut long descriptions (RES: 512 characters).
    line = error.line if error else 0
    raise SchemaInvalid(f"{what} does not match its schema at line {line}: {message}", pointer=error.path)


def check_canonical_payload(payload: etree._Element, source: str) -> None:
    """A payload mapped from a valid partner message must be valid canonical; when it is not, a partner value
    has no canonical form: ``mapping-failed`` quoting it (not ``schema-invalid``: the partner's message was
    valid)."""
    schema = load_schema("canonical/wco.xsd")
    if schema.validate(payload):
        return
    error = schema.error_log.last_error
    message = error.message if error else "unknown schema error"
    raise MappingFailed(f"a value of the {source} has no canonical form: {message}", pointer=error.path)
