#!/usr/bin/env python3
"""Times a retag against a rebuild on the realistic example (plans/shop.yaml),
on the test services (`scripts/services start DIR`, then `source DIR/env`).

1. apply once (cold): every build runs;
2. apply with a new `commit`: every build's inputs are unchanged, so each
   new tag is a copy of the image already built (a retag), no build;
3. apply with another `commit` and `--force 'build.*'`: the same builds run
   again through buildx (BuildKit's cache is warm: this is the best a
   rebuild does, and what a tool without retags does on every commit).

Prints a markdown table of each build's time in steps 2 and 3 (from
`--summary-file`), and the whole runs'.

Usage: bench/retag.py [--runs 3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run `scripts/services start DIR` and `source DIR/env` first")
    return value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plan", default=os.path.join(ROOT, "target", "release", "plan"))
    args = parser.parse_args()
    if not os.path.exists(args.plan):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    registry = env("BUILDPLAN_TEST_REGISTRY")
    process_env = dict(os.environ)
    process_env.update({
        "HOME": env("BUILDPLAN_TEST_HOME"),
        "PATH": f"{env('BUILDPLAN_TEST_BIN')}:{os.environ['PATH']}",
        "NPM_TOKEN": "bench-token",
    })
    process_env.pop("GITHUB_ACTIONS", None)

    retag_runs, rebuild_runs = [], []
    per_job = {}
    for run in range(args.runs):
        work = tempfile.mkdtemp(prefix="bench-retag-")
        shutil.copy(os.path.join(ROOT, "plans", "shop.yaml"), os.path.join(work, "plan.yaml"))
        shutil.copytree(os.path.join(ROOT, "plans", "shop"), os.path.join(work, "shop"))
        # A unique application per run, so the cold build really is cold.
        with open(os.path.join(work, "shop", "web", "index.html"), "a") as f:
            f.write(f"<!-- {os.getpid()}-{run} -->\n")
        base_vars = [
            "--var", f"registry={registry}/bench-shop-{os.getpid()}-{run}",
            "--var", f"base_image={env('BUILDPLAN_TEST_BASE_IMAGE')}",
            "--var", "network=none",
            "--var", f"amd64_engine={env('BUILDPLAN_TEST_ENGINE_C')}",
            "--var", f"arm64_engine={env('BUILDPLAN_TEST_ENGINE_B')}",
        ]

        def apply(commit, extra=()):
            summary = os.path.join(work, f"summary-{commit}.json")
            command = [args.plan, "apply", "--progress", "plain", "--summary-file", summary,
                       *base_vars, "--var", f"commit={commit}", *extra]
            start = time.perf_counter()
            out = subprocess.run(command, cwd=work, env=process_env, capture_output=True, text=True)
            took = time.perf_counter() - start
            if out.returncode != 0:
                sys.exit(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
            with open(summary) as f:
                jobs = {j["address"]: j for j in json.load(f)["jobs"]}
            return took, jobs, out.stderr

        apply("cold")
        took, jobs, log = apply("c1")
        if "buildx build" in log:
            sys.exit("the retag run built something:\n" + log[-3000:])
        retag_runs.append(took)
        for address, job in jobs.items():
            if address.startswith("build."):
                per_job.setdefault(address, ([], []))[0].append(job["duration_ms"] / 1000)
        took, jobs, _ = apply("c2", ["--force", "build.*"])
        rebuild_runs.append(took)
        for address, job in jobs.items():
            if address.startswith("build."):
                per_job[address][1].append(job["duration_ms"] / 1000)
        shutil.rmtree(work, ignore_errors=True)

    print("| job | retag (no build) | rebuild (warm cache) | rebuild / retag |")
    print("| --- | ---: | ---: | ---: |")
    for address, (retags, rebuilds) in sorted(per_job.items()):
        r, b = statistics.median(retags), statistics.median(rebuilds)
        print(f"| `{address}` | {r:.2f} s | {b:.2f} s | {b / r:.0f}x |")
    r, b = statistics.median(retag_runs), statistics.median(rebuild_runs)
    print(f"| whole `plan apply` | {r:.2f} s | {b:.2f} s | {b / r:.1f}x |")


if __name__ == "__main__":
    main()
