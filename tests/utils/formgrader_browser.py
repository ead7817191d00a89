"""Formgrader in a real browser: an instructor grades a written answer by hand.

Helpers (not a test module) for the end-to-end tests of a graded class:

- ``formgrader_server(course)`` starts JupyterLab as ``make lab`` does in the local venv
  (``jupyter lab --notebook-dir=... [--allow-root]``, nbgrader's instructor tools on: the venv's
  ``etc/jupyter/jupyter_server_config.d/nbgrader.json`` enables formgrader; the image's
  ``DOCKERCOURSE_INSTRUCTOR`` switch does not exist here), serving that course root with a free
  port, a known token and no browser. It yields once formgrader answers and always stops the
  server, then checks that nothing it started is left (process group gone, port closed).
- ``grade_by_hand(...)`` drives headless Debian Chromium (Playwright, as
  tests/image/test_course_image.py does) through formgrader like an instructor: Manage Assignments,
  Manage Students, Manual Grading -> assignment -> notebook, "Show All Names" (formgrader lists
  submissions as "Submission #n"), the student's submission, then a score and a comment typed
  into one cell. It waits for formgrader's own save requests, reloads the page to see the saved
  values, and returns the time of each step. A step that does not happen fails with the step's
  name, the page's URL and JavaScript errors, and a full-page screenshot.

The page is offline on purpose: every request that does not go to the server is aborted
(formgrader's submission page asks a CDN for MathJax) and reported in the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from dockercourse.registry import free_port
from tests.utils.browser import chromium

BIN = Path(sys.executable).parent  # the venv's bin (nbgrader shells out to alembic: it goes on PATH)
TOKEN = "dockercourse-test-formgrader"


# ------------------------------------------------------------------------------ the server

@dataclasses.dataclass(frozen=True)
class Formgrader:
    """A running JupyterLab with formgrader on a course root."""

    url: str  # base URL, e.g. http://127.0.0.1:8899 (formgrader is at url + "/formgrader")
    token: str
    course: Path
    pid: int  # the server's pid, also its process group
    log: Path  # the server's log (removed when the server stops)
    started_s: float  # from the command to formgrader answering

    def log_tail(self, chars: int = 3000) -> str:
        return _tail(self.log, chars)


def _tail(log: Path, chars: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return log.read_text(errors="replace")[-chars:]
    return ""


def _get(url: str, token: str) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:
        return 0, ""


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def formgrader_server(course: Path, *, token: str = TOKEN, timeout_s: float = 120) -> Iterator[Formgrader]:
    """JupyterLab with formgrader serving ``course`` (its root holds nbgrader_config.py).

    The server runs with cwd = course root (nbgrader reads ./nbgrader_config.py on each request),
    its own empty Jupyter config and runtime folders (no user config, nothing written to ~),
    and in its own process group, which is stopped (SIGTERM, then SIGKILL) on exit.
    """
    course = Path(course).resolve()
    if not (course / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{course} is not a course root: no nbgrader_config.py")
    scratch = Path(tempfile.mkdtemp(prefix="formgrader-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # make lab's recipe (Makefile): jupyter lab --notebook-dir=<root> $(ROOT_FLAG) $(LAB_ARGS)
    cmd = [str(BIN / "jupyter"), "lab", f"--notebook-dir={course}", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--port-retries=0", f"--IdentityProvider.token={token}",
           "--ServerApp.open_browser=False"]
    if os.getuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               JUPYTER_CONFIG_DIR=str(scratch / "config"), JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
               PYTHONDONTWRITEBYTECODE="1")
    # the course image's student switch, and an exchange elsewhere: not for this course root
    for var in ("JUPYTER_CONFIG_PATH", "NBGRADER_EXCHANGE"):
        env.pop(var, None)
    log = scratch / "lab.log"
    t0 = time.monotonic()
    with open(log, "w") as out:
        server = subprocess.Popen(cmd, cwd=course, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = t0 + timeout_s
        lab = formgrader = 0
        while time.monotonic() < deadline and server.poll() is None:
            lab, _ = _get(f"{url}/api/status", token)
            if lab == 200:
                formgrader, _ = _get(f"{url}/formgrader/api/status", token)
                if formgrader == 200:
                    break
            time.sleep(0.5)
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited ({server.returncode}) before answering:\n{_tail(log)}")
        if lab != 200:
            raise RuntimeError(f"JupyterLab did not answer /api/status within {timeout_s:.0f} s:\n{_tail(log)}")
        if formgrader != 200:
            raise RuntimeError(f"JupyterLab answers but formgrader does not (/formgrader/api/status {formgrader}):"
                               " are nbgrader's instructor tools off (jpserver_extensions "
                               f"nbgrader.server_extensions.formgrader)?\n{_tail(log)}")
        status, _ = _get(f"{url}/formgrader/api/assignments", token)
        if status != 200:
            raise RuntimeError(f"formgrader cannot read the course at {course} (/formgrader/api/assignments "
                               f"{status}): is the course root under the notebook dir?\n{_tail(log)}")
        yield Formgrader(url=url, token=token, course=course, pid=server.pid, log=log,
                         started_s=round(time.monotonic() - t0, 2))
    finally:
        _stop(server, port)
        shutil.rmtree(scratch, ignore_errors=True)


def _stop(server: subprocess.Popen, port: int) -> None:
    """Stop the server's whole process group; raise if anything of it is still there."""
    pgid = server.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 5
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(pgid):  # the server or a child (kernel, terminal) ignored SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=10)
    deadline = time.monotonic() + 10
    while (_group_alive(pgid) or _port_open(port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = []
    if server.poll() is None:
        left.append(f"server pid {pgid} still running")
    if _group_alive(pgid):
        left.append(f"process group {pgid} still has processes")
    if _port_open(port):
        left.append(f"port {port} still open")
    if left:
        raise RuntimeError("formgrader_server left processes behind: " + "; ".join(left))


# ------------------------------------------------------------------------------ the instructor

class StepFailed(AssertionError):
    """A step of the instructor's path through formgrader did not happen."""


class _Steps:
    """Timed steps; the first one that fails screenshots the page and names itself."""

    def __init__(self, page, screenshot: Path, errors: list[str], failed: list[str]):
        self.page, self.screenshot, self.errors, self.failed = page, screenshot, errors, failed
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, what: str):
        t0 = time.monotonic()
        try:
            yield
        except Exception as err:
            shot = "not saved"
            with contextlib.suppress(Exception):
                self.screenshot.parent.mkdir(parents=True, exist_ok=True)
                self.page.screenshot(path=str(self.screenshot), full_page=True)
                shot = str(self.screenshot)
            done = ", ".join(f"{k} ({v:.1f} s)" for k, v in self.times.items()) or "none"
            msg = str(err).strip().splitlines()
            raise StepFailed(
                f"formgrader: step '{what}' did not happen after {time.monotonic() - t0:.1f} s: "
                f"{' / '.join(msg[:6])}\n  page: {self.page.url}\n  page errors: {self.errors or 'none'}"
                f"\n  failed requests: {self.failed or 'none'}"
                f"\n  steps done: {done}\n  screenshot: {shot}") from err
        self.times[what] = round(time.monotonic() - t0, 2)


#: The page error every submission page reports here, the MathJax request to its CDN being aborted.
OFFLINE_ERROR = "MathJax is not defined"


def _settle(page, ready_js: str, seen: dict, errors_before: int, failed_before: int, timeout_ms: int,
            attempts: int = 3) -> None:
    """Wait until ``ready_js`` holds on the page. Formgrader's pages are plain ``<script>`` tags: when
    one of them fails to load, the scripts after it stop (« linkTo is not defined ») and the page may
    never get ready (fresh-machine run 17, the machine's two cores saturated). A page that reports a
    new JavaScript error (but :data:`OFFLINE_ERROR`) or a failed request to the server is reloaded,
    up to ``attempts`` times (counted in ``seen["reloads"]``); one that is only slow is waited for
    until ``timeout_ms``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                page.wait_for_function(ready_js, timeout=1000)
                return
            except PlaywrightTimeout:
                broken = (any(OFFLINE_ERROR not in e for e in seen["page_errors"][errors_before:])
                          or len(seen["failed_requests"]) > failed_before)
                if broken and attempt < attempts - 1:
                    break
                if time.monotonic() > deadline:
                    raise
        seen["reloads"] += 1
        errors_before, failed_before = len(seen["page_errors"]), len(seen["failed_requests"])
        page.reload()


def _exact(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def _is_put(fragment: str):
    return lambda r: r.request.method == "PUT" and fragment in urlsplit(r.url).path


def grade_by_hand(base_url: str, token: str, student: str, grade_id: str, score: float, comment: str,
                  assignment: str = "tp-conteneurisation", *, notebook: str | None = None,
                  screenshot: Path | None = None, timeout_s: float = 30) -> dict:
    """Grade one cell of one student's submission by hand in formgrader, in headless Chromium.

    Returns ``{"steps": {step: seconds}, "total_s", "assignments", "num_submissions", "students",
    "revealed_names", "submission_label", "submission_url", "saved": {...}, "page_errors",
    "blocked_requests"}``. Raises StepFailed (an AssertionError) naming the step that did not
    happen; the page is then saved to ``screenshot`` (default: formgrader-failure.png in the
    temporary folder).
    """
    from playwright.sync_api import expect, sync_playwright

    notebook = notebook or assignment
    base_url = base_url.rstrip("/")
    screenshot = Path(screenshot) if screenshot else Path(tempfile.gettempdir()) / "formgrader-failure.png"
    server_host = urlsplit(base_url).netloc
    seen: dict = {"page_errors": [], "blocked_requests": [], "failed_requests": [], "reloads": 0}
    ms = int(timeout_s * 1000)
    wait = {"timeout": ms}  # for expect(): its default is 5 s
    t_start = time.monotonic()

    def offline(route):
        if urlsplit(route.request.url).netloc == server_host:
            route.continue_()
        else:
            seen["blocked_requests"].append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        in_netns = contextlib.ExitStack()
        browser = in_netns.enter_context(chromium(pw, base_url))  # tests/utils/browser.py
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            ctx.set_default_timeout(ms)
            ctx.route("**/*", offline)
            page = ctx.new_page()
            page.on("pageerror", lambda exc: seen["page_errors"].append(f"{page.url}: {exc}"))
            page.on("requestfailed", lambda req: None if urlsplit(req.url).netloc != server_host else
                    seen["failed_requests"].append(f"{req.url}: {req.failure}"))
            step = _Steps(page, screenshot, seen["page_errors"], seen["failed_requests"])
            table = page.locator("#main-table")

            with step("open formgrader: Manage Assignments lists the TP"):
                page.goto(f"{base_url}/formgrader?token={token}")
                expect(page).to_have_url(re.compile(r"/formgrader/manage_assignments$"), **wait)
                expect(page.locator("h1", has_text="Manage Assignments")).to_be_visible(**wait)
                row = table.locator("tr", has=page.locator("td.name", has_text=_exact(assignment)))
                expect(row).to_have_count(1, **wait)
                seen["assignments"] = [t.strip() for t in table.locator("td.name").all_inner_texts()]
                seen["num_submissions"] = int(row.locator("td.num-submissions").inner_text().strip() or 0)
                assert seen["num_submissions"] > 0, f"no submission of {assignment} in formgrader"

            with step("Manage Students: the class is listed"):
                page.get_by_role("link", name="Manage Students", exact=True).click()
                expect(page).to_have_url(re.compile(r"/formgrader/manage_students$"), **wait)
                table.locator("td.id").first.wait_for()
                seen["students"] = [t.strip() for t in table.locator("td.id").all_inner_texts()]
                assert student in seen["students"], f"{student} is not in the class list: {seen['students']}"
                name = table.locator("tr", has=page.locator("td.id", has_text=_exact(student)))
                shown = name.locator("td.name").inner_text().strip()
                # the submissions list shows "last, first" when both are known, else the student id
                display = student if "None" in shown.split(", ") else shown

            with step("Manual Grading -> assignment -> notebook"):
                page.get_by_role("link", name="Manual Grading", exact=True).click()
                expect(page).to_have_url(re.compile(r"/formgrader/gradebook/?$"), **wait)
                table.get_by_role("link", name=assignment, exact=True).click()
                expect(page).to_have_url(re.compile(rf"/formgrader/gradebook/{re.escape(assignment)}/?$"), **wait)
                table.get_by_role("link", name=notebook, exact=True).click()
                expect(page).to_have_url(
                    re.compile(rf"/formgrader/gradebook/{re.escape(assignment)}/{re.escape(notebook)}/?$"), **wait)
                table.locator("td.name a.name-hidden").first.wait_for()
                anonymous = table.locator("td.name a.name-hidden")
                assert anonymous.count() == seen["num_submissions"], (anonymous.count(), seen["num_submissions"])

            with step("Show All Names: find the student's submission"):
                toggle = page.locator("#toggle_names")
                expect(toggle).to_have_text("Show All Names", **wait)
                toggle.click()
                expect(toggle).to_have_text("Hide All Names", **wait)
                cell = table.locator("td.name", has=page.locator("a.name-shown", has_text=_exact(display)))
                expect(cell).to_have_count(1, **wait)
                link = cell.locator("a.name-shown")
                expect(link).to_be_visible(**wait)
                seen["revealed_names"] = [t.strip() for t in table.locator("td.name a.name-shown").all_inner_texts()]
                seen["submission_label"] = cell.locator("a.name-hidden").text_content().strip()
                seen["submission_url"] = link.get_attribute("href")

            score_box = page.locator(f'input.score[id="{grade_id}"]')
            comment_box = page.locator(f'textarea.comment[id="{grade_id}-comment"]')
            loaded = ("() => window.formgrader && formgrader.grades && formgrader.grades.loaded"
                      " && formgrader.comments && formgrader.comments.loaded")

            with step("open the student's submission"):
                marks = len(seen["page_errors"]), len(seen["failed_requests"])
                link.click()
                expect(page).to_have_url(re.compile(r"/formgrader/submissions/[0-9a-f]+/?"), **wait)
                _settle(page, loaded, seen, *marks, ms)
                nav = page.locator("li.live-notebook")
                nav.locator("span.name-hidden").click()  # the eye: show the student's name
                expect(nav.locator("a.name-shown")).to_have_text(_exact(display), **wait)
                expect(score_box).to_be_visible(**wait)
                expect(comment_box).to_be_visible(**wait)

            with step(f"type the score {score} for {grade_id} and wait until saved"):
                score_box.scroll_into_view_if_needed()
                score_box.click()
                score_box.fill(f"{score:g}")
                with page.expect_response(_is_put("/formgrader/api/grade/")) as put:
                    score_box.press("Tab")  # leaving the box saves it (change event)
                resp = put.value
                assert resp.ok, f"PUT {resp.url}: {resp.status}"
                grade_url = resp.url
                saved = float(resp.json()["manual_score"])
                assert saved == score, f"formgrader saved {saved}, not {score}"
                glyph = page.locator(".nbgrader_cell", has=score_box).locator(".score-saved")
                expect(glyph).to_have_class(re.compile(r"\bglyphicon-ok\b"), **wait)

            with step(f"type the comment for {grade_id} and wait until saved"):
                comment_box.scroll_into_view_if_needed()
                comment_box.click()
                comment_box.fill(comment)
                with page.expect_response(_is_put("/formgrader/api/comment/")) as put:
                    comment_box.press("Tab")
                resp = put.value
                assert resp.ok, f"PUT {resp.url}: {resp.status}"
                comment_url = resp.url
                assert resp.json()["manual_comment"] == comment, resp.json()
                glyph = page.locator(".nbgrader_cell", has=comment_box).locator(".comment-saved")
                expect(glyph).to_have_class(re.compile(r"\bglyphicon-ok\b"), **wait)

            with step("reload: formgrader shows the saved score and comment"):
                marks = len(seen["page_errors"]), len(seen["failed_requests"])
                page.reload()
                _settle(page, loaded, seen, *marks, ms)
                expect(score_box).to_have_value(f"{score:g}", **wait)
                expect(comment_box).to_have_value(comment, **wait)
                headers = {"Authorization": f"token {token}"}
                grade = json.loads(page.request.get(grade_url, headers=headers).text())
                comment_saved = json.loads(page.request.get(comment_url, headers=headers).text())
                assert float(grade["manual_score"]) == score, grade
                assert comment_saved["manual_comment"] == comment, comment_saved
                seen["saved"] = {"grade": {k: grade.get(k) for k in ("name", "student", "manual_score",
                                                                     "max_score", "needs_manual_grade")},
                                 "comment": comment_saved.get("manual_comment")}
        finally:
            in_netns.close()
    return {"steps": step.times, "total_s": round(time.monotonic() - t_start, 2), **seen}
