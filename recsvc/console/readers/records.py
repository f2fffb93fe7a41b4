"""The console's own durable records, items in the generations' table without a TTL:

    pk               sk                          attributes
    console#exports  <started_at>#<export id>    who, segment, format, status, generation,
                                                 members, skipped, bytes, uri, import_job_id,
                                                 error, finished_at
    console#audit    <at>#<lookup id>            who, user_id

The sort key orders them by time, so "the newest N" is one Query. The audit log holds the
looked-up user id (it is what an auditor asks about); log lines never do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from recsvc.store.dynamodb import call_dynamodb

__all__ = ["AUDIT_PK", "EXPORTS_PK", "AuditRecord", "ExportRecord", "RecordBook", "now"]

EXPORTS_PK = "console#exports"
AUDIT_PK = "console#audit"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class ExportRecord:
    id: str
    started_at: str
    who: str
    segment: str
    format: str
    status: str = "running"  # running, done, failed
    start_import: bool = False
    generation: str = ""
    members: int = 0
    skipped: int = 0
    bytes: int = 0
    uri: str = ""
    import_job_id: str = ""
    error: str = ""
    finished_at: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    at: str
    who: str
    user_id: str


def _to_item(pk: str, sk: str, record: object) -> dict[str, dict[str, Any]]:
    item: dict[str, dict[str, Any]] = {"pk": {"S": pk}, "sk": {"S": sk}}
    for f in fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        if isinstance(value, bool):
            item[f.name] = {"BOOL": value}
        elif isinstance(value, int):
            item[f.name] = {"N": str(value)}
        elif value != "":  # absent means "": the items stay small
            item[f.name] = {"S": str(value)}
    return item


def _from_item(cls: type[Any], item: dict[str, dict[str, Any]]) -> Any:
    values: dict[str, Any] = {}
    for f in fields(cls):
        attr = item.get(f.name)
        if attr is None:
            continue
        if "BOOL" in attr:
            values[f.name] = bool(attr["BOOL"])
        elif "N" in attr:
            values[f.name] = int(attr["N"])
        else:
            values[f.name] = attr["S"]
    return cls(**values)


class RecordBook:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    async def _call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = await call_dynamodb(
            getattr(self._client, op), TableName=self._table, **kwargs)
        return result

    async def put_export(self, record: ExportRecord) -> None:
        """Write (or overwrite, when it finishes) an export's record."""
        sk = f"{record.started_at}#{record.id}"
        await self._call("put_item", Item=_to_item(EXPORTS_PK, sk, record))

    async def exports(self, limit: int = 50) -> list[ExportRecord]:
        return [_from_item(ExportRecord, i) for i in await self._newest(EXPORTS_PK, limit)]

    async def audit(self, who: str, user_id: str) -> AuditRecord:
        """Record a lookup before anything is read for it: a lookup whose record could not
        be written does not happen (StoreUnavailable)."""
        record = AuditRecord(uuid.uuid4().hex, now(), who, user_id)
        # The condition makes a retried put (botocore's retries) never write it twice.
        await self._call(
            "put_item", Item=_to_item(AUDIT_PK, f"{record.at}#{record.id}", record),
            ConditionExpression="attribute_not_exists(pk)",
        )
        return record

    async def audits(self, limit: int = 50) -> list[AuditRecord]:
        return [_from_item(AuditRecord, i) for i in await self._newest(AUDIT_PK, limit)]

    async def _newest(self, pk: str, limit: int) -> list[dict[str, dict[str, Any]]]:
        resp = await self._call(
            "query", KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}}, ScanIndexForward=False, Limit=limit,
        )
        items: list[dict[str, dict[str, Any]]] = resp.get("Items", [])
        return items
