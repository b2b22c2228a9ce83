"""Timing a command for the benchmarks: wall time, failing loudly, and the
CPU time of finished children."""
import resource
import subprocess
import sys
import time


def run(cmd, cwd=None, env=None):
    """Runs `cmd` (output discarded) and returns its wall time; exits with
    its stderr when it fails."""
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr.decode()[-3000:]}")
    return elapsed


def children_cpu_seconds():
    """CPU time of this script's finished children (the timed clients)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
