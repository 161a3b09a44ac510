"""An ephemeral TCP port for a server a test starts, so parallel workers never share one."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (free unless something takes it first)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def served_by(pid: int, health: object) -> bool:
    """Whether a gateway's ``/healthz`` answer came from process ``pid`` (or a worker of it).

    A free port can be taken by another test's server between :func:`free_port` and the bind;
    that server's health answer must not pass for ours. The answer names its writer process,
    whose parent (one worker) or grandparent (several workers) is the process we started.
    Without a writer process to go by, any answer counts.
    """
    writer = health.get("recorder", {}).get("writer", {}) if isinstance(health, dict) else {}
    current = writer.get("pid") if isinstance(writer, dict) else None
    if not isinstance(current, int):
        return True
    for _ in range(3):
        try:
            with open(f"/proc/{current}/stat", encoding="ascii") as stat:
                current = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if current == pid:
            return True
    return False
