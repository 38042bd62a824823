"""Feast's value encodings, vectorised: the same bytes as Feast's protobufs, both ways."""

from __future__ import annotations

import numpy as np
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import given
from hypothesis import strategies as st

from spend.features.store import codec


def test_doubles_round_trip_through_feasts_own_protobufs():
    values = np.array([0.0, 1.5, -2.25, np.nan, 1e300])
    blobs = codec.encode_doubles(values)
    assert blobs[3] == b"" and blobs[1] == ValueProto(double_val=1.5).SerializeToString()
    decoded = codec.decode_doubles(blobs)
    assert np.array_equal(decoded, values, equal_nan=True)


def test_several_columns_decode_at_once_as_they_decode_one_by_one():
    a, b = codec.encode_doubles(np.array([1.0, 2.0, 3.0])), codec.encode_doubles(np.array([4.0, 0.0, 6.5]))
    assert codec.decode_double_columns([a, b]).tolist() == [[1.0, 2.0, 3.0], [4.0, 0.0, 6.5]]
    # a missing value (None: unknown entity; b"": null) or another wire type takes the one-by-one path
    c = [None, b"", ValueProto(int64_val=7).SerializeToString()]
    mixed = codec.decode_double_columns([a, c])
    assert np.array_equal(mixed, np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, 7.0]]), equal_nan=True)
    assert codec.decode_double_columns([]).shape == (0, 0)


value_blobs = st.one_of(
    st.floats(allow_nan=False).map(lambda v: ValueProto(double_val=v).SerializeToString()),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: ValueProto(int64_val=v).SerializeToString()),
    st.sampled_from([None, b""]),
)


@given(st.lists(value_blobs, max_size=20))
def test_one_entitys_values_decode_at_once_as_they_decode_one_by_one(blobs):
    """A payment's card or terminal: one unpack when every value is a double; a missing value, a null or
    another wire type (an int64 of nine bytes looks like a double by length) decodes one by one."""
    expected = [codec.decode_double(blob) for blob in blobs]
    assert np.array_equal(codec.decode_double_row(blobs), expected, equal_nan=True)


def test_sqlite_rows_land_in_their_columns_whatever_their_encoding():
    from spend.features.store.read_plan import ViewPlan
    from spend.features.store.reader import _place

    plan = ViewPlan(
        "v", ("customer_id",), ("a", "b", "tier"), frozenset({"tier"}), 1e9, "t", (), 0, (0, 1), (0,), (2, 1), "a"
    )
    double = codec.encode_doubles(np.array([2.5]))[0]
    rows = [
        (b"k1", "a", double, 100),
        (b"k1", "b", ValueProto(int64_val=7).SerializeToString(), 100),  # another type: decoded alone
        (b"k1", "tier", ValueProto(string_val="gold").SerializeToString(), 100),
        (b"k2", "a", b"", 90),  # a null
        (b"k2", "old_feature", double, 500),  # not asked for: neither a value nor a time
    ]
    for copies in (1, 100):  # a few rows go one by one, many column-wise: the same answer
        numbers, texts, stamps = np.full((2, 3), np.nan), {"tier": [None] * 3}, np.full(3, np.nan)
        _place(plan, rows * copies, {b"k1": 0, b"k2": 1, b"k3": 2}, numbers, texts, stamps)
        assert np.array_equal(numbers, np.array([[2.5, np.nan, np.nan], [7.0, np.nan, np.nan]]), equal_nan=True)
        assert texts["tier"] == ["gold", None, None]
        assert np.array_equal(stamps, np.array([100.0, 90.0, np.nan]), equal_nan=True)


def test_records_round_trip_with_nulls_texts_and_a_wrong_layout():
    from spend.features.store import records

    layout = records.layout_id(["a", "b"], ["tier", "note"])
    numbers = np.array([[1.5, np.nan], [0.0, -2.0], [3.0, 4.0]])
    texts = [["gold", None, ""], ["ünïcode", "x", None]]
    packed = records.encode(layout, np.array([10.0, 20.0, 30.0]), numbers, texts)
    packed.append(packed[0][:-3])  # truncated: its lengths do not add up
    packed.append(records.encode(layout + 1, np.array([1.0]), numbers[:1], [["a"], ["b"]])[0])  # another layout
    packed.append(b"")  # no record at all
    usable, seconds, values, decoded = records.decode(packed, layout, 2, 2)
    assert usable.tolist() == [True, True, True, False, False, False]
    assert seconds[:3].tolist() == [10.0, 20.0, 30.0]
    assert np.array_equal(values[:, :3], numbers.T, equal_nan=True)
    assert decoded[0][:3] == ["gold", None, ""] and decoded[1][:3] == ["ünïcode", "x", None]
    assert records.layout_id(["a", "b"], ["tier"]) != records.layout_id(["b", "a"], ["tier"])


def test_timestamps_decode_in_bulk_and_one_by_one_alike():
    from google.protobuf.timestamp_pb2 import Timestamp

    whole = [Timestamp(seconds=s).SerializeToString() for s in (1_795_651_200, 300_000_000, 2**35 - 1)]
    odd = [Timestamp(seconds=7, nanos=500_000_000).SerializeToString(), None, b""]
    assert codec.timestamp_seconds(whole).tolist() == [1_795_651_200.0, 300_000_000.0, float(2**35 - 1)]
    assert np.array_equal(codec.timestamp_seconds(whole + odd)[:3], codec.timestamp_seconds(whole))
    assert np.array_equal(codec.timestamp_seconds(odd), np.array([7.5, np.nan, np.nan]), equal_nan=True)


def test_timestamps_encode_as_protobuf_does():
    from google.protobuf.timestamp_pb2 import Timestamp

    seconds = [1_795_651_200, 0, 1, 127, 128, 2**35, -5, 300_000_000]
    assert codec.encode_timestamps(np.array(seconds)) == [Timestamp(seconds=s).SerializeToString() for s in seconds]


def test_one_timestamp_decodes_as_protobuf_does():
    from google.protobuf.timestamp_pb2 import Timestamp

    stamps = [Timestamp(seconds=s).SerializeToString() for s in (1_795_651_200, 1, 127, 128, 2**35, 2**40, -5)]
    stamps += [Timestamp(seconds=7, nanos=500_000_000).SerializeToString(), Timestamp(nanos=3).SerializeToString()]
    expected = [Timestamp.FromString(b).seconds + Timestamp.FromString(b).nanos / 1e9 for b in stamps]
    assert [codec.timestamp_second(b) for b in stamps] == expected
    assert np.isnan(codec.timestamp_second(None)) and np.isnan(codec.timestamp_second(b""))
