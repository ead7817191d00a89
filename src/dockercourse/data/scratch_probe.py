"""What a process sees from inside the hand-made container of notebook 02 (dockercourse.scratch):
run there by the container's own python3, with only the standard library, and printed in French."""

import os
import socket

print("PID 1 :", open("/proc/1/comm").read().strip(), "| mon PID :", os.getpid())
print("nom d'hôte :", socket.gethostname())
interfaces = [ln.split(":")[0].strip() for ln in open("/proc/net/dev").read().splitlines()[2:]]
print("interfaces réseau :", ", ".join(interfaces))
osr = dict(ln.split("=", 1) for ln in open("/etc/os-release").read().splitlines() if "=" in ln)
print("système :", osr["PRETTY_NAME"].strip('"'))
print("processus visibles :", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
print("racine changée par :", os.environ.get("ROOT_SWITCH"), "| points de montage visibles :",
      ", ".join(ln.split()[1] for ln in open("/proc/self/mounts").read().splitlines()))
open("/root/bonjour.txt", "w").write("écrit dans le conteneur fait main")
