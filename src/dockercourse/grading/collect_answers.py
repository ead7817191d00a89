"""Run in a throw-away container of the base image (no network, an unprivileged uid):
execute the student's answer cells and print the values of the variables the tests read.

Reads ``{"sources": [...], "names": [...]}`` from the file named by its argument (else stdin);
prints ``@@ANSWERS@@ {json}`` last.
Shell (``!``) and magic (``%``) lines are dropped; a cell that fails or runs longer than
5 s loses its own answers, not the others'. Only strings, numbers, booleans and None
come back: the answers are data, never code, for the grader.
"""

import contextlib
import io
import json
import signal
import sys

MARK = "@@ANSWERS@@"
KINDS = (str, int, float, bool, type(None))


def too_long(*_):
    raise TimeoutError


def main() -> None:
    job = json.loads(open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read())
    ns = {"__name__": "__main__"}
    signal.signal(signal.SIGALRM, too_long)
    for src in job["sources"]:
        lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        signal.alarm(5)
        with contextlib.suppress(BaseException), contextlib.redirect_stdout(io.StringIO()):
            exec(compile("\n".join(lines), "<cellule>", "exec"), ns)  # noqa: S102 - the student's answers
        signal.alarm(0)
    out = {k: ns[k] for k in job["names"] if k in ns and isinstance(ns[k], KINDS)}
    sys.stdout.write("\n" + MARK + " " + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
