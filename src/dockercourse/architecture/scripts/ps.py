"""A tiny ``ps`` for images without procps: every process of the container's
PID namespace, read from ``/proc`` (pid, uid, command line). Standard library only."""

import os

print(f"{'PID':>5} {'UID':>6}  COMMANDE")
for name in sorted((n for n in os.listdir("/proc") if n.isdigit()), key=int):
    try:
        with open(f"/proc/{name}/cmdline", "rb") as f:
            cmd = " ".join(p.decode(errors="replace") for p in f.read().split(b"\0") if p)
        with open(f"/proc/{name}/status") as f:
            uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
    except (OSError, StopIteration):
        continue
    if cmd and "ps.py" not in cmd:
        print(f"{name:>5} {uid:>6}  {cmd}")
