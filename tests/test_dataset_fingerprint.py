"""Dataset fingerprints: the digest covers every value, is stable across processes and memory layouts,
and the profile's schema, rows and statistics say what the data is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xxhash

from assay.datasets import ColumnStats, DatasetProfile, fingerprint
from assay.errors import InvalidInput, NotFound

DIGEST = re.compile(r"^xxh3-128:[0-9a-f]{32}$")


def digest(data: Any) -> str:
    return fingerprint(data, stats=False).digest


def mixed_frame(rows: int = 20_000) -> pd.DataFrame:
    """Numbers, strings, a categorical and datetimes; built the same way in the subprocess test."""
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "x": rng.random(rows),
            "n": np.arange(rows, dtype=np.int64),
            "s": [f"row {i}" for i in range(rows)],
            "c": pd.Categorical(rng.choice(["red", "green", "blue"], rows)),
            "t": pd.date_range("2024-01-01", periods=rows, freq="min"),
        }
    )


def run_python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


# -- the digest ----------------------------------------------------------------------------------------


def test_import_loads_no_dataframe_library() -> None:
    out = run_python(
        """
        import sys, assay.datasets
        print(",".join(m for m in ("pandas", "polars", "pyarrow") if m in sys.modules))
        """
    )
    assert out == ""


def test_the_digest_names_its_scheme() -> None:
    assert DIGEST.match(digest(mixed_frame(10)))
    assert DIGEST.match(digest(np.arange(3)))


def test_equal_data_in_another_process_has_the_same_digest(tmp_path: Path) -> None:
    """Another interpreter (another hash seed) builds the same data: same digests."""
    frame = mixed_frame()
    file = tmp_path / "data.bin"
    file.write_bytes(bytes(range(256)) * 1000)
    mine = [digest(frame), digest(np.arange(1000.0).reshape(100, 10)), digest(file)]
    theirs = run_python(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import numpy as np
        from test_dataset_fingerprint import digest, mixed_frame
        print(digest(mixed_frame()))
        print(digest(np.arange(1000.0).reshape(100, 10)))
        print(digest({str(file)!r}))
        """
    ).splitlines()
    assert theirs == mine


def test_digests_are_pinned() -> None:
    """The framing is a format: a change to it must take a new prefix, never silently move digests."""
    assert digest(np.arange(10, dtype="<i8")) == "xxh3-128:" + _pinned["ndarray"]
    frame = pd.DataFrame({"a": [1.5, 2.5], "b": ["x", None]})
    assert digest(frame) == "xxh3-128:" + _pinned["frame"]


_pinned = {
    "ndarray": "9c88f8fc21f037c5a1428e9de4609d8c",
    "frame": "b8b363ab2530b66b100bf8b3f7daa8e3",
}


@pytest.mark.parametrize("column", ["x", "n", "s", "c", "t"])
def test_a_change_in_the_last_row_changes_the_digest(column: str) -> None:
    """MLflow hashes the first 10,000 rows only: a change at row 20,000 goes unnoticed there."""
    frame = mixed_frame()
    changed = frame.copy()
    last = len(frame) - 1
    new = {"x": 0.5, "n": -1, "s": "changed", "c": "red" if frame["c"].iat[last] != "red" else "blue"}
    new["t"] = pd.Timestamp("1999-01-01")  # type: ignore[assignment]
    changed.iloc[last, changed.columns.get_loc(column)] = new[column]  # type: ignore[index]
    assert digest(changed) != digest(frame)


def test_a_change_in_the_last_value_of_an_array_changes_the_digest() -> None:
    a = np.zeros((50_000, 4))
    b = a.copy()
    b[-1, -1] = 1e-300
    assert digest(a) != digest(b)


def test_the_digest_ignores_memory_layout() -> None:
    rng = np.random.default_rng(1)
    a = rng.random((3000, 7))
    same = [
        np.asfortranarray(a),
        a.astype(">f8"),  # big-endian
        np.ascontiguousarray(a[:, ::-1])[:, ::-1],  # negative strides
    ]
    assert {digest(x) for x in same} == {digest(a)}
    wide = rng.random((3000, 14))
    assert digest(wide[:, ::2]) == digest(np.ascontiguousarray(wide[:, ::2]))  # a non-contiguous slice
    assert digest(wide[::3]) == digest(wide[::3].copy())


def test_a_frame_built_by_rows_or_by_columns_has_one_digest() -> None:
    rng = np.random.default_rng(2)
    a = rng.random((5000, 4))
    by_rows = pd.DataFrame(a)  # one 2-D block
    by_columns = pd.DataFrame({i: a[:, i].copy() for i in range(4)})
    from_fortran = pd.DataFrame(np.asfortranarray(a))
    assert digest(by_rows) == digest(by_columns) == digest(from_fortran)
    assert digest(by_rows.iloc[::2]) == digest(by_columns.iloc[::2].copy())


def test_shape_dtype_and_names_are_part_of_the_digest() -> None:
    a = np.arange(12, dtype=np.int64)
    assert digest(a) != digest(a.reshape(3, 4))
    assert digest(a) != digest(a.astype(np.int32))
    assert digest(a) != digest(a.astype(np.float64))
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    assert digest(frame) != digest(frame.rename(columns={"a": "A"}))
    assert digest(frame) != digest(frame[["b", "a"]])
    assert digest(pd.DataFrame({"1": [1]})) != digest(pd.DataFrame({1: [1]}))


def test_strings_are_length_delimited_and_nulls_are_not_empty_strings() -> None:
    assert digest(pd.DataFrame({"s": ["ab", "c"]})) != digest(pd.DataFrame({"s": ["a", "bc"]}))
    assert digest(pd.DataFrame({"s": ["", "a"]})) != digest(pd.DataFrame({"s": [None, "a"]}))


def test_strings_hash_the_same_whatever_pandas_keeps_them_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """object, ``string[python]`` and pandas 3's ``str`` hold the same strings: one digest, through Arrow
    or through the pure-Python encoder."""
    values = ["alpha", None, "γάμμα", "", "x" * 300] * 30_000  # several chunks
    expected = digest(pd.DataFrame({"s": pd.Series(values, dtype=object)}))
    for dtype in ["string", "str"]:
        assert digest(pd.DataFrame({"s": pd.Series(values, dtype=dtype)})) == expected
    from assay.datasets import from_pandas

    monkeypatch.setattr(from_pandas, "_has_pyarrow", lambda: False)
    assert digest(pd.DataFrame({"s": pd.Series(values, dtype=object)})) == expected
    assert digest(pd.DataFrame({"s": pd.Series(values, dtype="string[python]")})) == expected


def test_nan_bit_patterns_are_one_value() -> None:
    """x86 computes 0/0 as a negative NaN; np.nan is positive: both are the same missing value."""
    a = np.array([1.0, np.nan, 3.0])
    b = a.copy()
    b.view(np.uint64)[1] |= np.uint64(1 << 63)
    assert np.isnan(b[1]) and a.tobytes() != b.tobytes()
    assert digest(a) == digest(b)
    assert digest(pd.DataFrame({"f": a})) == digest(pd.DataFrame({"f": b}))


def test_the_index_counts_unless_it_is_a_range() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    assert digest(frame.iloc[1:]) == digest(frame.iloc[1:].reset_index(drop=True))  # RangeIndex(1, 3)
    labelled = frame.set_axis(["a", "b", "c"])
    assert digest(labelled) != digest(frame)
    assert digest(labelled) != digest(frame.set_axis(["a", "b", "d"]))
    profile = fingerprint(labelled)
    assert [(c.name, c.role) for c in profile.schema] == [("__index_level_0__", "index"), ("a", "column")]
    assert [s.name for s in profile.stats] == ["a"]


def test_categoricals_hash_by_value() -> None:
    a = pd.DataFrame({"c": pd.Categorical(["x", "y", None, "x"], categories=["x", "y"])})
    b = pd.DataFrame({"c": pd.Categorical(["x", "y", None, "x"], categories=["y", "x", "z"])})
    assert digest(a) == digest(b)
    assert digest(a) != digest(pd.DataFrame({"c": ["x", "y", None, "x"]}))  # dtype differs
    numbers = pd.DataFrame({"c": pd.Categorical([3, 1, None, 3])})
    assert digest(numbers) != digest(pd.DataFrame({"c": pd.Categorical([3, 1, None, 1])}))


def test_nullable_columns_hash_like_plain_ones_without_nulls() -> None:
    plain = pd.DataFrame({"n": np.array([1, 2, 3], dtype=np.int64)})
    assert digest(plain) == digest(plain.astype("Int64"))
    with_null = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64")})
    zero = pd.DataFrame({"n": pd.array([1, 0, 3], dtype="Int64")})
    assert digest(with_null) != digest(zero)


def test_other_column_types_have_a_digest() -> None:
    frame = pd.DataFrame(
        {
            "tz": pd.date_range("2024-03-01", periods=4, tz="Europe/Paris"),
            "td": pd.to_timedelta([1, 2, 3, None], unit="s"),
            "b": [True, False, True, True],
            "mixed": [1, "a", (2, 3), None],
            "bytes": [b"a", b"b", None, b"\x00"],
            "period": pd.period_range("2024-01", periods=4, freq="M"),
            "cx": np.array([1 + 2j, 0, 1, 2]),
        }
    )
    profile = fingerprint(frame)
    assert DIGEST.match(profile.digest)
    other = frame.copy()
    other["tz"] = frame["tz"].dt.tz_convert("UTC")  # the same instants, another zone
    assert digest(other) != profile.digest
    assert str(profile.column_stats("tz").min).startswith("2024-02-29T23:00:00")  # UTC
    assert profile.column_stats("td").nulls == 1
    assert profile.column_stats("b").distinct == 2


def test_numpy_arrays_of_any_dtype() -> None:
    for a in [
        np.array(["a", "bc", "d"]),
        np.array([b"a", b"bc"]),
        np.array(["x", None, 3], dtype=object),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"),
        np.zeros(3, dtype=[("a", ">i4"), ("b", "f8")]),
        np.array(7.0),
        np.array([], dtype=np.float32),
        np.array([True, False]),
    ]:
        assert DIGEST.match(fingerprint(a).digest), a.dtype
    aligned = np.zeros(2, dtype=np.dtype([("a", "i1"), ("b", "f8")], align=True))
    packed = np.zeros(2, dtype=[("a", "i1"), ("b", "f8")])
    assert digest(aligned) == digest(packed)  # padding bytes are not content


def test_arrow_and_polars_tables_hash_like_the_same_pandas_frame() -> None:
    pa = pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"x": np.arange(5.0), "n": np.arange(5), "s": list("abcde"), "b": [True] * 5})
    assert digest(pa.Table.from_pandas(frame, preserve_index=False)) == digest(frame)
    pl = pytest.importorskip("polars")
    assert digest(pl.from_pandas(frame)) == digest(frame)
    cats = pd.DataFrame({"c": pd.Categorical(["u", "v", "u"])})
    assert digest(pl.from_pandas(cats)) == digest(cats) == digest(pa.Table.from_pandas(cats))


def test_arrow_columns_with_nulls_slices_and_chunks() -> None:
    pa = pytest.importorskip("pyarrow")
    values = pa.array([1.5, None, 3.0, 4.0])
    table = pa.table({"v": values, "s": pa.array(["a", None, "ccc", "d"])})
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=1))
    assert digest(chunked) == digest(table)
    views = pa.table({"v": values, "s": table["s"].cast(pa.string_view())})
    assert (
        digest(views)
        == digest(table)
        == digest(table.cast(pa.schema([("v", "float64"), ("s", "large_string")])))
    )
    assert digest(table.slice(1)) == digest(
        pa.table({"v": values.slice(1), "s": pa.array([None, "ccc", "d"])})
    )
    assert digest(table) != digest(pa.table({"v": pa.array([1.5, 0.0, 3.0, 4.0]), "s": table["s"]}))
    profile = fingerprint(table)
    v = profile.column_stats("v")
    assert (v.count, v.nulls, v.min, v.max) == (3, 1, 1.5, 4.0)
    assert (v.mean, v.std) == (pytest.approx(8.5 / 3), pytest.approx(np.std([1.5, 3.0, 4.0], ddof=1)))
    assert profile.column_stats("s").distinct == 3
    big = pa.table({"v": pa.array(np.arange(300_000.0))})
    changed = pa.table({"v": pa.array(np.r_[np.arange(299_999.0), -1.0])})
    assert digest(big) != digest(changed)


def test_polars_frames() -> None:
    pl = pytest.importorskip("polars")
    pytest.importorskip("pyarrow")
    frame = pl.DataFrame({"a": [1, 2, None], "s": ["x", "y", "z"]})
    profile = fingerprint(frame, name="train")
    assert profile.kind == "polars" and profile.rows == 3 and profile.name == "train"
    assert [(c.name, c.dtype) for c in profile.schema] == [("a", "Int64"), ("s", "String")]
    assert profile.column_stats("a").nulls == 1
    assert digest(frame) != digest(pl.DataFrame({"a": [1, 2, 4], "s": ["x", "y", "z"]}))


# -- statistics ----------------------------------------------------------------------------------------


def test_numeric_statistics_match_numpy_across_many_chunks() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(1e6, 3.0, 1_000_000)  # a large mean: a naive sum of squares would lose the spread
    x[::1000] = np.nan
    n = rng.integers(-(2**40), 2**40, 1_000_000)
    profile = fingerprint(pd.DataFrame({"x": x, "n": n}))
    sx, sn = profile.column_stats("x"), profile.column_stats("n")
    present = x[~np.isnan(x)]
    assert (sx.count, sx.nulls) == (len(present), 1000)
    assert sx.min == present.min() and sx.max == present.max()
    assert sx.mean == pytest.approx(present.mean(), rel=1e-12)
    assert sx.std == pytest.approx(present.std(ddof=1), rel=1e-9)
    assert (sn.min, sn.max) == (int(n.min()), int(n.max())) and isinstance(sn.min, int)
    assert sn.std == pytest.approx(n.std(ddof=1), rel=1e-9)


def test_statistics_of_edge_cases() -> None:
    profile = fingerprint(
        pd.DataFrame(
            {
                "all_nan": [np.nan, np.nan],
                "one": [5.0, np.nan],
                "inf": [1.0, np.inf],
                "s": ["a", "a"],
            }
        )
    )
    assert profile.column_stats("all_nan") == ColumnStats("all_nan", 0, 2)
    assert profile.column_stats("one") == ColumnStats("one", 1, 1, min=5.0, max=5.0, mean=5.0)
    inf = profile.column_stats("inf")
    assert inf.max == np.inf and np.isnan(inf.std or 0.0) and inf.mean == np.inf
    assert profile.column_stats("s") == ColumnStats("s", 2, 0, distinct=1)
    empty = fingerprint(pd.DataFrame({"x": np.array([], dtype=float)}))
    assert empty.rows == 0 and empty.column_stats("x") == ColumnStats("x", 0, 0)


def test_a_feature_matrix_has_statistics_per_column() -> None:
    a = np.column_stack([np.arange(10.0), np.full(10, 2.0)])
    profile = fingerprint(a)
    assert profile.schema[0].shape == (10, 2) and profile.rows == 10
    assert [(s.name, s.min, s.max, s.mean) for s in profile.stats] == [
        ("0", 0.0, 9.0, 4.5),
        ("1", 2.0, 2.0, 2.0),
    ]
    assert fingerprint(np.arange(24.0).reshape(2, 3, 4)).stats[0].name == "array"


# -- the profile ---------------------------------------------------------------------------------------


def test_the_profile_goes_through_strict_json_and_back() -> None:
    frame = mixed_frame(100)
    frame["inf"] = np.inf
    profile = fingerprint(frame, name="train", source="s3://bucket/train.csv")
    text = json.dumps(profile.to_dict(), allow_nan=False)
    back = DatasetProfile.from_dict(json.loads(text))
    assert back.digest == profile.digest and back.schema == profile.schema
    assert back.to_dict() == profile.to_dict()
    assert back.column_stats("inf").max == np.inf
    assert (back.kind, back.rows, back.name, back.source) == ("pandas", 100, "train", "s3://bucket/train.csv")
    assert [c.to_dict() for c in back.schema][:2] == [
        {"name": "x", "dtype": "float64"},
        {"name": "n", "dtype": "int64"},
    ]


def test_unsupported_input_is_named_in_one_line() -> None:
    with pytest.raises(InvalidInput) as info:
        fingerprint({"a": [1, 2]})
    message = str(info.value)
    assert "\n" not in message and "builtins.dict" in message and "pandas DataFrame" in message
    with pytest.raises(InvalidInput):
        fingerprint("")
    with pytest.raises(NotFound):
        fingerprint("/no/such/file.parquet")


# -- files and directories -----------------------------------------------------------------------------


def test_a_file_digest_is_the_xxh3_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    content = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(500_000))
    path.write_bytes(content)
    profile = fingerprint(path)
    assert profile.digest == "xxh3-128:" + xxhash.xxh3_128_hexdigest(content)
    assert (profile.kind, profile.rows, profile.size_bytes) == ("file", None, len(content))
    assert profile.name == "data.csv" and profile.source == path.resolve().as_uri()
    assert fingerprint(str(path)).digest == profile.digest
    path.write_bytes(content[:-2] + b"0\n")
    assert fingerprint(path).digest != profile.digest


def test_parquet_rows_and_schema_come_from_the_footer(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"x": np.arange(10_000.0), "s": ["v"] * 10_000})
    frame.loc[3, "x"] = np.nan
    path = tmp_path / "frame.parquet"
    frame.to_parquet(path, index=False, row_group_size=3000)
    profile = fingerprint(path)
    assert profile.rows == 10_000 and profile.size_bytes == path.stat().st_size
    assert [(c.name, c.dtype) for c in profile.schema] == [("x", "double"), ("s", "large_string")] or [
        c.name for c in profile.schema
    ] == ["x", "s"]
    assert profile.column_stats("x") == ColumnStats("x", 9999, 1, min=0.0, max=9999.0)
    assert profile.digest == "xxh3-128:" + xxhash.xxh3_128_hexdigest(path.read_bytes())


def test_a_directory_hashes_its_sorted_paths_and_contents(tmp_path: Path) -> None:
    root = tmp_path / "d"
    (root / "sub").mkdir(parents=True)
    (root / "b.txt").write_bytes(b"b")
    (root / "sub" / "a.txt").write_bytes(b"a" * 100)
    first = fingerprint(root)
    assert (first.kind, first.size_bytes, first.rows, first.name) == ("directory", 101, None, "d")
    copy = tmp_path / "other"
    (copy / "sub").mkdir(parents=True)
    (copy / "sub" / "a.txt").write_bytes(b"a" * 100)  # created in another order: same digest
    (copy / "b.txt").write_bytes(b"b")
    assert fingerprint(copy).digest == first.digest
    (copy / "sub" / "a.txt").write_bytes(b"a" * 99 + b"b")
    assert fingerprint(copy).digest != first.digest
    (copy / "sub" / "a.txt").write_bytes(b"a" * 100)
    (copy / "sub" / "a.txt").rename(copy / "sub" / "c.txt")
    assert fingerprint(copy).digest != first.digest


def test_a_directory_of_parquet_parts_counts_its_rows(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    root = tmp_path / "parts"
    root.mkdir()
    for i in range(3):
        pd.DataFrame({"x": np.arange(100 * (i + 1))}).to_parquet(root / f"part-{i}.parquet")
    (root / "_SUCCESS").write_bytes(b"")
    profile = fingerprint(root)
    assert profile.rows == 600 and [c.name for c in profile.schema] == ["x"]


def test_fsspec_urls_hash_like_local_files(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/fp-test/dir/x.bin", b"x" * 5000)
    fs.pipe("/fp-test/dir/sub/y.bin", b"y")
    local = tmp_path / "dir"
    (local / "sub").mkdir(parents=True)
    (local / "x.bin").write_bytes(b"x" * 5000)
    (local / "sub" / "y.bin").write_bytes(b"y")
    try:
        assert fingerprint("memory://fp-test/dir/x.bin").digest == fingerprint(local / "x.bin").digest
        remote = fingerprint("memory://fp-test/dir")
        assert remote.digest == fingerprint(local).digest and remote.source == "memory://fp-test/dir"
    finally:
        fs.rm("/fp-test", recursive=True)


@pytest.mark.slow
def test_a_1gb_file_is_hashed_in_bounded_memory(tmp_path: Path) -> None:
    """A sparse 1 GiB file (no disk used) is streamed: peak RSS grows by the read buffer, not the file."""
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(1 << 30)
    out = run_python(
        f"""
        import resource
        from assay.datasets import fingerprint
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        profile = fingerprint({str(path)!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(profile.size_bytes, profile.digest, (after - before) * 1024)
        """
    )
    size, got, growth = out.split()
    assert int(size) == 1 << 30
    assert int(growth) < 64 << 20, f"peak RSS grew by {int(growth) >> 20} MiB"
    reference = xxhash.xxh3_128()
    zeros = bytes(8 << 20)
    for _ in range((1 << 30) // len(zeros)):
        reference.update(zeros)
    assert got == "xxh3-128:" + reference.hexdigest()


def test_environment_does_not_change_a_digest() -> None:
    """PYTHONHASHSEED changes Python's str hashes; the digest never used them."""
    code = "from assay.datasets import fingerprint; import pandas as pd; " + (
        "print(fingerprint(pd.DataFrame({'s': ['a', 'b', None]})).digest)"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(digests) == 1
