"""A minimal Parquet writer for columns of strings: what an export needs, in pure Python.

The service image installs no pyarrow (about 130 MB), so exports write Parquet themselves:
every column a required UTF-8 string (BYTE_ARRAY, PLAIN encoding), one row group per page
of members (memory flat in the segment size), each column chunk one data page compressed
with GZIP (zlib, in the standard library; mtime 0, so the same rows give the same bytes).
The footer is the format's FileMetaData in Thrift's compact protocol, written by hand for
the few structures used (parquet-format's parquet.thrift names the field ids below).
Readers: pyarrow, DuckDB, Spark, Athena; the suite reads it back with pyarrow.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import IO

__all__ = ["ParquetWriter"]

MAGIC = b"PAR1"
# parquet.thrift enum values.
_BYTE_ARRAY = 6
_REQUIRED = 0
_UTF8 = 0  # ConvertedType
_PLAIN, _RLE = 0, 3
_GZIP = 2
_DATA_PAGE = 0
# Thrift compact protocol field types.
_I32, _I64, _BINARY, _LIST, _STRUCT = 5, 6, 8, 9, 12


class _Struct:
    """One Thrift struct in the compact protocol: fields must be added in id order."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._last = 0

    def _header(self, field_id: int, kind: int) -> None:
        delta = field_id - self._last
        if 0 < delta <= 15:
            self._out.append((delta << 4) | kind)
        else:
            self._out.append(kind)
            self._out += _varint(_zigzag(field_id))
        self._last = field_id

    def i32(self, field_id: int, value: int) -> _Struct:
        self._header(field_id, _I32)
        self._out += _varint(_zigzag(value))
        return self

    def i64(self, field_id: int, value: int) -> _Struct:
        self._header(field_id, _I64)
        self._out += _varint(_zigzag(value))
        return self

    def binary(self, field_id: int, value: bytes) -> _Struct:
        self._header(field_id, _BINARY)
        self._out += _varint(len(value)) + value
        return self

    def struct(self, field_id: int, value: _Struct) -> _Struct:
        self._header(field_id, _STRUCT)
        self._out += value.bytes()
        return self

    def structs(self, field_id: int, values: Sequence[_Struct]) -> _Struct:
        self._list(field_id, _STRUCT, len(values))
        for v in values:
            self._out += v.bytes()
        return self

    def i32s(self, field_id: int, values: Sequence[int]) -> _Struct:
        self._list(field_id, _I32, len(values))
        for v in values:
            self._out += _varint(_zigzag(v))
        return self

    def binaries(self, field_id: int, values: Sequence[bytes]) -> _Struct:
        self._list(field_id, _BINARY, len(values))
        for v in values:
            self._out += _varint(len(v)) + v
        return self

    def _list(self, field_id: int, kind: int, size: int) -> None:
        self._header(field_id, _LIST)
        if size < 15:
            self._out.append((size << 4) | kind)
        else:
            self._out.append(0xF0 | kind)
            self._out += _varint(size)

    def bytes(self) -> bytes:
        return bytes(self._out) + b"\x00"  # STOP


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _gzip(data: bytes) -> bytes:
    # wbits 31: a gzip member (what Parquet's GZIP codec means), header mtime 0.
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


class ParquetWriter:
    """Writes ``columns`` (all strings) to ``out``: ``write(rows)`` adds one row group,
    ``close()`` writes the footer. ``out`` need not be seekable."""

    def __init__(self, out: IO[bytes], columns: Sequence[str]) -> None:
        self._out = out
        self._columns = [c.encode() for c in columns]
        self._row_groups: list[_Struct] = []
        self._rows = 0
        self._offset = len(MAGIC)
        out.write(MAGIC)

    def write(self, rows: Sequence[Sequence[str]]) -> None:
        """One row group of ``rows`` (each one value per column, in column order)."""
        if not rows:
            return
        chunks = []
        group_bytes = 0
        for index, name in enumerate(self._columns):
            values = [row[index].encode() for row in rows]
            plain = b"".join(struct.pack("<I", len(v)) + v for v in values)
            packed = _gzip(plain)
            header = (
                _Struct()
                .i32(1, _DATA_PAGE)
                .i32(2, len(plain))
                .i32(3, len(packed))
                .struct(5, _Struct().i32(1, len(rows)).i32(2, _PLAIN).i32(3, _RLE).i32(4, _RLE))
                .bytes()
            )
            start = self._offset
            self._out.write(header)
            self._out.write(packed)
            self._offset += len(header) + len(packed)
            meta = (
                _Struct()
                .i32(1, _BYTE_ARRAY)
                .i32s(2, [_PLAIN, _RLE])
                .binaries(3, [name])
                .i32(4, _GZIP)
                .i64(5, len(rows))
                .i64(6, len(header) + len(plain))
                .i64(7, len(header) + len(packed))
                .i64(9, start)
            )
            chunks.append(_Struct().i64(2, start).struct(3, meta))
            group_bytes += len(header) + len(plain)
        self._row_groups.append(
            _Struct().structs(1, chunks).i64(2, group_bytes).i64(3, len(rows))
        )
        self._rows += len(rows)

    def close(self) -> None:
        root = _Struct().binary(4, b"schema").i32(5, len(self._columns))
        fields = [
            _Struct().i32(1, _BYTE_ARRAY).i32(3, _REQUIRED).binary(4, name).i32(6, _UTF8)
            for name in self._columns
        ]
        footer = (
            _Struct()
            .i32(1, 1)
            .structs(2, [root, *fields])
            .i64(3, self._rows)
            .structs(4, self._row_groups)
            .binary(6, b"shop-recs segment export")
            .bytes()
        )
        self._out.write(footer)
        self._out.write(struct.pack("<I", len(footer)))
        self._out.write(MAGIC)
        self._out.flush()
