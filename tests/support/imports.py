"""What importing some modules drags in, measured in a fresh interpreter (this one has loaded
everything already)."""

from __future__ import annotations

import json
import subprocess
import sys


def modules_loaded_by(*modules: str) -> set[str]:
    """Every module in ``sys.modules`` after a fresh ``python -c "import <modules>"``."""
    code = (f"import json, sys; import {', '.join(modules)}; "
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    """The distinct top-level packages of module names (``torch.nn`` -> ``torch``)."""
    return {name.partition(".")[0] for name in modules}
