"""``seal_train synth``: what it writes and what it prints (paths, the split lists)."""

from __future__ import annotations

import pytest

from seal_train.__main__ import main


@pytest.mark.parametrize(("scenes", "train"), [(3, "scene-0000, scene-0001"),
                                                (1, "scene-0000")])
def test_prints_paths_and_splits(tmp_path, capsys, scenes: int, train: str) -> None:
    out = tmp_path / "drive"
    assert main(["synth", "--out", str(out), "--scenes", str(scenes), "--frames", "1",
                 "--formats", "nuscenes"]) == 0
    printed = capsys.readouterr().out
    assert f"  nuscenes  {out / 'nuscenes'}" in printed
    assert f"  splits    train = {train}; val = scene-{scenes - 1:04d}" in printed
    listed = (out / "nuscenes" / "splits" / "val.txt").read_text().split()
    assert listed == [f"scene-{scenes - 1:04d}"]
