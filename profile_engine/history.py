"""The pointer's history (item ``meta/history``): each change of the served generation,
appended by whoever flips the pointer (a run's publish, a rollback)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from generation import HistoryEntry, layout
from profile_engine.errors import PublishError

HISTORY_KEEP = 100  # entries kept in the history item (well under DynamoDB's 400 KB)
HISTORY_ATTEMPTS = 5


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def history(client: Any, table: str) -> tuple[tuple[HistoryEntry, ...], int]:
    item = client.get_item(TableName=table, Key=layout.history_key(), ConsistentRead=True).get(
        "Item"
    )
    return layout.decode_history(item) if item else ((), 0)


def record_flip(client: Any, table: str, entry: HistoryEntry) -> None:
    """Append ``entry`` to the history, conditional on the version read (a concurrent
    writer makes this read again and retry)."""
    for _ in range(HISTORY_ATTEMPTS):
        entries, version = history(client, table)
        kept = (*entries, entry)[-HISTORY_KEEP:]
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(#pk)",
             "ExpressionAttributeNames": {"#pk": layout.PK}}
            if version == 0
            else {"ConditionExpression": "#v = :v",
                  "ExpressionAttributeNames": {"#v": layout.VERSION},
                  "ExpressionAttributeValues": {":v": {"N": str(version)}}}
        )
        try:
            client.put_item(
                TableName=table, Item=layout.history_item(kept, version + 1), **condition
            )
            return
        except client.exceptions.ConditionalCheckFailedException:
            continue
    raise PublishError(f"the generation history of {table} kept changing; entry not written")
