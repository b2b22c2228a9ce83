#!/usr/bin/env python3
"""Mirrors a whole repository: one `plan` repository sync against
`skopeo sync` of the same tags, in the same run, interleaved, each to a
fresh empty registry.

The repository: 50 two-platform tags sharing two 8 MiB base layers, each
platform with its own 2 MiB layer (216 MiB in all, 16 MiB of it shared).
Measured:
  - the first mirror (plan / skopeo: goal at most 0.3)
  - the no-op re-run, everything up to date (goal at most 0.1), and how
    many manifest GETs plan sends for it (goal: none)
  - the first mirror again with every byte delayed 20 ms each way
    (bench/latency_proxy.py in front of both registries)

Usage: bench/repository_sync.py [--runs 3] [--tags 50] [--plan target/release/plan]
Needs scripts/provision (docker-registry, skopeo). Prints markdown.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from latency_proxy import LatencyProxy  # noqa: E402
from local_registry import Registry  # noqa: E402
from timing import children_cpu_seconds, run, setup  # noqa: E402






def plan_cmd(plan_bin, work, source, target):
    path = os.path.join(work, f"plan-{len(os.listdir(work))}.yaml")
    with open(path, "w") as f:
        f.write(f"version: 1\nsyncs:\n  app:\n    from: {source}/src/app\n    to: {target}/mirror/app\n"
                f"    tags:\n      include: ['.']\n")
    return [plan_bin, "apply", "-f", path, "--progress", "plain"]


def skopeo_cmd(source, target):
    return ["skopeo", "sync", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
            "--src", "docker", "--dest", "docker", f"{source}/src/app", f"{target}/mirror"]


def manifest_gets(log_path, since):
    with open(log_path) as f:
        f.seek(since)
        return sum(1 for line in f if '"GET /v2/' in line and "/manifests/" in line)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--plan", default=os.path.join(ROOT, "target", "release", "plan"))
    args = parser.parse_args()
    work, env = setup(args.plan)
    try:
        source = Registry(work, access_log=True)
        for i in range(args.tags):
            layout = os.path.join(work, "image")
            subprocess.run([os.path.join(ROOT, "scripts", "make-test-image"), layout, "--shared", "8M,8M",
                            "--per-platform", "2M", "--seed", str(100 + i), "--shared-seed", "1"], check=True)
            subprocess.run(["skopeo", "copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:1",
                            f"docker://{source.host}/src/app:1.{i}.0"], check=True, stdout=subprocess.DEVNULL)
        tools = {
            "plan": lambda src, dst: plan_cmd(args.plan, work, src, dst),
            "skopeo": skopeo_cmd,
        }
        first = {tool: [] for tool in tools}
        # CPU of each first mirror: (source registry, target registry, client).
        cpu = {tool: [] for tool in tools}
        noop = {tool: [] for tool in tools}
        gets = []
        for _ in range(args.runs):
            for tool, make in tools.items():
                target = Registry(work, access_log=True)
                cmd = make(source.host, target.host)
                before = (source.cpu_seconds(), target.cpu_seconds(), children_cpu_seconds())
                first[tool].append(run(cmd, env=env))
                after = (source.cpu_seconds(), target.cpu_seconds(), children_cpu_seconds())
                cpu[tool].append([b - a for a, b in zip(before, after)])
                since = (os.path.getsize(source.log), os.path.getsize(target.log))
                noop[tool].append(run(cmd, env=env))
                if tool == "plan":
                    gets.append(manifest_gets(source.log, since[0]) + manifest_gets(target.log, since[1]))
                target.stop()
        # Far away: 20 ms each way in front of both registries.
        far_source = LatencyProxy(source.port, 0.020)
        far = {tool: [] for tool in tools}
        for _ in range(args.runs):
            for tool, make in tools.items():
                target = Registry(work)
                far_target = LatencyProxy(target.port, 0.020)
                far[tool].append(run(make(far_source.host, far_target.host), env=env))
                target.stop()
        source.stop()

        def row(name, times):
            p, s = statistics.median(times["plan"]), statistics.median(times["skopeo"])
            print(f"| {name} | {p:.2f} s | {s:.2f} s | {p / s:.2f} |")

        print(f"| mirror of {args.tags} two-platform tags ({16 + 4 * args.tags} MiB, 16 MiB shared) | `plan apply` | `skopeo sync` | plan / skopeo |")
        print("| --- | ---: | ---: | ---: |")
        row("first mirror", first)
        row("no-op re-run (all up to date)", noop)
        row("first mirror, 20 ms each way", far)
        for tool in tools:
            src_cpu, dst_cpu, own = (statistics.median(c[i] for c in cpu[tool]) for i in range(3))
            print(f"\nCPU of a first mirror by {tool}: source registry {src_cpu:.2f} s, target registry {dst_cpu:.2f} s, "
                  f"{tool} itself {own:.2f} s; on {os.cpu_count()} cores the three need at least "
                  f"{(src_cpu + dst_cpu + own) / os.cpu_count():.2f} s of wall time.", end="")
        print(f"\n\nManifest GETs plan sent for the no-op re-run: {max(gets)} (median of {args.runs} runs, each tool to a fresh registry).")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
