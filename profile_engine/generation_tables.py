"""The tables of generations published by import from S3: their names, state and deletion.

ImportTable always creates a new table, so each imported generation has one, named
``<prefix><generation>`` (by default ``<fixed table>-gen-<generation>``); the fixed table
keeps the pointer, the history, the manifests and the summaries. DynamoDB table names are
3-255 characters of ``[a-zA-Z0-9_.-]``; generation ids (``20261124T193412Z-3f9a1c``) are
made of those, so a valid prefix makes a valid name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from profile_engine.errors import SettingsError

log = logging.getLogger(__name__)

MAX_TABLE_NAME = 255
# What publish.new_generation_id makes: only tables named like this are ever swept.
GENERATION_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
_NAME_CHARS = re.compile(r"^[A-Za-z0-9_.-]*$")
_ID_LENGTH = len("20261124T193412Z-3f9a1c")


def default_prefix(fixed_table: str) -> str:
    return f"{fixed_table}-gen-"


def check_prefix(prefix: str) -> str:
    """``prefix`` when every table name made with it is a valid DynamoDB name; else
    SettingsError naming the rule."""
    if not _NAME_CHARS.match(prefix):
        raise SettingsError(
            f"generation table prefix {prefix!r}: DynamoDB table names may hold only "
            "letters, digits, '_', '-' and '.'"
        )
    if len(prefix) + _ID_LENGTH > MAX_TABLE_NAME:
        raise SettingsError(
            f"generation table prefix {prefix!r} is too long: names would exceed "
            f"{MAX_TABLE_NAME} characters"
        )
    return prefix


def table_name(prefix: str, generation: str) -> str:
    return f"{prefix}{generation}"


def generation_of(prefix: str, name: str) -> str | None:
    """The generation a table of ``prefix`` holds; None for any other table."""
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix):]
    return rest if GENERATION_ID.match(rest) else None


def state(client: Any, name: str) -> str | None:
    """The table's status (CREATING, ACTIVE, DELETING, ...), None when there is none."""
    try:
        return str(client.describe_table(TableName=name)["Table"]["TableStatus"])
    except client.exceptions.ResourceNotFoundException:
        return None


def delete(client: Any, name: str) -> bool:
    """Delete ``name``; False when it is gone already or cannot be deleted now (being
    created or changed: it stays for the next sweep)."""
    try:
        client.delete_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        return False
    except client.exceptions.ResourceInUseException:
        log.warning("table %s is in use (being created or changed); not deleted now", name)
        return False
    log.info("deleted table %s", name)
    return True


def generation_tables(client: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """(table, generation) of every table named ``<prefix><generation id>``."""
    for page in client.get_paginator("list_tables").paginate():
        for name in page.get("TableNames", []):
            generation = generation_of(prefix, name)
            if generation is not None:
                yield name, generation
