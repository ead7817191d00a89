"""Run in a fresh interpreter: one test cell of the source notebook (hidden tests
included) with the student's answers as variables, scored as nbgrader scores a cell.

Reads ``{"answers": {...}, "source": "..."}`` on stdin; prints ``@@SCORE@@ {json}`` last
with the last expression's value, whether it failed, its stderr and its printed text.
"""

import ast
import contextlib
import io
import json
import sys

MARK = "@@SCORE@@"


def main() -> None:
    job = json.loads(sys.stdin.read())
    ns = dict(job["answers"])
    ns["__name__"] = "__main__"
    out, err = io.StringIO(), io.StringIO()
    value, failed = None, ""
    try:
        tree = ast.parse(job["source"])
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            exec(compile(tree, "<test>", "exec"), ns)  # noqa: S102 - the course's own test cell
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<test>", "eval"), ns)  # noqa: S307
    except BaseException as exc:  # noqa: BLE001 - any failure scores 0, as in nbgrader
        failed = f"{type(exc).__name__}: {exc}"
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    sys.stdout.write("\n" + MARK + " " + json.dumps({"number": number, "failed": failed,
                                                     "stderr": err.getvalue()[-500:],
                                                     "text": out.getvalue()[-4000:]}) + "\n")


if __name__ == "__main__":
    main()
