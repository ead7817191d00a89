"""JupyterLab in headless Chromium, as a student uses it: timed steps with screenshots on failure,
the French menus, run all, and the TP from the assignment list to the submission (the course
image's browser test and the class server's)."""

from __future__ import annotations

import contextlib
import re
import time

from dockercourse import engine
from tests.utils.assignment import AID, NB, RELEASE, SOURCE


class Steps:
    """Timed browser steps; on failure every open page is screenshotted under .state/browser/."""

    def __init__(self, pages: dict):
        self.pages, self.times, self.shots = pages, [], engine.state_dir() / "browser"

    @contextlib.contextmanager
    def __call__(self, what: str):
        t0 = time.monotonic()
        try:
            yield
        except BaseException:
            self.shots.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")
            for name, page in self.pages.items():
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(self.shots / f"{len(self.times) + 1:02d}-{slug}-{name}.png"),
                                    full_page=True)
            raise
        self.times.append((what, time.monotonic() - t0))
        print(f"  {time.monotonic() - t0:6.1f} s  {what}", flush=True)


def solution_cells() -> list[tuple[int, str]]:
    """(index, reference source) of the code cells that differ between release and source (same ids)."""
    import nbformat

    src = nbformat.read(SOURCE / NB, 4)
    rel = nbformat.read(RELEASE / NB, 4)
    by_id = {c.get("id"): c for c in src.cells}
    out = []
    for i, c in enumerate(rel.cells):
        ref = by_id.get(c.get("id"))
        if c.cell_type == "code" and ref is not None and ref.source != c.source:
            out.append((i, ref.source))
    return out


KERNEL_IDLE = """() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')]
    .some(e => e.getAttribute('data-status') === 'idle')"""
#: Every code cell of the visible notebook shows an execution count and none is running.
ALL_RAN = """() => {
    const panel = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt';
    const prompts = [...document.querySelectorAll(panel)];
    return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""
#: Some code cell of the visible notebook has started (shows [*] or a count).
STARTED = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
    .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""


#: JupyterLab's theme either loaded (``themeChanged`` sets the body's data attribute) or failed (its
#: ThemeManager then opens a modal « Error Loading Theme » instead: the only two outcomes).
THEME_SETTLED = """() => !!document.body.dataset.jpThemeName
    || [...document.querySelectorAll('.jp-Dialog')].some(d => /Error Loading Theme/.test(d.textContent))"""


def open_lab(page, url: str | None, ready: str, timeout_ms: float = 60_000, attempts: int = 3,
             server_log=None) -> None:
    """Open a JupyterLab URL (``None``: the page already on its way there, after a login) and wait
    for ``ready`` (a selector) and for the theme.

    When the theme's stylesheet request fails, JupyterLab opens a modal dialog that blocks every
    click; this happened once in a fresh-machine run with the machine's two cores saturated
    (everything else on the page loaded). The page is then reloaded, up to ``attempts`` times,
    and what failed is printed (the browser's failed requests and the server's last log lines),
    so that a recurring failure stays visible and a persistent one fails the test."""
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url}: HTTP {r.status}"))
    for attempt in range(1, attempts + 1):
        if attempt == 1:
            if url is not None:
                page.goto(url)
        else:
            page.reload()
        page.locator(ready).first.wait_for(timeout=timeout_ms)
        page.wait_for_function(THEME_SETTLED, timeout=timeout_ms, polling=200)
        if page.evaluate("() => !!document.body.dataset.jpThemeName"):
            return
        print(f"JupyterLab could not load its theme (attempt {attempt}/{attempts}); failed requests:\n  "
              + "\n  ".join(failed or ["(none recorded)"])
              + (f"\nserver log:\n{server_log()}" if server_log else ""), flush=True)
        failed.clear()
    raise AssertionError(f"JupyterLab's theme did not load in {attempts} attempts: {url}")


def menu(page, top: str, item: str) -> None:
    """Click ``top`` in the menu bar, then ``item`` in the menu that opens (the UI's own labels)."""
    page.get_by_role("menubar").get_by_role("menuitem", name=top, exact=True).click()
    page.locator(".lm-Menu:visible").get_by_role("menuitem", name=re.compile(item)).first.click()


def run_all(page, timeout_s: float) -> None:
    """Wait for an idle kernel, run all from the French menu, wait until every code cell ran.
    A run all sent while the fresh kernel is still connecting is lost (outputs cleared, nothing
    runs): then it is sent again, once."""
    page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=250)
    for attempt in (1, 2):
        menu(page, "Exécution", "^Exécuter toutes les cellules")
        try:
            page.wait_for_function(STARTED, timeout=20_000, polling=250)
            break
        except Exception:
            if attempt == 2:
                raise
    try:
        page.wait_for_function(ALL_RAN, timeout=timeout_s * 1000, polling=500)
    except Exception as err:  # say where the run stood: each code cell's prompt, the kernel's status
        prompts = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        status = page.locator(".jp-StatusBar-Widget").all_inner_texts()
        raise AssertionError(f"run all did not end in {timeout_s:.0f} s: prompts {prompts}, status bar {status}") \
            from err


def student_does_the_tp(page, step, cells) -> None:
    """A student in JupyterLab (French UI) with the TP released: fetch it from *Nbgrader → Assignment
    List*, open it, type the reference solution into ``cells`` (:func:`solution_cells`), run all,
    see ✅ everywhere, save, submit from the list."""
    from playwright.sync_api import expect

    with step("assignment list: fetch the TP"):
        menu(page, "Nbgrader", "^Assignment List")
        released = page.locator("#released_assignments_list")
        expect(released).to_contain_text(AID, timeout=30_000)
        released.get_by_role("button", name="Fetch").click()
        fetched = page.locator("#fetched_assignments_list")
        expect(fetched).to_contain_text(AID, timeout=30_000)
    with step("open the TP notebook from the list"):
        fetched.locator("a.assignment-notebooks-link").first.click()
        fetched.get_by_role("link", name=AID).last.click()
        nb = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
        nb.locator(".jp-Cell").first.wait_for(timeout=30_000)
    with step(f"type the reference solution into {len(cells)} cells"):
        for index, source in cells:
            editor = nb.locator(".jp-Cell").nth(index).locator(".cm-content")
            editor.scroll_into_view_if_needed()
            editor.click()
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(source)
        page.keyboard.press("Control+S")
    with step("run all (builds, runs and checks the app on the student's engine)"):
        run_all(page, 600)
    with step("the checks' feedback is ✅"):
        outputs = nb.locator(".jp-OutputArea-output")
        ok = outputs.filter(has_text="✅").count()
        partial = outputs.filter(has_text="🟡").count()
        ko = outputs.filter(has_text="❌").count()
        # full marks, from inside; else the outputs that say what was missing
        assert ok >= 15 and partial == 0 and ko == 0, (ok, partial, ko, [
            o.inner_text()[:400] for o in outputs.filter(has_text=re.compile("🟡|❌")).all()])
        page.keyboard.press("Control+S")
        page.wait_for_timeout(1000)
    with step("submit from the assignment list"):
        page.locator(".lm-TabBar-tab", has_text="Assignments").first.click()
        fetched.get_by_role("button", name="Submit").first.click()
        expect(page.locator("#submitted_assignments_list")).to_contain_text(AID, timeout=60_000)
