"""The SAM model recipe: released-layout state dicts load weights-only (tiny here, full-size
random ViT-B under ``slow``), wrong layouts and pickles are refused with the keys named."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from seal_ros.errors import ConfigError  # noqa: E402
from seal_ros.torch_files import save_torch_file  # noqa: E402
from seal_train.superpixels.sam_model import SamModel, build_tiny_sam  # noqa: E402


def test_checkpoint_loads_weights_only_into_the_registry_layout(tmp_path: Path) -> None:
    trained = build_tiny_sam(seed=1)
    path = save_torch_file(trained.state_dict(), tmp_path / "sam_tiny.pth")
    loaded = SamModel("tiny", path).build()
    assert not torch.equal(build_tiny_sam().image_encoder.patch_embed.proj.weight,
                           trained.image_encoder.patch_embed.proj.weight)
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert SamModel("tiny", path).describe() == {"kind": "tiny", "checkpoint": "sam_tiny.pth",
                                                 "checkpoint_bytes": path.stat().st_size}

    broken = dict(trained.state_dict())
    broken.pop("mask_decoder.iou_token.weight")
    broken["extra.weight"] = torch.zeros(1)
    save_torch_file(broken, tmp_path / "broken.pth")
    with pytest.raises(ConfigError, match=r"1 missing keys \['mask_decoder.iou_token.weight'\]"
                                          r".*1 unexpected \['extra.weight'\]"):
        SamModel("tiny", tmp_path / "broken.pth").build()

    torch.save({"model": Path("not/a/tensor")}, tmp_path / "pickled.pth")  # a pickle
    with pytest.raises(ConfigError, match="pickled.pth: refused"):
        SamModel("tiny", tmp_path / "pickled.pth").build()


@pytest.mark.slow
def test_full_size_vit_b_state_dict_round_trips_through_the_checkpoint_path(tmp_path: Path
                                                                            ) -> None:
    from segment_anything import sam_model_registry

    reference = sam_model_registry["vit_b"](checkpoint=None)
    path = save_torch_file(reference.state_dict(), tmp_path / "sam_vit_b_random.pth")
    loaded = SamModel("vit_b", path).build()
    for key, value in reference.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(ConfigError, match="not a SAM tiny checkpoint"):
        SamModel("tiny", path).build()
