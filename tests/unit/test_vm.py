"""dockercourse.vm: a real QEMU boot (TCG here, cached artefacts), and the pure helpers."""
from __future__ import annotations

import gzip
import lzma
from pathlib import Path

from dockercourse import vm


def _read_newc(blob: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    """A minimal newc reader, independent of the writer, to check its output."""
    out, pos = [], 0
    while True:
        assert blob[pos:pos + 6] == b"070701", f"bad magic at {pos}"
        fields = [int(blob[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, filesize, rmaj, rmin, namesize = fields[1], fields[6], fields[9], fields[10], fields[11]
        name_start = pos + 110
        name = blob[name_start:name_start + namesize - 1].decode()
        assert blob[name_start + namesize - 1] == 0
        data_start = (name_start + namesize + 3) & ~3
        data = blob[data_start:data_start + filesize]
        pos = (data_start + filesize + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out.append((name, mode, data, (rmaj, rmin)))


def test_cpio_newc_roundtrip():
    entries = [(".", 0o40755, b"", (0, 0)), ("init", 0o100755, b"#!/bin/sh\necho hi\n", (0, 0)),
               ("dev/console", 0o20600, b"", (5, 1)), ("a", 0o100644, b"x" * 5, (0, 0))]
    assert _read_newc(vm.cpio_newc(entries)) == entries


def test_build_initramfs(tmp_path):
    fake_busybox = tmp_path / "busybox"
    fake_busybox.write_bytes(b"\x7fELF not really")
    dest = vm.build_initramfs(fake_busybox, tmp_path / "initramfs.cpio.gz")
    entries = {name: (mode, data, rdev) for name, mode, data, rdev in _read_newc(gzip.decompress(dest.read_bytes()))}
    assert entries["init"][0] == 0o100755 and entries["init"][1].startswith(b"#!/bin/busybox sh")
    init = entries["init"][1]
    assert all(m.encode() in init for m in (vm.READY_MARKER, vm.UNAME_MARKER, vm.MEM_MARKER)), init
    assert b"poweroff -f" in init and b"@" not in init
    assert entries["bin/busybox"][1] == b"\x7fELF not really"
    assert entries["dev/console"][0] == 0o20600 and entries["dev/console"][2] == (5, 1)


def test_extract_vmlinux_skips_false_magic():
    elf = b"\x7fELF" + bytes(range(256)) * 50
    bz = b"MZ header" + vm.XZ_MAGIC + b"garbage" + b"\0" * 100 + lzma.compress(elf, format=lzma.FORMAT_XZ) + b"tail"
    assert vm.extract_vmlinux(bz) == elf
    assert vm.extract_vmlinux(b"no kernel here") is None


def test_parse_console_with_firmware_noise():
    lines = ["\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)",
             "Booting from ROM..DOCKERCOURSE_VM_READY uptime=1.85",
             "DOCKERCOURSE_VM_UNAME=6.1.0-56-amd64",
             "DOCKERCOURSE_VM_MEM total_kb=210756 available_kb=185680", "[    1.908984] reboot: Power down"]
    info = vm.parse_console(lines)
    assert info == {"uptime": 1.85, "uname": "6.1.0-56-amd64", "mem_total_kib": 210756,
                    "mem_available_kib": 185680}
    assert vm.clean_console(lines)[0] == "SeaBIOS (version 1.16.2-debian-1.16.2-1)"
    assert vm.parse_console(["nothing"])["uname"] is None


def test_kvm_choice_matches_this_machine():
    accel, why = vm.choose_accel()
    assert accel in ("tcg", "kvm") and why
    if Path("/sys/module/kvm_pvm").exists() or not Path("/dev/kvm").exists():
        assert accel == "tcg", "a stock kernel cannot boot under kvm_pvm or without /dev/kvm"
        assert vm.kvm_static_check()
