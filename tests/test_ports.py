"""A health answer counts as our gateway's only when its writer process descends from ours."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.ports import served_by


def test_served_by_follows_the_writer_s_parents() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    with subprocess.Popen(sleeper) as writer, subprocess.Popen(sleeper) as stranger:
        try:
            health = {"recorder": {"writer": {"pid": writer.pid}}}
            assert served_by(os.getpid(), health)  # our child: ours
            assert not served_by(stranger.pid, health)  # a process it does not descend from
            assert served_by(stranger.pid, {"recorder": {"writer": {"mode": "thread"}}})
        finally:
            writer.kill()
            stranger.kill()
