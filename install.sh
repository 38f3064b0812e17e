#!/usr/bin/env bash
# Creates .venv/ at the repository root with everything Seal needs (training, runtime, tests, and
# ROS 2 Kilted's rclpy + TensorRT for RTX from PyPI, where no ROS 2 / TensorRT install is used).
#   bash install.sh              CPU (default): torch 2.14.1 + spconv CPU build
#   SEAL_CUDA=cu126 bash install.sh   CUDA machine: CUDA torch + spconv-cu126 / cumm-cu126
# Re-running is safe: it reuses the venv and only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.14.1}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-0.29.1}
SEAL_CUDA=${SEAL_CUDA:-}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q -U pip
# torch first and pinned, so no other package's range pulls a different (multi-GB) build.
"${PIP[@]}" install -q "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"
case "$SEAL_CUDA" in
  "")    SPCONV=(spconv==2.3.8) ;;
  cu126) SPCONV=(spconv-cu126==2.3.8 "cumm-cu126>=0.7.11,<0.8") ;;
  *)     echo "install.sh: SEAL_CUDA=$SEAL_CUDA is not supported (use cu126 or leave empty)" >&2
         exit 2 ;;
esac
"${PIP[@]}" install -q "${SPCONV[@]}" -e ".[train,dds,ros,tensorrt,test]"
# Debian's Chromium for the viewer's browser test (playwright drives it; no browser download).
if [ ! -x /usr/bin/chromium ] && [ -z "${SEAL_NO_BROWSER:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends chromium >/dev/null; } \
      || echo "install.sh: could not install Debian's chromium; the viewer test will skip" >&2
  else
    echo "install.sh: no /usr/bin/chromium (apt-get install chromium as root); the viewer test will skip" >&2
  fi
fi
# seal_msgs (and tf2_msgs, which the ROS 2 wheels lack) built with the wheels' rosidl toolchain.
bash msg/build_interfaces.sh .venv
.venv/bin/python -c "import seal_ros, seal_train, spconv.pytorch, torch, rclpy, seal_msgs.msg; \
from seal_ros.core.engines import import_tensorrt; trt = import_tensorrt(); \
print(f'seal installed in .venv: torch {torch.__version__}, cuda available: {torch.cuda.is_available()}, '\
      f'rclpy (ROS 2 Kilted), {trt.__name__} {trt.__version__}')"
