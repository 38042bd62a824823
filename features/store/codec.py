"""Feast's online-store encodings, vectorised: entity keys, ValueProto blobs, Redis field names.

Feast writes and reads one protobuf per feature value, in Python. These functions produce and parse the
same bytes for whole columns at once; tests check them byte for byte against Feast's own serialisers.
"""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np
import pandas as pd
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from spend.features.store.feast_private import redis_field_hash

DOUBLE_TAG = b")"  # field 5 (double_val), wire type 1 (64-bit)
DOUBLE_BLOB = np.dtype([("tag", "S1"), ("value", "<f8")])  # a ValueProto holding one double: 9 bytes
STRING_TAG = b"\x12"  # field 2 (string_val), wire type 2 (length-delimited)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_doubles(values: np.ndarray) -> list[bytes]:
    """ValueProto(double_val=x) bytes per value; NaN becomes the empty proto, as Feast writes a null."""
    values = np.asarray(values, dtype=np.float64)
    packed = np.empty(len(values), dtype=[("tag", "S1"), ("value", "<f8")])
    packed["tag"], packed["value"] = DOUBLE_TAG, values
    # One buffer cut into 9-byte pieces: numpy's S9 would drop trailing zero bytes (0.0 and whole numbers
    # end in zeros), and NaN's mask is computed once rather than per value.
    buffer = packed.tobytes()
    null = np.isnan(values).tolist()
    return [b"" if null[i] else buffer[9 * i : 9 * i + 9] for i in range(len(values))]


def is_null(value) -> bool:
    """A missing value as Feast writes it: None, pandas' NA or a float NaN."""
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def is_text(field) -> bool:
    """A Feast field stored as a string (the rest are written as doubles)."""
    return "String" in str(field.dtype)


def encode_strings(values) -> list[bytes]:
    return [b"" if is_null(v) else STRING_TAG + _varint(len(e := str(v).encode("utf-8"))) + e for v in values]


def decode_doubles(blobs: list[bytes | None]) -> np.ndarray:
    """Inverse of encode_doubles; empty or missing blobs become NaN."""
    n = len(blobs)
    if n and all(b is not None and len(b) == 9 for b in blobs):
        return np.frombuffer(b"".join(blobs), dtype=[("tag", "S1"), ("value", "<f8")])["value"].copy()
    out = np.full(n, np.nan)
    for i, b in enumerate(blobs):
        if b:
            out[i] = struct.unpack_from("<d", b, 1)[0] if b[:1] == DOUBLE_TAG else _parse(b)
    return out


def decode_double(blob: bytes | None) -> float:
    """One value: decode_doubles without the array, for the single-entity path."""
    if blob is not None and len(blob) == 9 and blob[:1] == DOUBLE_TAG:
        return struct.unpack_from("<d", blob, 1)[0]
    return float(decode_doubles([blob])[0])


def decode_double_row(blobs: list[bytes | None]) -> list[float]:
    """decode_double for the values of one entity (a payment's card or terminal): one unpack of them all
    when every one is a present double, instead of a call per value."""
    n = len(blobs)
    try:
        joined = b"".join(blobs)  # None (missing) raises
    except TypeError:
        joined = None
    if joined is not None and len(joined) == 9 * n:
        values = _tags_and_doubles(n).unpack(joined)
        if values[0::2].count(DOUBLE_TAG) == n:
            return list(values[1::2])
    return [decode_double(blob) for blob in blobs]


@lru_cache(maxsize=64)  # one per view's count of numeric features
def _tags_and_doubles(n: int) -> struct.Struct:
    return struct.Struct("<" + "cd" * n)


def decode_double_columns(columns: list[list[bytes | None]]) -> np.ndarray:
    """decode_doubles for several columns of equal length at once: a (columns, rows) array. One buffer
    for all of them when every value is present (the common case: one numpy call instead of one per
    feature on a single-entity read)."""
    if not columns:
        return np.empty((0, 0))
    flat = [b for column in columns for b in column]
    try:
        sizes = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))  # None (missing) raises
    except TypeError:
        sizes = None
    if sizes is not None and (sizes == 9).all():
        values = np.frombuffer(b"".join(flat), dtype=DOUBLE_BLOB)
        if (values["tag"] == DOUBLE_TAG).all():
            return values["value"].reshape(len(columns), -1).copy()
    return np.vstack([decode_doubles(column) for column in columns])


def decode_strings(blobs: list[bytes | None]) -> list[str | None]:
    return [None if not b else ValueProto.FromString(b).string_val for b in blobs]


def _parse(blob: bytes) -> float:
    value = ValueProto.FromString(blob)
    kind = value.WhichOneof("val")
    return float("nan") if kind is None else float(getattr(value, kind))


def timestamp_seconds(blobs: list[bytes | None]) -> np.ndarray:
    """Seconds (with nanos as a fraction) of serialised google.protobuf.Timestamp values, NaN for a missing
    one. Feast's `_ts:<view>` fields written for whole seconds between 1978 and 3058 (field 1, a 5-byte
    varint) decode as one array; anything else through protobuf."""
    n = len(blobs)
    if n and all(b is not None and len(b) == 6 and b[0] == 8 for b in blobs):
        raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(n, 6)[:, 1:].astype(np.int64)
        if (raw[:, :4] >= 0x80).all() and (raw[:, 4] < 0x80).all():
            return ((raw & 0x7F) << np.array([0, 7, 14, 21, 28])).sum(axis=1).astype(float)
    from google.protobuf.timestamp_pb2 import Timestamp

    out = np.full(n, np.nan)
    for i, b in enumerate(blobs):
        if b:
            stamp = Timestamp.FromString(b)
            out[i] = stamp.seconds + stamp.nanos / 1e9
    return out


def timestamp_second(blob: bytes | None) -> float:
    """One value of timestamp_seconds, without arrays: whole seconds (field 1 alone, a varint) decoded
    here, anything else through timestamp_seconds."""
    if blob and blob[0] == 8:
        value, shift = 0, 0
        for i in range(1, len(blob)):
            value |= (blob[i] & 0x7F) << shift
            shift += 7
            if blob[i] < 0x80:
                if i == len(blob) - 1 and value < 1 << 63:  # no nanos after it; not a negative second
                    return float(value)
                break
    return float(timestamp_seconds([blob])[0])


def encode_timestamps(seconds) -> list[bytes]:
    """google.protobuf.Timestamp(seconds=s) serialised, per whole second: field 1 as a varint (nothing for
    0, as proto3 omits a default); negative seconds through protobuf (a 10-byte two's complement)."""
    out = []
    for s in np.asarray(seconds, dtype=np.int64).tolist():
        if s > 0:
            out.append(b"\x08" + _varint(s))
        elif s == 0:
            out.append(b"")
        else:
            from google.protobuf.timestamp_pb2 import Timestamp

            out.append(Timestamp(seconds=s).SerializeToString())
    return out


def redis_field(view: str, feature: str) -> bytes:
    return redis_field_hash(f"{view}:{feature}")


def redis_ts_field(view: str) -> bytes:
    """The hash field in which Feast's Redis store keeps a view's event time."""
    return f"_ts:{view}".encode()
