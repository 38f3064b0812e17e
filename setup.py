"""Installs the ROS 2 package ``seal_ros`` (ament_python) and, for pip users, ``seal_train``.

The default install is the vehicle runtime only; ``[train]`` adds the offline tools' dependencies,
``[dds]`` the ROS-free DDS transport, ``[ros]`` ROS 2 Kilted's rclpy and the rosidl toolchain
from PyPI (a fallback where no ROS 2 install is sourced; ``msg/build_interfaces.sh`` then builds
``seal_msgs`` with it), ``[tensorrt]`` TensorRT for RTX (ONNX parser and ahead-of-time engine
builds; classic TensorRT comes from NVIDIA's own packages), ``[test]`` the test runner and the
checks CI runs (ruff, mypy). spconv is not listed: its CPU and CUDA builds install the same module
under different names, so ``install.sh`` picks one.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "seal_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Segment any automotive LiDAR point cloud: VFM-distilled sparse backbones, "
                "trained offline and run on vehicles as a ROS 2 node.",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["seal_ros", "seal_ros.*", "seal_train", "seal_train.*"]),
    package_data={"seal_train": ["configs/*.yaml", "configs/*/*.yaml"],
                  "seal_ros": ["label_maps/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.json")),
        (f"share/{PACKAGE}/config/rviz", glob("config/rviz/*.rviz")),
        ("share/seal_msgs/msg", glob("msg/msg/*.msg")),
    ],
    install_requires=[  # the vehicle: the node with its default engine, and replay
        "numpy>=1.24",
        "onnxruntime>=1.18",
        "pyyaml>=6",
        "rosbags>=0.11",
        "torch>=2.1",
        "tqdm>=4.66",
    ],
    extras_require={
        "dds": ["cyclonedds==11.0.1"],
        "ros": [
            "ros-kilted-rclpy[fastrtps]==9.1.2",
            "ros-kilted-std-msgs",
            "ros-kilted-sensor-msgs",
            "ros-kilted-geometry-msgs",
            "ros-kilted-diagnostic-msgs",
            "ros-kilted-visualization-msgs",
            # msg/build_interfaces.sh builds seal_msgs (and tf2_msgs) with these:
            "ros-kilted-rosidl-default-generators",
            "ros-kilted-rosidl-core-generators",
            "ros-kilted-ament-cmake",
            "ros-kilted-ament-cmake-include-directories",
            "ros-kilted-ament-cmake-ros-core",
            "ros-kilted-ament-package",
            "catkin-pkg",
        ],
        "tensorrt": ["tensorrt-rtx-cu12==1.7.1.116"],
        "train": [
            "numpy>=1.24,<2",  # nuscenes-devkit 1.2 pins numpy<2
            "torchvision",
            "nuscenes-devkit==1.2.0",
            "scikit-image>=0.22",
            "scikit-learn>=1.4",
            "scipy>=1.11",
            "opencv-python-headless>=4.8",
            "matplotlib>=3.7",
            "pillow>=10",
            "tqdm>=4.66",
            "tensorboard>=2.15",
            "segment-anything==1.0",
            "timm==1.0.31",  # DINOv2 ViT teachers (architecture only; weights are user files)
            "onnx>=1.16",
            "onnxscript>=0.1",
            "onnxruntime>=1.18",
            "viser==1.1.1",  # `view`: the interactive viewer (serves its bundled client locally)
        ],
        "test": ["pytest>=8", "pytest-timeout>=2.3", "jsonschema>=4", "ruff==0.17.6", "mypy==2.4.1",
                 "types-PyYAML", "hypothesis==6.170.27",
                 "playwright==1.65.3"],  # playwright drives Debian's chromium
    },
    entry_points={
        "console_scripts": [
            "seal-train = seal_train.__main__:main",
            "seal_segmentation = seal_ros.adapters.rclpy_node:main",  # ros2 run seal_ros ...
        ],
    },
    zip_safe=False,
)
