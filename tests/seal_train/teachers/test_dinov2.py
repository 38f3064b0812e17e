"""DINOv2 ViT teachers: shapes at any multiple of 14, frozen trunk, pre-norm tokens, weights in the
official DINOv2 and the timm layouts, clear errors; and a pretraining run with one."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from seal_ros.errors import ConfigError
from seal_train.config import load_config
from seal_train.models import TeacherConfig, build_teacher
from seal_train.models.config import VIT_TEACHERS
from seal_train.teachers import (
    DINOV2_ARCHS,
    TEACHERS,
    DinoV2Teacher,
    build_dinov2_teacher,
    build_dinov2_trunk,
    load_dinov2_state,
)

TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2}
"""A tiny trunk of the real timm class (ViT-S/14 with fewer, narrower blocks)."""
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    """A tiny DINOv2 trunk's state dict (timm layout, 37 x 37 position grid), every tensor
    perturbed so that layer scales, norms and embeddings all matter."""
    torch.manual_seed(0)
    trunk = build_dinov2_trunk("dinov2_vits14", **TINY)
    return {k: v + 0.1 * torch.randn_like(v) for k, v in trunk.state_dict().items()}


def _official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What facebookresearch/dinov2 releases (dinov2_vits14_pretrain.pth): timm's names for
    ViT-S/B/L plus the iBOT ``mask_token`` (1, D), no classifier."""
    return {**state, "mask_token": torch.zeros(1, state["cls_token"].shape[-1])}


def _tiny(weights: Path | None = None, image_size: tuple[int, int] | None = None,
          **arch: int) -> DinoV2Teacher:
    torch.manual_seed(1)  # the same head for every teacher built here
    return build_dinov2_teacher("dinov2_vits14", weights, 16, image_size, **{**TINY, **arch})


@pytest.mark.parametrize("size", [(28, 42), (56, 84)])
def test_output_is_unit_norm_at_the_input_size(size: tuple[int, int]) -> None:
    teacher = _tiny().train()
    out = teacher(torch.rand(2, 3, *size))
    assert out.shape == (2, 16, *size)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2, *size))
    assert teacher.tokens(torch.rand(1, 3, *size)).shape == (1, 32, size[0] // 14, size[1] // 14)


def test_trunk_is_frozen_and_only_the_head_gets_gradients() -> None:
    teacher = _tiny().train()
    assert not teacher.trunk.training and teacher.head.training
    trainable = {n for n, p in teacher.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
    teacher(torch.rand(2, 3, 28, 42)).square().sum().backward()
    grads = {n for n, p in teacher.named_parameters() if p.grad is not None}
    assert grads == {"head.weight", "head.bias"}
    assert teacher.head.weight.grad.abs().sum() > 0


def test_features_are_the_last_blocks_patch_tokens_before_the_final_norm(tmp_path, tiny_state):
    torch.save(tiny_state, tmp_path / "timm.pth")
    teacher = _tiny(tmp_path / "timm.pth").eval()
    images = torch.rand(2, 3, 42, 56)
    seen: list[torch.Tensor] = []
    hook = teacher.trunk.blocks[-1].register_forward_hook(lambda m, i, out: seen.append(out))
    tokens = teacher.tokens(images)  # (2, 32, 3, 4)
    hook.remove()
    last_block = seen[0][:, 1:].transpose(1, 2).reshape(2, 32, 3, 4)  # class token dropped
    torch.testing.assert_close(tokens, last_block)
    x = (images - teacher.mean) / teacher.std
    normed = teacher.trunk.forward_features(x)[:, 1:].transpose(1, 2).reshape(2, 32, 3, 4)
    assert (tokens - normed).abs().max() > 0.1  # not the normed tokens timm's forward gives
    torch.testing.assert_close(teacher.trunk.norm(tokens.flatten(2).transpose(1, 2)),
                               normed.flatten(2).transpose(1, 2))


def test_official_and_timm_layouts_load_to_identical_outputs(tmp_path, tiny_state):
    files = {"official.pth": _official(tiny_state), "timm.pth": tiny_state,
             # DINOv2's own training checkpoint wraps the trunk as teacher.backbone
             "dinov2-train.pth": {"teacher": {f"backbone.{k}": v
                                              for k, v in _official(tiny_state).items()}}}
    for name, payload in files.items():
        torch.save(payload, tmp_path / name)
    save_file(tiny_state, tmp_path / "timm.safetensors")  # timm's hub format
    images = torch.rand(2, 3, 56, 84)
    reference = _tiny(tmp_path / "official.pth").eval()
    torch.testing.assert_close(reference.trunk.blocks[1].ls1.gamma,
                               tiny_state["blocks.1.ls1.gamma"])
    assert "mask_token" not in reference.trunk.state_dict()
    expected = reference(images)
    for name in [*files, "timm.safetensors"]:
        torch.testing.assert_close(_tiny(tmp_path / name).eval()(images), expected, msg=name)
    # Built for 56 x 84: the file's 37 x 37 grid is resampled once at load, to the values a
    # 37 x 37 trunk resamples to at every forward.
    sized = _tiny(tmp_path / "timm.pth", image_size=(56, 84)).eval()
    assert tuple(sized.trunk.patch_embed.grid_size) == (4, 6)
    assert sized.trunk.pos_embed.shape == (1, 1 + 4 * 6, 32)
    sized.head.load_state_dict(reference.head.state_dict())  # its random init drew differently
    torch.testing.assert_close(sized.tokens(images), reference.tokens(images))
    torch.testing.assert_close(sized(images), expected)


def test_bad_weights_are_clear_errors(tmp_path, tiny_state, caplog):
    with pytest.raises(ConfigError, match="none.pth: no such teacher weights file"):
        _tiny(tmp_path / "none.pth")
    torch.save(tiny_state, tmp_path / "depth2.pth")
    with pytest.raises(ConfigError, match=r"depth2.pth: a ViT with embed_dim 32, 2 blocks and "
                                          r"14x14 patches, expected dinov2_vits14 \(embed_dim "
                                          r"32, 3 blocks, 14x14 patches\)"):
        _tiny(tmp_path / "depth2.pth", depth=3)
    vitb = {"cls_token": torch.zeros(1, 1, 768),  # the keys that say what a file holds
            "patch_embed.proj.weight": torch.zeros(768, 3, 14, 14),
            **{f"blocks.{i}.norm1.weight": torch.zeros(768) for i in range(12)}}
    torch.save(vitb, tmp_path / "vitb.pth")
    with pytest.raises(ConfigError, match=r"vitb.pth: a ViT with embed_dim 768, 12 blocks.*"
                                          r"expected dinov2_vits14.*"
                                          r"set teacher.name=dinov2_vitb14"):
        _tiny(tmp_path / "vitb.pth")
    patch16 = {**tiny_state, "patch_embed.proj.weight": torch.zeros(32, 3, 16, 16)}
    torch.save(patch16, tmp_path / "p16.pth")
    with pytest.raises(ConfigError, match=r"16x16 patches, expected dinov2_vits14.*not one of "
                                          r"DINOv2 ViT-S/14"):
        _tiny(tmp_path / "p16.pth")
    torch.save({**_official(tiny_state), "register_tokens": torch.zeros(1, 4, 32)},
               tmp_path / "reg4.pth")
    with pytest.raises(ConfigError, match="reg4.pth: a DINOv2 model with register tokens"):
        _tiny(tmp_path / "reg4.pth")
    partial = {k: v for k, v in tiny_state.items() if not k.startswith("blocks.1.mlp")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(ConfigError, match=r"partial.pth: 4 missing keys .*blocks.1.mlp.fc1"):
        _tiny(tmp_path / "partial.pth")
    torch.save({**tiny_state, "blocks.0.mlp.fc1.weight": torch.zeros(64, 32)}, tmp_path / "mlp.pth")
    with pytest.raises(ConfigError, match=r"mlp.pth: not a dinov2_vits14 \(.*size mismatch"):
        _tiny(tmp_path / "mlp.pth")
    torch.save({"model": {"w": torch.zeros(2)}, "when": datetime.date(2024, 1, 1)},
               tmp_path / "pickle.pth")
    with pytest.raises(ConfigError, match="pickle.pth: refused"):  # weights-only
        load_dinov2_state(tmp_path / "pickle.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match="bad.safetensors: not a readable safetensors"):
        _tiny(tmp_path / "bad.safetensors")
    with caplog.at_level(logging.WARNING):
        _tiny()
    assert "IMAGE TEACHER HAS RANDOM WEIGHTS" in caplog.text


def test_sizes_that_are_not_multiples_of_14_fail_naming_the_config_keys():
    teacher = _tiny()
    with pytest.raises(ConfigError, match=r"image 30 x 42: teacher dinov2_vits14 needs .*multiples "
                                          r"of its patch size 14 \(set by pairing.image_height / "
                                          r"pairing.image_width; e.g. 28 x 42\)"):
        teacher(torch.rand(1, 3, 30, 42))
    with pytest.raises(ConfigError, match=r"30 x 42 is not a multiple of the patch size 14"):
        build_dinov2_trunk("dinov2_vits14", (30, 42), **TINY)
    with pytest.raises(ConfigError, match=r"dinov2_vits14 needs image sizes that are multiples of "
                                          r"its patch size 14: pairing.image_width=43 \(use 56 or "
                                          r"42\)"):
        build_teacher(TeacherConfig(name="dinov2_vits14"), 8, image_size=(28, 43))


def test_config_load_checks_the_image_size_and_refuses_resnet_only_fields():
    from seal_train.engine.pretrain_config import PretrainConfig

    # The CPU default images (112 x 208) do not fit a ViT: the message names the key to change.
    with pytest.raises(ConfigError, match=r"teacher.name=dinov2_vits14 needs image sizes that are "
                                          r"multiples of its patch size 14: "
                                          r"pairing.image_width=208 \(use 210 or 196\)"):
        load_config(PretrainConfig, overrides=["teacher.name=dinov2_vits14"])
    cfg = load_config(PretrainConfig, overrides=["teacher.name=dinov2_vits14",
                                                 "pairing.image_width=210"])
    assert cfg.teacher.image_multiple == 14 and TeacherConfig().image_multiple == 1
    with pytest.raises(ConfigError, match=r"teacher.stage=4 applies to resnet50 only; "
                                          r"teacher.name=dinov2_vitb14 .*remove teacher.stage"):
        load_config(PretrainConfig, ROOT / "seal_train/configs/pretrain/slidr_nuscenes.yaml",
                    ["teacher.name=dinov2_vitb14", "pairing.image_width=420"])
    with pytest.raises(ConfigError, match="teacher.output_stride=8 applies to resnet50 only"):
        TeacherConfig(name="dinov2_vitl14", output_stride=8)
    superflow = load_config(PretrainConfig,
                            ROOT / "seal_train/configs/pretrain/superflow_nuscenes.yaml")
    assert superflow.teacher.name == "dinov2_vitb14"
    assert (superflow.pairing.image_height, superflow.pairing.image_width) == (224, 448)


def test_registry_names_and_architectures_match_the_config_and_timm():
    assert set(VIT_TEACHERS) == set(DINOV2_ARCHS) and set(TEACHERS) == {"resnet50", *DINOV2_ARCHS}
    for name, arch in DINOV2_ARCHS.items():
        trunk = build_dinov2_trunk(name, depth=1)  # timm's width and patch, one block
        assert (trunk.embed_dim, trunk.patch_embed.patch_size) == (arch.embed_dim, (14, 14))
        assert tuple(trunk.patch_embed.grid_size) == (37, 37)  # DINOv2's 518 x 518
    torch.manual_seed(0)
    teacher = build_teacher(TeacherConfig(name="dinov2_vits14"), feature_dim=8)
    assert isinstance(teacher, DinoV2Teacher) and len(teacher.trunk.blocks) == 12
    assert teacher.head.in_channels == 384 and teacher.head.out_channels == 8


def test_pretraining_runs_with_a_dinov2_teacher(cache, tmp_path):
    from seal_train.engine.pretrain import pretrain
    from seal_train.engine.pretrain_config import PretrainConfig

    cfg = load_config(PretrainConfig, overrides=[
        f"run_dir={tmp_path / 'run'}", f"data.cache_dir={cache}", "data.synthetic_scenes=1",
        "data.synthetic_frames=4", "data.workers=0", "model.width=0.25", "epochs=1",
        "batch_size=2", "max_steps_per_epoch=1", "optim.lr=0.05", "teacher.name=dinov2_vits14",
        "pairing.image_height=56", "pairing.image_width=98", "pairing.min_pairs_per_image=64"])
    result = pretrain(cfg)
    assert (result.epochs, result.steps) == (1, 1)
    assert torch.isfinite(torch.tensor(result.last_loss))
    model = torch.load(result.checkpoint, map_location="cpu", weights_only=True)["model"]
    assert model["teacher.head.weight"].shape == (64, 384, 1, 1)
    assert not any(k.startswith("teacher.trunk.") for k in model)  # the user's file, not a copy
    assert any(k.startswith("backbone.") for k in model)
