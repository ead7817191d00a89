"""Container start vs VM boot, side by side (notebook 01's numbers, with more runs).

    DOCKERCOURSE_STATE=.state .venv/bin/python benchmarks/startup.py [--containers 10] [--vms 3]
        [--bzimage] [--save-reference]

Container: ``docker run --rm -i`` from the course base image, launch → marker
printed, cgroup memory read while it waits. VM: QEMU with Debian's kernel and a
busybox initramfs (see ``dockercourse.vm``), launch → the guest's ``/init``
prints its marker; qemu's RSS. ``--bzimage`` also boots the compressed kernel
(slower: the guest decompresses itself under emulation). ``--save-reference``
rewrites ``src/dockercourse/data/vm_reference.csv`` with the VM runs made here.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys

from _table import print_table

from dockercourse import engine, measure, vm


def row(label: str, times: list[float], mem_mib: list[float], extra: str = "") -> list[str]:
    return [label, str(len(times)), f"{statistics.median(times):.3f}", f"{min(times):.3f}", f"{max(times):.3f}",
            f"{statistics.median(mem_mib):.1f}" if mem_mib else "-", extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=10, help="container runs (default 10)")
    parser.add_argument("--vms", type=int, default=3, help="VM boots (default 3)")
    parser.add_argument("--bzimage", action="store_true", help="also boot the compressed kernel (vmlinuz)")
    parser.add_argument("--save-reference", action="store_true", help="rewrite data/vm_reference.csv")
    args = parser.parse_args(argv)

    try:
        ctr = measure._container_startups(n=args.containers, unit="bench")
    except engine.DockerUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    art = vm.ensure_artifacts(log=lambda m: print(m, file=sys.stderr))
    accel, why = vm.choose_accel()
    boots = [vm.boot(accel=accel, artifacts=art) for _ in range(args.vms)]
    boots_z = []
    if args.bzimage:
        art_z = vm.ensure_artifacts(fast_kernel=False)
        boots_z = [vm.boot(accel=accel, artifacts=art_z) for _ in range(args.vms)]

    rows = [row("container: docker run --rm (python:3.13-slim)", list(ctr[measure.COL_READY]),
                list(ctr[measure.COL_MEM].dropna()),
                f"cgroup peak {ctr[measure.COL_PEAK].max():.1f} MiB; kernel {ctr[measure.COL_KERNEL].iloc[0]}")]
    for label, bs in ((f"VM: qemu {accel}, {art.kernel_kind}", boots), (f"VM: qemu {accel}, vmlinuz", boots_z)):
        if bs:
            rows.append(row(label, [b.launch_to_ready_s for b in bs],
                            [b.qemu_rss_at_ready_kib / 1024 for b in bs if b.qemu_rss_at_ready_kib],
                            f"qemu peak RSS {max(b.qemu_peak_rss_kib for b in bs) / 1024:.1f} MiB; "
                            f"guest uses {bs[0].guest_mem_used_kib / 1024:.1f} MiB; kernel {bs[0].guest_kernel}"))
    print(f"launch -> ready (marker printed); accelerator: {accel} ({why})")
    print_table(["what", "runs", "median s", "min s", "max s", "memory MiB", "notes"], rows, left=(0, 6))
    print("memory: container = cgroup usage at ready (docker stats); VM = qemu RSS at ready")

    if args.save_reference:
        out = measure.reference_rows(boots) + measure.reference_rows(boots_z)
        path = measure.reference_path()
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=measure.REFERENCE_COLUMNS, lineterminator="\n")
            w.writeheader()
            w.writerows(out)
        print(f"wrote {len(out)} rows to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
