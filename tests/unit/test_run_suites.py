"""tests/run_suites.py: sessions are reaped as each one ends (each wall time is the session's own)."""
import subprocess
import time

from tests.run_suites import Session, wait_until_ended


def _session(name: str, cmd: list[str], **kw) -> Session:
    s = Session(name, name, "unit")
    s.started = time.monotonic()
    s.proc = subprocess.Popen(cmd, **kw)
    return s


def test_a_session_that_ended_is_reaped_while_another_runs():
    quick = _session("quick", ["true"])
    held = _session("held", ["sh", "-c", "read line"], stdin=subprocess.PIPE)
    try:
        wait_until_ended([quick, held], quick)
        assert quick.rc == 0 and held.rc is None  # the held session still runs, not waited for
    finally:
        held.proc.stdin.close()  # end of input: `read` fails, sh exits 1
    wait_until_ended([quick, held], held)
    assert held.rc == 1 and quick.rc == 0
