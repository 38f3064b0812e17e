"""PointCloud2 codec: round trips over every datatype, padded / big-endian layouts, bad layouts."""

from __future__ import annotations

import array

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from seal_ros.core.codec import (
    DATATYPE_DTYPES,
    CloudData,
    FieldSpec,
    PointFieldType,
    cloud_dtype,
    decode,
    encode,
    finite_mask,
    read_field,
    read_points,
)
from seal_ros.errors import CodecError

TS = get_typestore(Stores.ROS2_HUMBLE)
PC2 = "sensor_msgs/msg/PointCloud2"


def values(dtype: np.dtype, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if dtype.kind == "f":
        return rng.normal(0, 100, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def to_ros(cloud: CloudData) -> object:
    header = TS.types["std_msgs/msg/Header"](
        stamp=TS.types["builtin_interfaces/msg/Time"](sec=12, nanosec=34), frame_id="lidar")
    return cloud.to_message(TS.types[PC2], TS.types["sensor_msgs/msg/PointField"], header)


@pytest.mark.parametrize("datatype", list(PointFieldType))
@pytest.mark.parametrize("count", [1, 3])
def test_round_trip_every_datatype(datatype: PointFieldType, count: int) -> None:
    rng = np.random.default_rng(int(datatype) * 10 + count)
    dtype = DATATYPE_DTYPES[datatype]
    n = 57
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    payload = values(dtype, (n,) if count == 1 else (n, count), rng)
    cloud = encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "v": payload})
    assert cloud.fields[-1] == FieldSpec("v", 12, int(datatype), count)
    assert cloud.point_step == 12 + dtype.itemsize * count
    assert cloud.row_step == n * cloud.point_step and cloud.data.size == n * cloud.point_step
    points = decode(cloud)
    np.testing.assert_array_equal(points["v"], payload)
    np.testing.assert_array_equal(read_points(cloud), xyz)
    np.testing.assert_array_equal(read_field(cloud, "v"), payload)
    # through rosbags' CDR serialisation of sensor_msgs/PointCloud2
    msg = TS.deserialize_cdr(TS.serialize_cdr(to_ros(cloud), PC2), PC2)
    assert decode(msg).base is not None or len(msg.data) == 0  # a view, not a copy
    np.testing.assert_array_equal(decode(msg)["v"], payload)
    np.testing.assert_array_equal(read_points(msg), xyz)


@pytest.mark.parametrize("kind", ["ndarray", "bytes", "bytearray", "memoryview", "array", "list"])
def test_data_containers(kind: str) -> None:
    xyz = np.arange(12, dtype=np.float32).reshape(4, 3)
    cloud = encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})
    raw = cloud.data.tobytes()
    data = {"ndarray": cloud.data, "bytes": raw, "bytearray": bytearray(raw),
            "memoryview": memoryview(raw), "array": array.array("B", raw),
            "list": list(raw)}[kind]
    msg = CloudData(cloud.fields, 1, 4, 12, 48, False, True, data)  # type: ignore[arg-type]
    np.testing.assert_array_equal(read_points(msg), xyz)


def test_padded_layout_and_row_padding() -> None:
    rng = np.random.default_rng(0)
    n = 20
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    intensity = rng.uniform(0, 1, n).astype(np.float32)
    ring = rng.integers(0, 32, n).astype(np.uint16)
    # Ouster-like: x y z at 0/4/8, 4 bytes padding, intensity at 16, ring at 20, point_step 32
    fields = [FieldSpec("x", 0, 7), FieldSpec("y", 4, 7), FieldSpec("z", 8, 7),
              FieldSpec("intensity", 16, 7), FieldSpec("ring", 20, 4)]
    dtype = cloud_dtype(fields, 32)
    assert dtype.itemsize == 32
    points = np.zeros(n, dtype=dtype)
    for i, name in enumerate("xyz"):
        points[name] = xyz[:, i]
    points["intensity"], points["ring"] = intensity, ring
    cloud = encode(points)
    assert cloud.point_step == 32 and cloud.fields == fields
    got = read_points(cloud, ("x", "y", "z", "intensity", "ring"))
    np.testing.assert_array_equal(got[:, :3], xyz)
    np.testing.assert_array_equal(got[:, 4], ring)
    padded = encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}, point_step=16)
    assert padded.point_step == 16 and padded.data.size == n * 16
    np.testing.assert_array_equal(read_points(padded), xyz)
    # organised 4 x 5 cloud whose rows carry 8 bytes of padding each
    rows = np.zeros((4, 5 * 32 + 8), dtype=np.uint8)
    rows[:, :160] = cloud.data.reshape(4, 160)
    organised = CloudData(fields, 4, 5, 32, 168, False, True, rows.reshape(-1))
    np.testing.assert_array_equal(read_points(organised), xyz)


def test_big_endian_equals_little_endian() -> None:
    rng = np.random.default_rng(1)
    cols = {"x": rng.normal(size=30).astype(np.float32),
            "y": rng.normal(size=30).astype(np.float32),
            "z": rng.normal(size=30).astype(np.float64),
            "ring": rng.integers(0, 64, 30).astype(np.uint16),
            "t": rng.integers(-5, 5, (30, 2)).astype(np.int32)}
    little, big = encode(cols), encode(cols, is_bigendian=True)
    assert big.is_bigendian and not little.is_bigendian
    assert big.data.tobytes() != little.data.tobytes()
    np.testing.assert_array_equal(read_points(big, ("x", "y", "z", "ring")),
                                  read_points(little, ("x", "y", "z", "ring")))
    np.testing.assert_array_equal(read_field(big, "t"), cols["t"])
    assert read_field(big, "ring").dtype == np.dtype(np.uint16)  # native order
    msg = TS.deserialize_cdr(TS.serialize_cdr(to_ros(big), PC2), PC2)
    np.testing.assert_array_equal(read_points(msg, ("z",), np.float64)[:, 0], cols["z"])
    assert encode(decode(big)).is_bigendian  # structured big-endian input keeps its order


def test_finite_mask_and_is_dense() -> None:
    xyz = np.array([[0, 0, 0], [np.nan, 0, 0], [0, np.inf, 0]], dtype=np.float32)
    np.testing.assert_array_equal(finite_mask(xyz), [True, False, False])
    assert not encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}).is_dense
    assert encode({"x": xyz[:1, 0], "y": xyz[:1, 1], "z": xyz[:1, 2]}).is_dense


def test_empty_cloud() -> None:
    empty = np.zeros(0, dtype=np.float32)
    cloud = encode({"x": empty, "y": empty, "z": empty})
    assert cloud.width == 0 and cloud.data.size == 0
    assert read_points(cloud).shape == (0, 3)


def _msg(**changes: object) -> CloudData:
    xyz = np.ones((4, 3), dtype=np.float32)
    cloud = encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})
    fields = changes.pop("fields", cloud.fields)
    base = dict(height=1, width=4, point_step=12, row_step=48, is_bigendian=False,
                is_dense=True, data=cloud.data)
    base.update(changes)
    return CloudData(fields, **base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "message"), [
    ({"fields": [FieldSpec("x", 0, 7), FieldSpec("y", 4, 7)]}, r"no field 'z'"),
    ({"fields": [FieldSpec("x", 0, 7), FieldSpec("y", 4, 7), FieldSpec("z", 10, 7)]},
     r"field 'z' \(FLOAT32 x 1 at offset 10\) ends at byte 14, past point_step 12"),
    ({"fields": [FieldSpec("x", 0, 7), FieldSpec("y", 4, 7), FieldSpec("z", 8, 7, 2)]},
     r"field 'z' \(FLOAT32 x 2 at offset 8\) ends at byte 16"),
    ({"fields": [FieldSpec("x", 0, 7), FieldSpec("y", 4, 9), FieldSpec("z", 8, 7)]},
     r"field 'y' has unknown datatype 9"),
    ({"fields": [FieldSpec("x", 0, 7), FieldSpec("x", 4, 7), FieldSpec("z", 8, 7)]},
     r"field 'x' appears twice"),
    ({"point_step": 0}, r"point_step is 0"),
    ({"data": np.zeros(47, dtype=np.uint8)}, r"data has 47 bytes; expected height 1 x row_step 48"),
    ({"row_step": 40, "data": np.zeros(40, dtype=np.uint8)},
     r"row_step 40 < width 4 x point_step 12"),
    ({"height": 2}, r"data has 48 bytes; expected height 2 x row_step 48 = 96"),
])
def test_invalid_layouts(changes: dict[str, object], message: str) -> None:
    with pytest.raises(CodecError, match=message):
        read_points(_msg(**changes))


def test_invalid_requests() -> None:
    with pytest.raises(CodecError, match=r"no field 'intensity'; it has \['x', 'y', 'z'\]"):
        read_points(_msg(), ("x", "intensity"))
    with pytest.raises(CodecError, match=r"no field 'z' \(required"):
        decode(_msg(fields=[FieldSpec("x", 0, 7), FieldSpec("y", 4, 7)]), require=("x", "y", "z"))
    with pytest.raises(CodecError, match="field 'flag' is bool"):
        encode({"flag": np.zeros(3, dtype=bool)})
    with pytest.raises(CodecError, match="field 'id' is int64"):
        encode({"id": np.zeros(3, dtype=np.int64)})
    assert encode({"id": np.zeros(3, dtype=np.int64)},
                  datatypes={"id": PointFieldType.INT32}).fields[0].datatype == 5
    with pytest.raises(CodecError, match="field 'b' has 2 points; the first field has 3"):
        encode({"a": np.zeros(3, np.float32), "b": np.zeros(2, np.float32)})
    with pytest.raises(CodecError, match="point_step 8 < 12 bytes"):
        encode({"x": np.zeros(3, np.float32), "y": np.zeros(3, np.float32),
                "z": np.zeros(3, np.float32)}, point_step=8)
    with pytest.raises(CodecError, match="field 'v' has count 3; read_points reads scalar"):
        read_points(encode({"v": np.zeros((2, 3), np.float32)}), ("v",))


# --------------------------------------------------------------------- hostile layouts --

def _flood(n_extra: int) -> CloudData:
    """x, y, z and ``n_extra`` uint8 fields, 10 points."""
    fields = [FieldSpec("x", 0, 7), FieldSpec("y", 4, 7), FieldSpec("z", 8, 7)]
    fields += [FieldSpec(f"f{i}", 12 + i, PointFieldType.UINT8) for i in range(n_extra)]
    step = 12 + n_extra
    return CloudData(fields=fields, height=1, width=10, point_step=step, row_step=10 * step,
                     is_bigendian=False, is_dense=True, data=np.zeros(10 * step, np.uint8))


def test_field_flood_is_refused_fast_and_the_limit_decodes_fast() -> None:
    import time

    from seal_ros.core.codec import MAX_FIELDS
    from seal_ros.errors import CodecReason

    at_limit = _flood(MAX_FIELDS - 3)
    start = time.perf_counter()
    points = decode(at_limit, require=("x", "y", "z"))
    assert time.perf_counter() - start < 0.1  # linear: ~2 ms (a name list took ~9 ms here)
    assert len(points.dtype.names) == MAX_FIELDS
    for extra in (MAX_FIELDS, 20_000, 200_000):  # 20k fields took 2.7 s with a name list
        cloud = _flood(extra)
        start = time.perf_counter()
        with pytest.raises(CodecError, match=f"{extra + 3} fields; at most {MAX_FIELDS}") as err:
            decode(cloud)
        assert time.perf_counter() - start < 0.05
        assert err.value.reason == CodecReason.TOO_MANY_FIELDS
    # a field list without len() (a generator) is cut off at the limit too
    with pytest.raises(CodecError, match=f"more than {MAX_FIELDS} fields"):
        cloud_dtype(iter(_flood(5000).fields), 5012)


@pytest.mark.parametrize("fields, pair", [
    ([("x", 0, 7, 1), ("y", 2, 7, 1), ("z", 8, 7, 1)], "'x' (bytes 0..4) and 'y' (bytes 2..6)"),
    ([("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("rgb", 4, 2, 1)],
     "'y' (bytes 4..8) and 'rgb' (bytes 4..5)"),
    ([("x", 0, 7, 3), ("y", 4, 7, 1), ("z", 12, 7, 1)], "'x' (bytes 0..12) and 'y' (bytes 4..8)"),
    ([("z", 8, 8, 1), ("x", 0, 7, 1), ("y", 12, 7, 1)], "'z' (bytes 8..16) and 'y' (bytes 12..16)"),
])
def test_overlapping_fields_are_a_layout_error_naming_both(fields, pair) -> None:
    from seal_ros.core.pipeline import SkipReason
    from seal_ros.errors import CodecReason

    specs = [FieldSpec(n, o, d, c) for n, o, d, c in fields]
    cloud = CloudData(fields=specs, height=1, width=2, point_step=16, row_step=32,
                      is_bigendian=False, is_dense=True, data=np.zeros(32, np.uint8))
    with pytest.raises(CodecError, match="overlap") as err:
        decode(cloud)
    assert pair in str(err.value)
    assert err.value.reason == CodecReason.BAD_LAYOUT == SkipReason.BAD_LAYOUT
    # touching fields and count-0 fields at a shared offset are fine
    ok = [FieldSpec("x", 0, 7), FieldSpec("y", 4, 7), FieldSpec("z", 8, 7),
          FieldSpec("empty", 4, 7, 0)]
    assert cloud_dtype(ok, 12).names == ("x", "y", "z")
