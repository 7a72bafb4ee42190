"""CPU time and memory of a process and its descendants, read from /proc (Linux)."""
from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a bot run with WORKERS=2 forks its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime (all threads) summed over `pids`."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / _TICK


def memory_kb(pids: list[int]) -> dict[str, int]:
    """Summed VmRSS (now) and VmHWM (peak) in kB."""
    out = {"rss_kb": 0, "hwm_kb": 0}
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        out["rss_kb"] += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        out["hwm_kb"] += int(line.split()[1])
        except OSError:
            continue
    return out
