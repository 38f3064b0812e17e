"""Test-wide settings: DDS stays on loopback, torch uses the machine's 2 threads."""

from __future__ import annotations

import os

os.environ.setdefault(
    "CYCLONEDDS_URI",
    "<CycloneDDS><Domain id='any'><General><Interfaces><NetworkInterface name='lo'/></Interfaces>"
    "<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto"
    "</ParticipantIndex><MaxAutoParticipantIndex>50</MaxAutoParticipantIndex><Peers>"
    "<Peer address='127.0.0.1'/></Peers></Discovery></Domain></CycloneDDS>",
)
