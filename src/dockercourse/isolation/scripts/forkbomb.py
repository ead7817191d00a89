"""pids experiment: every process forks forever (1, 2, 4, 8...) until fork() fails.

Waits for /tmp/go. Run it only under ``--pids-limit``.
"""

import os
import time

while not os.path.exists("/tmp/go"):
    time.sleep(0.02)
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)
