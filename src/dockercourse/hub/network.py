"""The class server's network: one bridge on the host, one network namespace per session.

Every session gets a network namespace of its own, joined to the bridge :data:`BRIDGE` by a veth
pair whose bridge port is *isolated* (Linux bridge port isolation: isolated ports only talk to
the bridge itself, never to each other). The host's firewall then lets a session reach the hub's
API and nothing else on the host, forwards nothing from the bridge back to the bridge (no routing
between sessions through the host), nothing to the host's own published containers, and NATs
the rest to the outside. Each student's published ports live in their own namespace: two
students both publish 8000, and only the proxy (on the host) reaches either.

The address plan, the interface names and the firewall rules are pure (:func:`session_address`,
:func:`veth_names`, :func:`firewall_rules`); :func:`up` and :func:`down` apply them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess

BRIDGE = "dchub0"
SUBNET = ipaddress.ip_network("10.231.0.0/16")
GATEWAY = SUBNET.network_address + 1  # the host on the bridge: where the hub's API listens
HUB_API_PORT = 8081
#: The iptables chain every rule of the class server lives in (jumped to from INPUT, FORWARD and
#: DOCKER-USER when it exists; NAT in the ``nat`` table's POSTROUTING).
CHAIN = "DOCKERCOURSE-HUB"
CHAINS = (("filter", CHAIN + "-IN"), ("filter", CHAIN + "-FWD"), ("nat", CHAIN))


class NetworkError(RuntimeError):
    pass


def session_address(index: int) -> ipaddress.IPv4Address:
    """The address of member ``index``'s session (the host is .0.1; sessions from .0.2)."""
    addr = GATEWAY + 1 + index
    if addr not in SUBNET or addr == SUBNET.broadcast_address:
        raise NetworkError(f"member index {index} is outside {SUBNET}")
    return addr


def veth_names(index: int) -> tuple[str, str]:
    """(host side, session side before it is renamed eth0): 15 characters at most."""
    return f"dchv{index}", f"dchp{index}"


def firewall_rules(api_port: int = HUB_API_PORT) -> list[tuple[str, list[str]]]:
    """Pure: (table, rule) pairs, in order, the class server adds (``-A`` arguments without the
    ``-A``); :func:`down` removes them all."""
    b = BRIDGE
    return [
        # sessions -> the host: the hub's API only (and replies to what the host opened)
        ("filter", [CHAIN + "-IN", "-i", b, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]),
        ("filter", [CHAIN + "-IN", "-i", b, "-p", "tcp", "-d", str(GATEWAY), "--dport", str(api_port),
                    "-j", "ACCEPT"]),
        ("filter", [CHAIN + "-IN", "-i", b, "-j", "DROP"]),
        # sessions -> sessions through the host, and -> the host's published containers: never
        ("filter", [CHAIN + "-FWD", "-i", b, "-o", b, "-j", "DROP"]),
        ("filter", [CHAIN + "-FWD", "-i", b, "-m", "conntrack", "--ctstate", "DNAT", "-j", "DROP"]),
        ("filter", [CHAIN + "-FWD", "-o", b, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]),
        ("filter", [CHAIN + "-FWD", "-o", b, "-j", "DROP"]),
        ("filter", [CHAIN + "-FWD", "-i", b, "-j", "ACCEPT"]),  # to the outside
        ("nat", [CHAIN, "-s", str(SUBNET), "!", "-o", b, "-j", "MASQUERADE"]),
    ]


def _ipt(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetworkError(f"iptables {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _hooks() -> list[tuple[str, str, str]]:
    """(table, built-in chain, our chain) jumps; DOCKER-USER too when the host's Docker has it
    (Docker puts its own FORWARD rules above ours when it restarts, never above DOCKER-USER)."""
    hooks = [("filter", "INPUT", CHAIN + "-IN"), ("filter", "FORWARD", CHAIN + "-FWD"),
             ("nat", "POSTROUTING", CHAIN)]
    if _ipt("-t", "filter", "-n", "-L", "DOCKER-USER", check=False).returncode == 0:
        hooks.append(("filter", "DOCKER-USER", CHAIN + "-FWD"))
    return hooks


def up(api_port: int = HUB_API_PORT) -> None:
    """The bridge with the host's address, forwarding on, the firewall (idempotent)."""
    down()
    _ip("link", "add", BRIDGE, "type", "bridge")
    _no_ipv6(BRIDGE)  # the firewall is IPv4: no link-local IPv6 path from a session to the host
    _ip("addr", "add", f"{GATEWAY}/{SUBNET.prefixlen}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as fh:
        fh.write("1")
    for table, chain in CHAINS:
        _ipt("-t", table, "-N", chain)
    for table, rule in firewall_rules(api_port):
        _ipt("-t", table, "-A", *rule)
    for table, builtin, ours in _hooks():
        _ipt("-t", table, "-I", builtin, "1", "-j", ours)


def down() -> None:
    """Remove the bridge and every rule and chain of the class server (what a killed hub left too)."""
    for table, builtin, ours in _hooks():
        while _ipt("-t", table, "-D", builtin, "-j", ours, check=False).returncode == 0:
            pass
    for table, chain in CHAINS:
        _ipt("-t", table, "-F", chain, check=False)
        _ipt("-t", table, "-X", chain, check=False)
    with contextlib.suppress(NetworkError):
        _ip("link", "del", BRIDGE, check=False)


def _no_ipv6(conf: str) -> None:
    path = f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"
    with contextlib.suppress(OSError):  # a kernel without IPv6 has nothing to turn off
        with open(path, "w") as fh:
            fh.write("1")


def attach(index: int, pid: int) -> None:
    """Join the network namespace of process ``pid`` (a session) to the bridge: the veth pair,
    its host side an isolated bridge port, its other side moved into the namespace (the session
    names it ``eth0`` and sets its address: :func:`configure_inside`)."""
    host, peer = veth_names(index)
    _ip("link", "del", host, check=False)  # a session that died without its namespace going
    _ip("link", "add", host, "type", "veth", "peer", "name", peer)
    _no_ipv6(host)
    _ip("link", "set", host, "master", BRIDGE)
    subprocess.run(["bridge", "link", "set", "dev", host, "isolated", "on"], check=True, capture_output=True)
    _ip("link", "set", host, "up")
    _ip("link", "set", peer, "netns", str(pid))


def configure_inside(index: int) -> None:
    """In the session's namespace (root): ``lo`` up, the veth renamed ``eth0`` with the
    session's address, the default route through the host."""
    _, peer = veth_names(index)
    for conf in ("all", "default"):  # (this namespace's own sysctls)
        _no_ipv6(conf)
    _ip("link", "set", "lo", "up")
    _ip("link", "set", peer, "name", "eth0")
    _ip("addr", "add", f"{session_address(index)}/{SUBNET.prefixlen}", "dev", "eth0")
    _ip("link", "set", "eth0", "up")
    _ip("route", "add", "default", "via", str(GATEWAY))
