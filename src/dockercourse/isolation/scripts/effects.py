"""Run inside the demo container (``docker exec``): what its namespaces let it see, as JSON."""

import ctypes
import json
import random
import socket

with open("/proc/1/comm") as f:
    comm1 = f.read().strip()
with open("/proc/net/dev") as f:
    interfaces = sorted(line.split(":")[0].strip() for line in f.read().splitlines()[2:])
with open("/proc/1/mounts") as f:
    mounts = f.read().splitlines()
out = {"comm1": comm1, "hostname": socket.gethostname(), "interfaces": interfaces, "mounts": len(mounts),
       "root_fstype": next(m.split()[2] for m in mounts if m.split()[1] == "/")}
# a System V shared memory segment with a random key (what `ipcmk -M 4096` does)
libc = ctypes.CDLL(None, use_errno=True)
key = random.randint(1, 2**31 - 1)
if libc.shmget(key, 4096, 0o1000 | 0o600) < 0:  # IPC_CREAT | rw-------
    raise OSError(ctypes.get_errno(), "shmget")
out["shmkey"] = str(key)
with open("/proc/sysvipc/shm") as f:
    out["shm_here"] = any(line.split()[0] == str(key) for line in f.read().splitlines()[1:])
print(json.dumps(out))
