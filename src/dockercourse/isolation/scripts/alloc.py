"""Memory experiment: allocate STEP MiB every PAUSE s up to TOP MiB, printing the total so far.

Waits for /tmp/go (created by ``docker exec``) so that the sampler is ready first.
Usage: python3 alloc.py STEP TOP PAUSE
"""

import os
import sys
import time

step, top, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
while not os.path.exists("/tmp/go"):
    time.sleep(0.02)
blocks = []
for i in range(1, top // step + 1):
    blocks.append(b"\x01" * (step * 1024 * 1024))  # filled, so the pages are really used
    print(i * step, flush=True)
    time.sleep(pause)
