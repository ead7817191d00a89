"""The course image: size, cold and warm builds, time to a ready JupyterLab, first page in a browser.

    DOCKERCOURSE_STATE=.state .venv/bin/python benchmarks/image.py [--runs 3] [--skip-cold]

Cold build: ``docker build --no-cache`` (the base images are there, no layer of the course image
is reused; offline, the kit's build base is made first and counted apart). Warm build: the same
command again, nothing changed. repo2docker: Binder's build of the same repo, warm. Ready time:
``docker run`` until ``/api/status`` answers 200, in the student's mode (socket mounted, entrypoint
as root) and Binder's (uid 1000, ``jupyter notebook``). First page: headless Debian chromium from
``goto(/lab)`` until the launcher is drawn, each run in a fresh browser context. The tag
``dockercourse-course:bench`` is left in place (``make clean-docker`` removes it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from _table import print_table

from dockercourse import courseimage, engine, offline

TAG = f"{courseimage.IMAGE}:bench"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def first_page_loads(lab, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for _ in range(runs):
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            t0 = time.monotonic()
            page.goto(f"{lab.url}/lab?token={lab.token}")
            page.locator(".jp-LauncherCard").first.wait_for(timeout=60_000)
            out.append(time.monotonic() - t0)
            page.context.close()
        browser.close()
    return out


def fmt(values: list[float]) -> list[str]:
    return [str(len(values)), f"{statistics.median(values):.1f}", f"{min(values):.1f}", f"{max(values):.1f}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-cold", action="store_true", help="no --no-cache build")
    args = ap.parse_args()
    engine.client()
    rows = []
    t0 = time.monotonic()
    build_args = courseimage.build_args()
    if build_args:
        rows.append(["offline build base (kit, cached wheels)", *fmt([time.monotonic() - t0]),
                     build_args["BUILD_BASE"]])
    if not args.skip_cold:
        rows.append(["docker build, cold (--no-cache)", *fmt([courseimage.build(TAG, build_args, no_cache=True)]), ""])
    rows.append(["docker build, warm", *fmt([courseimage.build(TAG, build_args) for _ in range(args.runs)]), ""])
    rows.append(["repo2docker build, warm (same cache)",
                 *fmt([courseimage.repo2docker_build(f"{TAG}-binder", build_args) for _ in range(args.runs)]), ""])
    size = courseimage.image_size(TAG)
    base = engine.client().images.get(offline.BASE_IMAGE).attrs["Size"]
    for mode, tag in (("socket", TAG), ("binder", f"{TAG}-binder")):
        ready = []
        for i in range(args.runs):
            with courseimage.running(tag, mode, f"bench{i}") as lab:
                ready.append(lab.wait_ready())
        rows.append([f"docker run -> /api/status 200 ({mode})", *fmt(ready), ""])
    with courseimage.running(TAG, "socket", "bench-browser") as lab:
        lab.wait_ready()
        lab.api("/lab")  # the server's first /lab render is not the browser's
        rows.append(["first page load in chromium (/lab -> launcher)", *fmt(first_page_loads(lab, args.runs)), ""])
    print(f"Course image {TAG}: {size / 1e6:.0f} MB (base {offline.BASE_IMAGE}: {base / 1e6:.0f} MB)\n")
    print_table(["measure", "runs", "median s", "min s", "max s", "note"], rows, left=(0, 5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
