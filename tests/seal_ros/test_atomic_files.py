"""Atomic writes: the new file whole, or the previous one intact; never a temporary left."""

from __future__ import annotations

from pathlib import Path

import pytest

from seal_ros.atomic_files import atomic_path, write_text


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = write_text(tmp_path / "sub" / "a.yaml", "one\n")
    write_text(path, "two\n")
    assert path.read_text() == "two\n"
    assert [p.name for p in path.parent.iterdir()] == ["a.yaml"]


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "a.onnx", "good")
    with pytest.raises(RuntimeError, match="exporter broke"), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("exporter broke")
    assert path.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["a.onnx"]
