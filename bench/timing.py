"""Timing a command for the benchmarks: wall time, failing loudly, and the
CPU time of finished children."""
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def setup(plan_bin):
    """Builds `plan` (release) if `plan_bin` is missing; returns a fresh work
    folder and an environment with its own empty Docker config there (no
    credentials of the machine's user are read)."""
    if not os.path.exists(plan_bin):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="buildplan-bench-")
    env = dict(os.environ, DOCKER_CONFIG=os.path.join(work, "docker-config"))
    os.makedirs(env["DOCKER_CONFIG"])
    return work, env


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
