"""Tiny launcher: run a command, print its wall time and peak RSS as JSON on stdout.

Peak RSS must come from a *small* parent: Linux counts the memory of the forking
process in the child's ``ru_maxrss`` until ``exec``, so forking straight from the
benchmark driver (which holds parsed state JSON) would report the driver's size.
Run with ``python -I -S`` to stay ~10 MB; uses only built-in modules.
"""

import json
import os
import sys
import time


def main() -> None:
    cmd = sys.argv[1:]
    start = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    peak_kb = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    out = {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_kb": peak_kb,
        "returncode": os.waitstatus_to_exitcode(status),
    }
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
