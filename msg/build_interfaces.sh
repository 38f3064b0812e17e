#!/usr/bin/env bash
# Builds the ROS 2 interface packages with the rosidl toolchain of the ROS 2 PyPI wheels (the
# `[ros]` extra) and installs them into PREFIX (default: the repository's .venv), where the wheels
# keep their own: PREFIX/lib (found through the LD_LIBRARY_PATH that the wheels' bootstrapper gives
# every run of PREFIX/bin/python), PREFIX/lib/pythonX.Y/site-packages, PREFIX/share/ament_index.
#
#   seal_msgs  from msg/           always
#   tf2_msgs   from msg/tf2_msgs/  TFMessage only, and only where no real tf2_msgs is importable
#                                  (e.g. from a sourced /opt/ros/...)
#
# Usage: bash msg/build_interfaces.sh [PREFIX]      env: PYTHON (interpreter), JOBS (make jobs)
# Quiet; prints one line at the end; on a failure prints the log tail. A package whose installed
# files are up to date with its sources is not rebuilt. Where a ROS 2 install is sourced, build
# seal_msgs with colcon instead (README); this script is the fallback for the PyPI wheels.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
START=$SECONDS

die() { echo "build_interfaces: $*" >&2; exit 1; }

if [[ -n ${1:-} ]]; then
  PREFIX=$1
  mkdir -p "$PREFIX"
else
  PREFIX=$REPO/.venv
  [[ -d $PREFIX ]] || die "no $PREFIX: run install.sh (with the [ros] extra) first"
fi
PREFIX=$(cd "$PREFIX" && pwd -P)
BUILD_ROOT=$REPO/build/interfaces  # build/ is gitignored

if [[ -z ${PYTHON:-} ]]; then
  for candidate in "$PREFIX/bin/python" "$REPO/.venv/bin/python" "$(command -v python3 || true)"; do
    if [[ -n $candidate && -x $candidate ]]; then PYTHON=$candidate; break; fi
  done
fi
[[ -n ${PYTHON:-} ]] || die "no Python interpreter found (set PYTHON)"
command -v cmake >/dev/null || die "cmake not found (apt-get install cmake g++)"

# The toolchain's prefix: the interpreter's (the wheels install ROS into the venv), then whatever
# ROS prefixes are sourced.
ROS_PREFIX=$("$PYTHON" -c 'import sys; print(sys.prefix)')
SEARCH="$PREFIX:$ROS_PREFIX${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
found=""
IFS=: read -r -a search_dirs <<<"$SEARCH"
for d in "${search_dirs[@]}"; do
  if [[ -f $d/share/rosidl_default_generators/cmake/rosidl_default_generatorsConfig.cmake ]]; then
    found=$d; break
  fi
done
[[ -n $found ]] || die "rosidl_default_generators not found in $SEARCH: pip install -e '.[ros]'"
missing=$("$PYTHON" - <<'EOF'
import importlib.util
mods = {"ament_package": "ros-kilted-ament-package", "catkin_pkg": "catkin-pkg", "em": "empy",
        "lark": "lark", "numpy": "numpy"}
print(" ".join(pip for mod, pip in mods.items() if importlib.util.find_spec(mod) is None))
EOF
)
[[ -z $missing ]] ||
  die "$PYTHON lacks Python packages the rosidl toolchain needs: pip install $missing"

CMAKE_PREFIXES="${SEARCH//:/;}${CMAKE_PREFIX_PATH:+;${CMAKE_PREFIX_PATH//:/;}}"
export AMENT_PREFIX_PATH=$SEARCH  # ament_index_get_resources (typesupport discovery) reads it
PYVERSION=$("$PYTHON" -c 'import sys; print(sys.version)')

mkdir -p "$BUILD_ROOT"
exec 9>"$BUILD_ROOT/.lock"
flock 9 2>/dev/null || true  # one build at a time (parallel test sessions)

# The wheels were built on manylinux: their exported *__rosidl_generator_py targets name that
# machine's Python and NumPy include dirs (/opt/python/cp3XX-cp3XX/...), which CMake rejects at
# generate time ("includes non-existent path"). Swap them for this interpreter's, after
# rosidl_generate_interfaces has imported the targets (a deferred call at the end of the project).
HOOK=$BUILD_ROOT/wheel_target_fixes.cmake
HOOK_TEXT=$(cat <<'EOF'
# Written by msg/build_interfaces.sh; see there.
function(_seal_fix_wheel_include_dirs)
  set(_py "")
  foreach(_t Python3::Module Python3::NumPy)
    if(TARGET ${_t})
      get_target_property(_d ${_t} INTERFACE_INCLUDE_DIRECTORIES)
      if(_d)
        list(APPEND _py ${_d})
      endif()
    endif()
  endforeach()
  get_directory_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  foreach(_t IN LISTS _targets)
    get_target_property(_dirs ${_t} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_new "")
    set(_changed FALSE)
    foreach(_d IN LISTS _dirs)
      if(_d MATCHES "^\\$<" OR EXISTS "${_d}")
        list(APPEND _new "${_d}")
      else()
        set(_changed TRUE)
        if(_d MATCHES "python3|numpy")
          list(APPEND _new ${_py})
        endif()
      endif()
    endforeach()
    if(_changed)
      list(REMOVE_DUPLICATES _new)
      set_target_properties(${_t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new}")
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _seal_fix_wheel_include_dirs)
EOF
)
if [[ ! -f $HOOK || "$(cat "$HOOK")" != "$HOOK_TEXT" ]]; then
  printf '%s\n' "$HOOK_TEXT" >"$HOOK"
fi

# What an installed package was built from: its sources, this script, the prefix, the interpreter
# and the toolchain's version.
fingerprint() {  # src_dir
  {
    cat "$1/CMakeLists.txt" "$1/package.xml"
    for f in "$1"/msg/*.msg; do echo "== ${f##*/}"; cat "$f"; done
    cat "${BASH_SOURCE[0]}"
    echo "$PREFIX $PYTHON"
    echo "$PYVERSION"
    cat "$found/share/rosidl_default_generators/package.xml" 2>/dev/null || true
  } | sha256sum | cut -d' ' -f1
}

# Up to date: the stamp (fingerprint, then the install manifest) matches and every file is there.
up_to_date() {  # stamp fingerprint
  [[ -f $1 ]] || return 1
  [[ "$(head -n 1 "$1")" == "$2" ]] || return 1
  local f
  while IFS= read -r f; do [[ -e $f ]] || return 1; done < <(tail -n +2 "$1")
}

run_logged() {  # log cmd...
  local log=$1; shift
  if ! "$@" >>"$log" 2>&1; then
    echo "build_interfaces: failed: $*" >&2
    echo "---- last lines of $log ----" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

build() {  # name src_dir
  local name=$1 src=$2 bdir=$BUILD_ROOT/$1 log=$BUILD_ROOT/$1.log
  local stamp=$PREFIX/share/$name/seal_build_interfaces.stamp fp
  fp=$(fingerprint "$src")
  if up_to_date "$stamp" "$fp"; then
    report+=("$name up to date")
    return
  fi
  # A build dir configured for another prefix or source dir starts over.
  if [[ -f $bdir/CMakeCache.txt ]] &&
     ! grep -qxF "CMAKE_INSTALL_PREFIX:PATH=$PREFIX" "$bdir/CMakeCache.txt"; then
    rm -rf "$bdir"
  fi
  : >"$log"
  run_logged "$log" cmake -S "$src" -B "$bdir" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_PREFIX_PATH="$CMAKE_PREFIXES" \
    -DPython3_EXECUTABLE="$PYTHON" \
    -DCMAKE_PROJECT_INCLUDE="$HOOK" \
    -DCMAKE_INSTALL_RPATH="$PREFIX/lib" \
    -DCMAKE_INSTALL_RPATH_USE_LINK_PATH=ON \
    -DBUILD_TESTING=OFF
  run_logged "$log" cmake --build "$bdir" -j "${JOBS:-$(nproc 2>/dev/null || echo 2)}"
  run_logged "$log" cmake --install "$bdir"
  { echo "$fp"; cat "$bdir/install_manifest.txt"; echo; } >"$stamp"
  report+=("$name built")
}

# A tf2_msgs that is not a mirror built here (e.g. a sourced ROS install's) wins: skip ours.
real_tf2() {
  "$PYTHON" - <<'EOF'
import importlib.util, os
try:
    spec = importlib.util.find_spec("tf2_msgs")
except Exception:
    spec = None
for loc in (spec.submodule_search_locations or []) if spec else []:
    if not os.path.isfile(os.path.join(loc, "msg", "_tf_message.py")):
        continue  # not a built tf2_msgs (e.g. leftovers of one)
    # <prefix>/lib/pythonX.Y/site-packages/tf2_msgs: ours where <prefix> has our stamp
    prefix = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.realpath(loc)))))
    if not os.path.isfile(os.path.join(prefix, "share", "tf2_msgs",
                                       "seal_build_interfaces.stamp")):
        print(loc)
        break
EOF
}

report=()
build seal_msgs "$HERE"
other_tf2=$(real_tf2)
if [[ -n $other_tf2 ]]; then
  report+=("tf2_msgs skipped (ROS's is at $other_tf2)")
else
  build tf2_msgs "$HERE/tf2_msgs"
fi

# Where something was built into the interpreter's own prefix, it must import.
if [[ " ${report[*]} " == *" built"* && $PREFIX == "$(cd "$ROS_PREFIX" && pwd -P)" ]]; then
  check="from seal_msgs.msg import SegmentationInfo as T; T.__class__.__import_type_support__()"
  [[ -n $other_tf2 ]] ||
    check+="; from tf2_msgs.msg import TFMessage as M; M.__class__.__import_type_support__()"
  "$PYTHON" -c "$check" 2>"$BUILD_ROOT/import_check.log" ||
    die "installed, but this fails: $check: $(tail -n 3 "$BUILD_ROOT/import_check.log")"
fi

summary=$(printf '%s, ' "${report[@]}")
echo "build_interfaces: ${summary%, } -> $PREFIX ($((SECONDS - START)) s)"
