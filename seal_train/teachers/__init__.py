"""Frozen image teachers: images -> per-pixel unit-norm features for distillation."""

from seal_train.teachers.resnet import ResNetTeacher, build_resnet50_teacher, load_resnet50_state

TEACHERS = {"resnet50": build_resnet50_teacher}
"""Config ``teacher.name`` -> builder."""

__all__ = ["TEACHERS", "ResNetTeacher", "build_resnet50_teacher", "load_resnet50_state"]
