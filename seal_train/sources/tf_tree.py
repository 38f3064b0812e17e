"""A TF tree read from a bag's ``/tf`` and ``/tf_static``, with time interpolation.

Each frame has at most one parent (the TF rule). Static edges hold at every time; dynamic edges are
sampled time series, interpolated linearly in translation and by slerp in rotation between the two
samples around the asked stamp. A stamp outside an edge's samples is an error, never extrapolated.

Quaternions are in ROS order ``(x, y, z, w)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seal_train.errors import BagError
from seal_train.sources.geometry import invert_rigid, make_transform, slerp


class TfError(BagError):
    """A TF lookup failed; ``reason`` is ``tf_missing_link`` or ``tf_out_of_range``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# -------------------------------------------------------------------------------------- tree --

@dataclass
class _Series:
    """Samples of one dynamic edge (parent -> child); sorted lazily by :meth:`TfTree._edge`."""

    parent: str
    stamps: list[int] = field(default_factory=list)
    translations: list[np.ndarray] = field(default_factory=list)
    quats: list[np.ndarray] = field(default_factory=list)


def _clean(frame: str) -> str:
    return frame.lstrip("/")  # ROS 1 frames may carry a leading slash


class TfTree:
    """Static and dynamic transforms of one bag; :meth:`lookup` composes them at a stamp.

    Args:
        where: name used in error messages (the bag path).
    """

    def __init__(self, where: str = "tf") -> None:
        self.where = where
        self._static: dict[str, tuple[str, np.ndarray]] = {}  # child -> (parent, T_parent_child)
        self._dynamic: dict[str, _Series] = {}  # child -> samples
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _parent_check(self, parent: str, child: str) -> None:
        known = self._static.get(child, (None,))[0] or getattr(self._dynamic.get(child), "parent",
                                                                None)
        if known is not None and known != parent:
            raise BagError(f"{self.where}: frame {child!r} has two parents in TF, {known!r} and "
                           f"{parent!r}; a TF tree allows one")
        if parent == child:
            raise BagError(f"{self.where}: TF transform from {parent!r} to itself")

    def add(self, parent: str, child: str, stamp_ns: int, translation: np.ndarray,
            quat: np.ndarray, static: bool = False) -> None:
        """Add one transform ``T_parent_child`` (from ``/tf_static`` when ``static``)."""
        parent, child = _clean(parent), _clean(child)
        self._parent_check(parent, child)
        translation = np.asarray(translation, dtype=np.float64)
        quat = np.asarray(quat, dtype=np.float64)
        if not (np.all(np.isfinite(translation)) and np.all(np.isfinite(quat))
                and np.linalg.norm(quat) > 1e-9):
            raise BagError(f"{self.where}: TF {parent!r} -> {child!r} at {stamp_ns} ns is not "
                           f"finite or has a zero quaternion")
        if static:
            self._static[child] = (parent, make_transform(translation, quat))
            return
        if child in self._static:
            raise BagError(f"{self.where}: frame {child!r} is in both /tf_static and /tf")
        series = self._dynamic.setdefault(child, _Series(parent))
        series.stamps.append(int(stamp_ns))
        series.translations.append(translation)
        series.quats.append(quat / np.linalg.norm(quat))
        self._arrays.pop(child, None)

    def add_message(self, msg: object, static: bool) -> None:
        """Add every ``geometry_msgs/TransformStamped`` of a ``tf2_msgs/TFMessage``."""
        from seal_ros.core.codec import stamp_to_ns

        for tf in msg.transforms:  # type: ignore[attr-defined]
            t, r = tf.transform.translation, tf.transform.rotation
            self.add(tf.header.frame_id, tf.child_frame_id, stamp_to_ns(tf.header.stamp),
                     np.array([t.x, t.y, t.z]), np.array([r.x, r.y, r.z, r.w]), static=static)

    # ---------------------------------------------------------------------------- queries --

    @property
    def frames(self) -> set[str]:
        """Every frame named in the tree."""
        names = set(self._static) | set(self._dynamic)
        names |= {parent for parent, _ in self._static.values()}
        names |= {series.parent for series in self._dynamic.values()}
        return names

    def parent(self, frame: str) -> str | None:
        if frame in self._static:
            return self._static[frame][0]
        series = self._dynamic.get(frame)
        return series.parent if series is not None else None

    def is_static(self, child: str) -> bool:
        return child in self._static

    def _chain(self, frame: str) -> list[str]:
        """``[frame, parent, grandparent, ..., root]``."""
        chain = [frame]
        while (up := self.parent(chain[-1])) is not None:
            if up in chain:
                raise BagError(f"{self.where}: TF has a cycle through {chain + [up]}")
            chain.append(up)
        return chain

    def root(self, frame: str) -> str:
        """Root of the tree ``frame`` belongs to."""
        self._require(frame)
        return self._chain(_clean(frame))[-1]

    def dynamic_range(self, child: str) -> tuple[int, int] | None:
        """First and last stamp of the dynamic edge above ``child`` (None if static or root)."""
        series = self._dynamic.get(child)
        return (min(series.stamps), max(series.stamps)) if series else None

    def _require(self, frame: str) -> None:
        if _clean(frame) not in self.frames:
            raise TfError("tf_missing_link", f"{self.where}: frame {frame!r} is in no /tf or "
                          f"/tf_static message; frames are {sorted(self.frames)}")

    def _edge(self, child: str, stamp_ns: int) -> np.ndarray:
        """``T_parent_child`` at ``stamp_ns``."""
        if child in self._static:
            return self._static[child][1]
        series = self._dynamic[child]
        if child not in self._arrays:
            stamps = np.asarray(series.stamps, dtype=np.int64)
            order = np.argsort(stamps, kind="stable")
            stamps = stamps[order]
            keep = np.append(stamps[1:] != stamps[:-1], True)  # a repeated stamp: last one wins
            self._arrays[child] = (stamps[keep], np.asarray(series.translations)[order][keep],
                                   np.asarray(series.quats)[order][keep])
        stamps, translations, quats = self._arrays[child]
        if stamp_ns < stamps[0] or stamp_ns > stamps[-1]:
            raise TfError("tf_out_of_range", f"{self.where}: TF {series.parent!r} -> {child!r} "
                          f"is known from {stamps[0]} to {stamps[-1]} ns ({len(stamps)} samples); "
                          f"stamp {stamp_ns} ns is outside (no extrapolation)")
        i = int(np.searchsorted(stamps, stamp_ns, side="left"))
        if stamps[i] == stamp_ns:
            return make_transform(translations[i], quats[i])
        t0, t1 = int(stamps[i - 1]), int(stamps[i])
        alpha = (stamp_ns - t0) / (t1 - t0)
        translation = translations[i - 1] + alpha * (translations[i] - translations[i - 1])
        return make_transform(translation, slerp(quats[i - 1], quats[i], alpha))

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """(4, 4) ``T_target_source`` at ``stamp_ns`` (maps ``source`` coordinates to ``target``).

        Raises:
            TfError: a frame is unknown, the two frames are in different trees (message names
                both and their roots), or a dynamic edge on the path has no samples around the
                stamp.
        """
        target, source = _clean(target), _clean(source)
        self._require(target)
        self._require(source)
        up_source, up_target = self._chain(source), self._chain(target)
        common = next((f for f in up_source if f in set(up_target)), None)
        if common is None:
            raise TfError("tf_missing_link", f"{self.where}: no TF link between {target!r} and "
                          f"{source!r}: {target!r} is under root {up_target[-1]!r}, {source!r} "
                          f"under root {up_source[-1]!r}")
        T_common_source = np.eye(4)
        for child in up_source[:up_source.index(common)]:
            T_common_source = self._edge(child, stamp_ns) @ T_common_source
        T_common_target = np.eye(4)
        for child in up_target[:up_target.index(common)]:
            T_common_target = self._edge(child, stamp_ns) @ T_common_target
        return invert_rigid(T_common_target) @ T_common_source


__all__ = ["TfError", "TfTree"]
