"""Plain-text tables for the benchmark scripts (numbers right-aligned, text left)."""

from __future__ import annotations


def print_table(header: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,)) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i in left else '>'}{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*header).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt.format(*r).rstrip())
