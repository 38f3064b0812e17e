"""Helpers of the multi-process node tests: a synthetic drive bag, a package, processes, RSS."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
PLAYER = Path(__file__).with_name("dds_player.py")


def node_helpers() -> ModuleType:
    """:mod:`support.node_helpers` (tiny packages, messages)."""
    import support.node_helpers

    return support.node_helpers


def write_drive_bag(out: Path, frames: int = 3, azimuth_steps: int = 512) -> Path:
    """A one-scene synthetic drive as an MCAP rosbag2 (labels.yaml beside it); the bag folder."""
    from seal_train.synth import SynthConfig, generate_scene
    from seal_train.synth.rosbag_writer import write_rosbag

    config = SynthConfig(scenes=1, frames=frames, image_width=96, image_height=54,
                         lidar_azimuth_steps=azimuth_steps)
    (bag,) = write_rosbag([generate_scene(config, 0)], out, storage="mcap")
    return bag


def read_clouds(bag: Path, topic: str = "/lidar_top/points") -> list:
    from rosbags.highlevel import AnyReader

    from seal_ros import interfaces

    with AnyReader([bag], default_typestore=interfaces.typestore()) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(conns)]


def offline_segmentation(h: ModuleType, state: dict, msg, threads: int = 1):
    """The expected ``~/output/segmentation`` message: engine on the same points, in this process.

    Written out step by step (not through the node's pipeline) so the node is checked against an
    independent reading of the same recipe: finite points -> cylindrical voxels -> kernel maps ->
    gather engine -> softmax, ignore 0 masked, argmax.
    """
    from seal_ros.core import codec, output_clouds
    from seal_ros.core.engines import GatherEngine
    from seal_ros.core.kernel_maps import build_kernel_maps
    from seal_ros.core.voxelize import VoxelGrid, voxelize

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # the node runs with threads=1: same kernels, same bits
    try:
        points = codec.decode(msg)
        xyz = codec.read_points(points, codec.XYZ)
        intensity = codec.read_points(points, ("intensity",))
        finite = np.isfinite(xyz).all(1) & np.isfinite(intensity).all(1)
        batch = voxelize(torch.from_numpy(xyz[finite]), torch.from_numpy(intensity[finite]),
                         torch.tensor([0, int(finite.sum())]), VoxelGrid.cylindrical())
        maps = build_kernel_maps(batch.coords, spatial_shape=batch.spatial_shape)
        logits = GatherEngine(state).infer(batch.features, batch.inverse, maps)
    finally:
        torch.set_num_threads(previous)
    probs = torch.softmax(logits, dim=1)
    probs[:, 0] = 0.0
    prob, cls = probs.max(dim=1)
    class_id = np.zeros(len(xyz), dtype=np.uint8)
    probability = np.zeros(len(xyz), dtype=np.float32)
    class_id[finite], probability[finite] = cls.numpy(), prob.numpy()
    cloud = output_clouds.encode_labelled(xyz, class_id, probability,
                                          stamp_ns=codec.stamp_to_ns(msg.header.stamp),
                                          frame_id=msg.header.frame_id)
    return h.to_message(cloud)


def test_domain(request, salt: int) -> int:
    """A DDS domain per test (1..230), spread by pid so concurrent runs on this host do not mix;
    ``salt`` keeps two test modules apart."""
    index = list(request.session.items).index(request.node) if request.session.items else 0
    return 1 + (os.getpid() * 13 + index * 3 + salt) % 230


def env(domain: int | None = None) -> dict[str, str]:
    """This process's environment (loopback-only, tests/conftest.py), on DDS domain ``domain``."""
    from seal_ros.adapters.loopback import loopback_env

    env = dict(os.environ) if domain is None else loopback_env(domain)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


class Process:
    """A child process whose stdout lines are collected by a thread (no blocking reads); with
    ``domain`` it runs on that DDS / ROS 2 domain (loopback only)."""

    def __init__(self, args: list[str], domain: int | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env=env(domain),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout, True),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr, False),
                         daemon=True).start()

    def _pump(self, stream, store: list[str], queue_it: bool) -> None:
        for line in stream:
            store.append(line)
            if queue_it:
                self.lines.put(line)

    def wait_for_line(self, text: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if text in line:
                return line
        raise AssertionError(f"no {text!r} from {self.proc.args} within {timeout_s} s; "
                             f"rc {self.proc.poll()}; stderr:\n{''.join(self.stderr)[-4000:]}")

    def rss_mb(self) -> float:
        """Resident set size from /proc (Linux)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        raise AssertionError("no VmRSS")

    def stop(self, sig: int, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.proc.args} did not stop within {timeout_s} s") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def node_args(package: Path, domain: int, *extra: str) -> list[str]:
    return ["-m", "seal_ros.node", "--model", str(package), "--engine", "gather",
            "--input", "/lidar_top/points", "--domain-id", str(domain), "--set", "threads=1",
            *extra]


def player_args(bag: Path, domain: int, *extra: str) -> list[str]:
    return [str(PLAYER), str(bag), "--domain", str(domain), *extra]
