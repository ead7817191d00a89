"""Run by a helper container started with ``--pid=host``: its ``/proc`` is then
the Docker host's. Prints every process as JSON (pid, ppid, comm, cmdline).
Standard library only: it runs with the base image's Python."""

import json
import os

out = []
for name in os.listdir("/proc"):
    if not name.isdigit():
        continue
    try:
        with open(f"/proc/{name}/stat") as f:
            text = f.read()
        with open(f"/proc/{name}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        continue
    o, c = text.index("("), text.rindex(")")
    rest = text[c + 2:].split()
    comm = text[o + 1:c]
    cmd = " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p) or f"[{comm}]"
    out.append({"pid": int(text[:o]), "ppid": int(rest[1]), "comm": comm, "cmdline": cmd})
print(json.dumps(out))
