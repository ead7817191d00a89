"""Command line: ``python -m dockercourse {engine,offline,clean,describe,outputs,grade}``."""

from __future__ import annotations

import argparse
import sys
import time

from . import engine, offline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dockercourse", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_eng = sub.add_parser("engine", help="make sure a Docker daemon answers (install/start it as root on Debian)")
    p_eng.add_argument("--current", action="store_true",
                       help="start the current-engine lane instead: a Debian trixie (or $DOCKERCOURSE_CURRENT_SUITE) "
                            "root's dockerd beside the host's, in its own mount namespace (root)")
    p_eng.add_argument("--store", choices=("classic", "containerd"), default="classic",
                       help="image store of the current engine (default: classic)")
    p_eng.add_argument("--stop", action="store_true", help="with --current: stop that engine")
    p_eng.add_argument("--root-only", action="store_true",
                       help="with --current: only make (or check) its Debian root, start nothing")
    sub.add_parser("describe", help="print the table of what matters to the course about this Docker")
    p_off = sub.add_parser("offline", help="make python:3.13-slim available without Docker Hub")
    p_off.add_argument("--from-tar", metavar="FILE", help="load an instructor-provided `docker save` archive")
    p_off.add_argument("--requirements", "-r", action="append", default=[], metavar="FILE",
                       help="extra requirement files whose wheels are baked into the stand-in")
    p_off.add_argument("--force", action="store_true", help="rebuild the stand-in even if it is up to date")
    p_off.add_argument("--no-pull", action="store_true", help="do not try Docker Hub first")
    p_off.add_argument("--course-build", action="store_true",
                       help="also make the course image's offline build base (the course's wheels + a docker "
                            "CLI, kept out of the TP's base image) and print the BUILD_BASE build argument")
    p_clean = sub.add_parser("clean", help="remove every Docker object labelled dockercourse")
    p_clean.add_argument("--all", action="store_true", help="also remove the course's base image")
    p_out = sub.add_parser("outputs", help="re-execute the lecture notebooks in place on the current engine with "
                                           "the containerd image store (their committed outputs; root)")
    p_out.add_argument("notebooks", nargs="*", help="notebooks to execute (default: every notebooks/0*.ipynb)")
    p_grade = sub.add_parser("grade", help="grade every collected submission, each in its own sandbox (root)")
    from .grading.cli import add_class_arguments

    add_class_arguments(p_grade)
    p_hub = sub.add_parser("hub", help="run the class server: JupyterHub, each member in a session of their own "
                                        "with a rootless Docker engine (root)")
    from .hub.app import add_arguments as add_hub_arguments

    add_hub_arguments(p_hub)
    args = parser.parse_args(argv)
    if args.cmd == "engine" and (args.stop or args.root_only or args.store != "classic") and not args.current:
        parser.error("--stop, --root-only and --store go with --current")
    if args.cmd == "outputs":
        from pathlib import Path

        from .outputs import regenerate

        try:
            return regenerate([Path(p).resolve() for p in args.notebooks] or None)
        except engine.SetupError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    if args.cmd == "hub":
        from .hub.app import hub_main

        return hub_main(args)
    if args.cmd == "grade":
        from .grading.classroom import class_main

        return class_main(args)

    t0 = time.monotonic()
    try:
        if args.cmd == "engine" and args.current:
            current_engine(args.store, args.stop, args.root_only)
        elif args.cmd == "engine":
            done = engine.ensure_engine()
            print(f"Docker engine: {done} ({time.monotonic() - t0:.1f} s).")
        elif args.cmd == "describe":
            table = engine.describe()
            if table is None:
                return 1
            print(table.to_string())
        elif args.cmd == "offline":
            done = offline.ensure(from_tar=args.from_tar, extra_requirements=args.requirements,
                                  force=args.force, pull=not args.no_pull)
            print(f"Offline kit: {done} ({time.monotonic() - t0:.1f} s).")
            if args.course_build:
                tag = offline.ensure_course_build_base(force=args.force)
                print(f"BUILD_BASE={tag}" if tag else "BUILD_BASE= (official base image: build online, no argument)")
        elif args.cmd == "clean":
            counts = engine.clean(include_base=args.all)
            print("Removed: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    except (engine.SetupError, engine.DockerUnavailable, offline.KitError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def current_engine(store: str, stop: bool, root_only: bool = False) -> None:
    """``engine --current``: start (or stop) the current engine, print how to use it; with
    ``root_only``, only make its Debian root (``make test`` does it beside the offline kit)."""
    from .currentengine import CurrentEngine

    t0 = time.monotonic()
    ce = CurrentEngine(store=store)
    if root_only:
        done = ce.ensure_root()
        print(f"Current engine's {ce.suite} root: {done} ({time.monotonic() - t0:.1f} s).")
        return
    if stop:
        done = ce.stop()
        print(f"Current engine ({ce.suite}, {store} store): {'stopped' if done else 'was not running'} "
              f"({time.monotonic() - t0:.1f} s).")
        return
    root = ce.ensure_root()
    done = ce.start()
    base = ce.ensure_base_image()
    c = ce.client()
    version = c.version()["Version"]
    c.close()
    print(f"Current engine ({ce.suite} root {root}, dockerd {version}, {store} store): {done}; "
          f"{engine.BASE_IMAGE}: {base} ({time.monotonic() - t0:.1f} s).")
    print("To use it from a shell:")
    print(ce.exports())


if __name__ == "__main__":
    sys.exit(main())
