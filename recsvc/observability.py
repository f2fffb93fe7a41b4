"""Structured JSON logs with the request id; per-call fields that never include personal data."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

__all__ = ["CallRecord", "JsonFormatter", "annotate", "bind", "call_scope",
           "configure_logging", "current_request_id", "unbind"]

# Fields a handler may attach to its access-log line. A fixed list, so nobody adds
# user_id or email by accident: the logs stay free of personal data.
ANNOTATIONS = frozenset({"source", "generation", "items", "members"})

_request_id: ContextVar[str] = ContextVar("recsvc_request_id", default="")
_record: ContextVar[CallRecord | None] = ContextVar("recsvc_call_record", default=None)


class CallRecord(dict[str, Any]):
    """What the access-log line of one call will carry, filled in as the call runs."""


def current_request_id() -> str:
    return _request_id.get()


Tokens = tuple[Token[str], Token["CallRecord | None"]]


def bind(request_id: str, record: CallRecord) -> Tokens:
    """call_scope's entry without a context manager (the unary hot path); pair with
    ``unbind``."""
    return _request_id.set(request_id), _record.set(record)


def unbind(tokens: Tokens) -> None:
    _record.reset(tokens[1])
    _request_id.reset(tokens[0])


@contextmanager
def call_scope(request_id: str) -> Iterator[CallRecord]:
    """Binds the request id (for every log line of this call) and a fresh CallRecord.
    grpc.aio runs each call in its own task, so the context is per call."""
    record = CallRecord()
    id_token = _request_id.set(request_id)
    record_token = _record.set(record)
    try:
        yield record
    finally:
        try:
            _record.reset(record_token)
            _request_id.reset(id_token)
        except ValueError:
            # A streaming handler finalised outside its call's task (asyncgen GC hook)
            # runs in another context; the call's own context dies with its task anyway.
            pass


def annotate(**fields: Any) -> None:
    """Attach fields to the current call's access-log line (only names in ANNOTATIONS)."""
    if not ANNOTATIONS.issuperset(fields):
        raise ValueError(f"not a loggable call field: {sorted(set(fields) - ANNOTATIONS)}")
    record = _record.get()
    if record is not None:
        record.update(fields)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, plus the ``fields``
    passed as ``extra={"fields": {...}}``.

    Exceptions are logged as their type and stack frames only: exception *messages*
    (KeyError('u123'), botocore errors quoting keys) can carry user ids."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = _request_id.get()
        if request_id:
            out["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            out["exc_type"] = exc_type.__qualname__
            out["stack"] = "".join(traceback.format_tb(tb)).rstrip()
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Root logger -> stderr as JSON lines (CloudWatch Logs parses them as is)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # botocore logs request details (keys, i.e. user ids) at DEBUG.
    for noisy in ("botocore", "aiobotocore", "aioboto3", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
