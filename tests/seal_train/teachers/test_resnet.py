"""ResNet-50 teacher: stride-4 dilation, frozen trunk, weights from torchvision and MoCo files."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet50

from seal_ros.errors import ConfigError
from seal_train.teachers import build_resnet50_teacher


@pytest.fixture(scope="module")
def reference_state():
    torch.manual_seed(0)
    return resnet50(weights=None).state_dict()


def test_output_is_unit_norm_full_resolution_and_only_head_trains():
    teacher = build_resnet50_teacher(output_stride=4).train()
    images = torch.rand(1, 3, 64, 96)
    out = teacher(images)
    assert out.shape == (1, 64, 64, 96)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(1, 64, 96))
    trainable = {n for n, p in teacher.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
    assert not teacher.trunk.training  # BatchNorm stays frozen in train mode
    assert teacher.trunk(images).shape[-2:] == (16, 24)  # output stride 4


@pytest.mark.parametrize("wrap", ["torchvision", "moco"])
def test_loads_torchvision_and_moco_checkpoints(tmp_path, reference_state, wrap):
    if wrap == "moco":
        payload = {"state_dict": {f"module.encoder_q.{k}": v for k, v in reference_state.items()},
                   "epoch": 800}
    else:
        payload = reference_state
    path = tmp_path / f"{wrap}.pth"
    torch.save(payload, path)
    teacher = build_resnet50_teacher(path, output_stride=32)
    torch.testing.assert_close(teacher.trunk[0].weight, reference_state["conv1.weight"])
    torch.testing.assert_close(teacher.trunk[7][2].bn3.running_var,
                               reference_state["layer4.2.bn3.running_var"])


def test_earlier_stage_keeps_its_layers_and_loads_their_weights(tmp_path, reference_state):
    path = tmp_path / "torchvision.pth"
    torch.save(reference_state, path)
    teacher = build_resnet50_teacher(path, output_stride=4, stage=2).train()
    assert len(teacher.trunk) == 6  # conv1, bn1, relu, maxpool, layer1, layer2
    assert teacher.head.in_channels == 512
    torch.testing.assert_close(teacher.trunk[5][3].bn3.running_mean,
                               reference_state["layer2.3.bn3.running_mean"])
    images = torch.rand(1, 3, 64, 96)
    assert teacher.trunk(images).shape[-3:] == (512, 16, 24)  # layer2 dilated: stride 4
    assert teacher(images).shape == (1, 64, 64, 96)
    with pytest.raises(ConfigError, match="stage 5"):
        build_resnet50_teacher(stage=5)


def test_bad_weights_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="none.pth: no such teacher weights file"):
        build_resnet50_teacher(tmp_path / "none.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, wrong)
    with pytest.raises(ConfigError, match="not a ResNet-50"):
        build_resnet50_teacher(wrong)
    partial = tmp_path / "partial.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, partial)
    with pytest.raises(ConfigError, match="missing keys"):
        build_resnet50_teacher(partial)
    with pytest.raises(ConfigError, match="output_stride 5"):
        build_resnet50_teacher(output_stride=5)
