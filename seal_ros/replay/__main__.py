"""``python -m seal_ros.replay``: see :mod:`seal_ros.replay.command`."""

import sys

from seal_ros.replay.command import main

sys.exit(main())
