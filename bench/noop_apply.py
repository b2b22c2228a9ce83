#!/usr/bin/env python3
"""A no-op `plan apply` of a 200-job plan (150 syncs, 50 combines), all up
to date, against a local registry: how long it takes, and which requests it
sends (the registry's access log), beside `skopeo sync` re-syncing the same
200 images. Goal: under 2 s, and only HEAD/GET.

Usage: bench/noop_apply.py [--runs 5] [--plan target/release/plan]
"""
import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_registry import Registry  # noqa: E402


def timed(cmd):
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr.decode()[-2000:]}")
    return time.perf_counter() - start


def methods(log, offset):
    with open(log) as f:
        f.seek(offset)
        text = f.read()
    return collections.Counter(re.findall(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) /v2/', text))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plan", default=os.path.join(ROOT, "target", "release", "plan"))
    args = parser.parse_args()
    if not os.path.exists(args.plan):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="buildplan-noop-")
    registries = []
    try:
        image = os.path.join(work, "image")
        subprocess.run([os.path.join(ROOT, "scripts", "make-test-image"), image, "--shared", "64K,64K", "--per-platform", "32K"], check=True)
        registry = Registry(work, access_log=True)
        registries.append(registry)
        host, log = registry.host, registry.log
        for tag in ("1", "amd64", "arm64"):
            subprocess.run(["skopeo", "copy", "--all", "--dest-tls-verify=false", f"oci:{image}:{tag}", f"docker://{host}/src/img:{tag}"],
                           check=True, stdout=subprocess.DEVNULL)
        # 150 source tags.
        fan = os.path.join(work, "fan.yaml")
        with open(fan, "w") as f:
            f.write("version: 1\nsyncs:\n  \"t{{ i }}\":\n    matrix:\n      i: [" + ", ".join(f'"{i}"' for i in range(150)) + "]\n"
                    f"    from: {host}/src/img:1\n    to: {host}/src/many:t{{{{ i }}}}\n")
        timed([args.plan, "apply", "-f", fan, "--progress", "plain"])
        plan = os.path.join(work, "plan.yaml")
        with open(plan, "w") as f:
            f.write("version: 1\nsyncs:\n  \"s{{ i }}\":\n    matrix:\n      i: [" + ", ".join(f'"{i}"' for i in range(150)) + "]\n"
                    f"    from: {host}/src/many:t{{{{ i }}}}\n    to: {host}/dst/many:t{{{{ i }}}}\n"
                    "combines:\n  \"c{{ i }}\":\n    matrix:\n      i: [" + ", ".join(f'"{i}"' for i in range(50)) + "]\n"
                    f"    to: {host}/dst/combined:c{{{{ i }}}}\n    from:\n      linux/amd64: {host}/src/img:amd64\n      linux/arm64: {host}/src/img:arm64\n")
        apply = [args.plan, "apply", "-f", plan, "--progress", "plain", "-j", "32"]
        timed(apply)
        offset = os.path.getsize(log)
        plan_times = [timed(apply) for _ in range(args.runs)]
        sent = methods(log, offset)
        # skopeo re-syncs the same 200 images the plan publishes: the 150
        # synced tags and the 50 combined ones, in one run.
        listing = os.path.join(work, "skopeo-sync.yaml")
        with open(listing, "w") as f:
            f.write(f"{host}:\n  tls-verify: false\n  images:\n"
                    f"    src/many: [{', '.join(f't{i}' for i in range(150))}]\n"
                    f"    dst/combined: [{', '.join(f'c{i}' for i in range(50))}]\n")
        sync = ["skopeo", "sync", "--all", "--dest-tls-verify=false", "--src", "yaml", "--dest", "docker", listing, f"{host}/skopeo"]
        timed(sync)
        skopeo_times = [timed(sync) for _ in range(args.runs)]
        plan_s, skopeo_s = statistics.median(plan_times), statistics.median(skopeo_times)
        print("| no-op run, everything up to date | time (median of %d) | requests per run |" % args.runs)
        print("| --- | ---: | --- |")
        per_run = ", ".join(f"{m} {n // args.runs}" for m, n in sorted(sent.items()))
        print(f"| `plan apply`, 200 jobs (150 syncs, 50 combines) | {plan_s:.2f} s | {per_run} |")
        print(f"| `skopeo sync`, the same 200 images (150 synced, 50 combined tags) | {skopeo_s:.2f} s | |")
        writes = sum(n for m, n in sent.items() if m not in ("GET", "HEAD"))
        print(f"\nplan / skopeo: {plan_s / skopeo_s:.2f}; writes sent by the no-op apply: {writes}.")
    finally:
        for registry in registries:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
