"""Row encoders for each export format: Pinpoint and SES import files, plain CSV and Parquet.

Every encoder writes to a binary file object page by page, so memory stays flat in the
segment size, and writes nothing that varies between runs (no timestamps): the same
members give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

from generation import SegmentMember
from segment_export.parquet import ParquetWriter

# Pinpoint's Location.Country and the SES/Pinpoint attribute names use these members' keys.
COUNTRY = "country"


# Pinpoint keeps user attribute values of at most 100 characters.
PINPOINT_VALUE_CHARS = 100


def pinpoint_value(value: str) -> str:
    """``value`` within Pinpoint's limit: a longer URL is left out (a cut link is broken),
    longer text is cut with an ellipsis."""
    if len(value) <= PINPOINT_VALUE_CHARS:
        return value
    if value.startswith(("http://", "https://")):
        return ""
    return value[: PINPOINT_VALUE_CHARS - 1] + "\u2026"


def camel(name: str) -> str:
    """first_name -> FirstName (Pinpoint attribute naming)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def ses_attributes(m: SegmentMember, attributes: Sequence[str]) -> str:
    """SES attributesData: a JSON object as text, keys in lowerCamelCase (firstName)."""
    return _dumps(
        {camel(a)[:1].lower() + camel(a)[1:]: m.attributes.get(a, "") for a in attributes}
    )


class Encoder(Protocol):
    def write(self, members: Sequence[SegmentMember]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    content_type: str
    # What an import job is told the data format is ("CSV"/"JSON"), when the format has one.
    import_format: str = ""

    def encoder(self, out: IO[bytes], attributes: Sequence[str], topic: str) -> Encoder:
        return _ENCODERS[self.name](out, tuple(attributes), topic)


class _Csv:
    """CSV with a fixed header chosen from the first page (attributes never vary within a
    generation: the batch job writes the same keys for every member)."""

    def __init__(self, out: IO[bytes], attributes: tuple[str, ...], topic: str) -> None:
        self._text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self._writer = csv.writer(self._text, lineterminator="\n")
        self.attributes, self.topic = attributes, topic
        self._writer.writerow(self.header())

    def header(self) -> list[str]:
        raise NotImplementedError

    def row(self, m: SegmentMember) -> list[str]:
        raise NotImplementedError

    def write(self, members: Sequence[SegmentMember]) -> None:
        self._writer.writerows(self.row(m) for m in members)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()


class PinpointCsv(_Csv):
    """Pinpoint segment import, CSV: one EMAIL endpoint per customer."""

    def header(self) -> list[str]:
        others = [a for a in self.attributes if a != COUNTRY]
        return [
            "ChannelType",
            "Address",
            "Id",
            "Location.Country",
            "User.UserId",
            *(f"User.UserAttributes.{camel(a)}" for a in others),
        ]

    def row(self, m: SegmentMember) -> list[str]:
        others = [a for a in self.attributes if a != COUNTRY]
        return [
            "EMAIL",
            m.email,
            m.user_id,
            m.attributes.get(COUNTRY, ""),
            m.user_id,
            *(pinpoint_value(m.attributes.get(a, "")) for a in others),
        ]


class SesCsv(_Csv):
    """SES v2 contact-list import, CSV: attributesData is a JSON object in one column."""

    def header(self) -> list[str]:
        topics = [f"topicPreferences.{self.topic}"] if self.topic else []
        return ["emailAddress", "unsubscribeAll", "attributesData", *topics]

    def row(self, m: SegmentMember) -> list[str]:
        topic = ["OPT_IN"] if self.topic else []
        return [m.email, "false", ses_attributes(m, self.attributes), *topic]


class PlainCsv(_Csv):
    """Any other tool: user_id, email and the attributes as they are named in the profile."""

    def header(self) -> list[str]:
        return ["user_id", "email", *self.attributes]

    def row(self, m: SegmentMember) -> list[str]:
        return [m.user_id, m.email, *(m.attributes.get(a, "") for a in self.attributes)]


class _JsonLines:
    def __init__(self, out: IO[bytes], attributes: tuple[str, ...], topic: str) -> None:
        self._out, self.attributes, self.topic = out, attributes, topic

    def record(self, m: SegmentMember) -> dict[str, object]:
        raise NotImplementedError

    def write(self, members: Sequence[SegmentMember]) -> None:
        self._out.write("".join(_dumps(self.record(m)) + "\n" for m in members).encode())

    def close(self) -> None:
        self._out.flush()


class PinpointJsonLines(_JsonLines):
    """Pinpoint segment import, JSON: user attribute values are lists of strings."""

    def record(self, m: SegmentMember) -> dict[str, object]:
        return {
            "ChannelType": "EMAIL",
            "Address": m.email,
            "Id": m.user_id,
            "Location": {"Country": m.attributes.get(COUNTRY, "")},
            "User": {
                "UserId": m.user_id,
                "UserAttributes": {
                    camel(a): [pinpoint_value(m.attributes.get(a, ""))]
                    for a in self.attributes
                    if a != COUNTRY
                },
            },
        }


class SesJsonLines(_JsonLines):
    """SES v2 contact-list import, newline-delimited JSON."""

    def record(self, m: SegmentMember) -> dict[str, object]:
        record: dict[str, object] = {
            "emailAddress": m.email,
            "unsubscribeAll": False,
            "attributesData": ses_attributes(m, self.attributes),
        }
        if self.topic:
            record["topicPreferences"] = [{"topicName": self.topic, "subscriptionStatus": "OPT_IN"}]
        return record


class Parquet:
    """Plain columns as strings; one row group per page keeps memory flat."""

    def __init__(self, out: IO[bytes], attributes: tuple[str, ...], topic: str) -> None:
        self.attributes = attributes
        self._writer = ParquetWriter(out, ["user_id", "email", *attributes])

    def write(self, members: Sequence[SegmentMember]) -> None:
        self._writer.write(
            [[m.user_id, m.email, *(m.attributes.get(a, "") for a in self.attributes)]
             for m in members]
        )

    def close(self) -> None:
        self._writer.close()


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


_ENCODERS: dict[str, Callable[[IO[bytes], tuple[str, ...], str], Encoder]] = {
    "pinpoint-csv": PinpointCsv,
    "pinpoint-jsonl": PinpointJsonLines,
    "ses-csv": SesCsv,
    "ses-jsonl": SesJsonLines,
    "csv": PlainCsv,
    "parquet": Parquet,
}

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("pinpoint-csv", "csv", "text/csv", "CSV"),
        Format("pinpoint-jsonl", "jsonl", "application/x-ndjson", "JSON"),
        Format("ses-csv", "csv", "text/csv", "CSV"),
        Format("ses-jsonl", "jsonl", "application/x-ndjson", "JSON"),
        Format("csv", "csv", "text/csv"),
        Format("parquet", "parquet", "application/vnd.apache.parquet"),
    )
}
