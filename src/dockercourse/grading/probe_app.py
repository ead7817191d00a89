"""Run inside a container of the probe image (or a separate interpreter): import the
student's Flask app and call ``GET /`` and ``GET /sante`` with Flask's test client,
first without ``MESSAGE``, then with ``MESSAGE`` set to the marker given as argument.

    python probe_app.py APP_FILE MARKER

Prints one line ``@@PROBE@@ {json}`` last. The student's code runs in this process,
so the line can be faked by code written for that purpose: the HTTP checks measure
the same behaviour from outside the container.
"""

import importlib.util
import json
import os
import socket
import sys

MARK = "@@PROBE@@"


def call(flask_app) -> dict:
    client = flask_app.test_client()
    out = {}
    for path in ("/", "/sante"):
        r = client.get(path)
        try:
            body = r.get_json(silent=True)
        except Exception:
            body = None
        out[path] = {"status": r.status_code, "json": body, "text": r.get_data(as_text=True)[:300]}
    return out


def limit_self() -> None:
    """Before the student's code runs: a huge allocation raises MemoryError and a fork bomb
    stops at a few dozen processes, here rather than in the machine's memory or pid table."""
    import resource

    for name, value in (("RLIMIT_AS", 2**30), ("RLIMIT_NPROC", 64)):
        if name == "RLIMIT_NPROC" and os.geteuid() == 0:  # root ignores it
            continue
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass


def main() -> None:
    limit_self()
    app_file, marker = sys.argv[1], sys.argv[2]
    res: dict = {"hostname": socket.gethostname()}
    try:
        os.environ.pop("MESSAGE", None)
        sys.path.insert(0, os.path.dirname(os.path.abspath(app_file)))
        spec = importlib.util.spec_from_file_location("app", app_file)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["app"] = mod
        spec.loader.exec_module(mod)
        flask_app = getattr(mod, "app", None)
        if flask_app is None or not hasattr(flask_app, "test_client"):
            res["error"] = "noapp"
        else:
            res["default"] = call(flask_app)
            os.environ["MESSAGE"] = marker
            res["message"] = call(flask_app)
    except BaseException as err:  # noqa: BLE001 - any failure of the student's code is the finding
        res = {"error": "exception", "detail": f"{type(err).__name__}: {err}"[:400]}
        if isinstance(err, (KeyboardInterrupt, SystemExit)) and not str(err):
            res["detail"] = type(err).__name__
    sys.stdout.flush()
    print("\n" + MARK + " " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
