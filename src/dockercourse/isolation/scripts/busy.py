"""CPU experiment: one thread spins for SECONDS s (after /tmp/go), then prints its loop count.

Usage: python3 busy.py SECONDS
"""

import os
import sys
import time

while not os.path.exists("/tmp/go"):
    time.sleep(0.02)
end = time.monotonic() + float(sys.argv[1])
n = 0
while time.monotonic() < end:
    n += 1
print(n)
