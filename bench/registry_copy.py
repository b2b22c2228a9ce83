#!/usr/bin/env python3
"""Times the native copy engine against skopeo and buildx imagetools, in
the same run, on local registries (docker-registry on 127.0.0.1, a fresh
empty one for every timed copy so no tool profits from another's blobs).

The image: two platforms, three shared 16 MiB layers, one 8 MiB layer per
platform (scripts/make-test-image). Measured:
  - cross-registry copy of the multi-arch image: plan vs skopeo copy --all vs imagetools create
  - copy within one registry (plan mounts every blob)
  - no-op re-sync of 100 tags already up to date: plan vs skopeo sync
  - peak memory syncing an image with a 1 GiB layer (plan and skopeo)

Usage: bench/registry_copy.py [--runs 3] [--plan target/release/plan] [--skip-gib]
Needs scripts/provision (docker-registry, skopeo, buildx). Prints markdown.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_registry import Registry  # noqa: E402
from timing import children_cpu_seconds, run, setup  # noqa: E402






def peak_rss_kib(cmd, cwd=None):
    result = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr.decode()[-3000:]}")
    return int(result.stderr.decode().strip().splitlines()[-1])


def plan_sync(plan_bin, work, pairs, extra=""):
    """Writes a plan syncing each (from, to) and returns the command."""
    lines = ["version: 1", "syncs:"]
    for i, (src, dst) in enumerate(pairs):
        lines += [f"  s{i}:", f"    from: {src}", f"    to: {dst}"]
    path = os.path.join(work, f"plan-{len(os.listdir(work))}.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + extra)
    return [plan_bin, "apply", "-f", path, "--progress", "plain", "-j", "16"]


def skopeo_copy(src, dst):
    return ["skopeo", "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{src}", f"docker://{dst}"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plan", default=os.path.join(ROOT, "target", "release", "plan"))
    parser.add_argument("--skip-gib", action="store_true")
    args = parser.parse_args()
    work, env = setup(args.plan)
    try:
        image = os.path.join(work, "image")
        subprocess.run([os.path.join(ROOT, "scripts", "make-test-image"), image, "--shared", "16M,16M,16M", "--per-platform", "8M"], check=True)
        source = Registry(work)
        subprocess.run(["skopeo", "copy", "--all", "--dest-tls-verify=false", f"oci:{image}:1", f"docker://{source.host}/src/img:1"],
                       check=True, stdout=subprocess.DEVNULL)
        src = f"{source.host}/src/img:1"
        rows = []

        # Runs interleave (plan, skopeo, imagetools, plan, ...) so drifting
        # load on a shared machine hits every tool alike. Each copy goes to a
        # fresh registry, whose CPU time is recorded too: on a small machine
        # the target registry's own work (reading and hashing every byte) is
        # the floor under any client's time.
        cross_tools = {
            "plan": lambda host: plan_sync(args.plan, work, [(src, f"{host}/dst/img:1")]),
            "skopeo": lambda host: skopeo_copy(src, f"{host}/dst/img:1"),
            "imagetools": lambda host: ["docker", "buildx", "imagetools", "create", "--progress", "plain", "-t", f"{host}/dst/img:1", src],
        }
        cross = {tool: [] for tool in cross_tools}
        target_cpu = {tool: [] for tool in cross_tools}
        total_cpu = {tool: [] for tool in cross_tools}
        for _ in range(args.runs):
            for tool, make_cmd in cross_tools.items():
                target = Registry(work)
                before = (target.cpu_seconds(), source.cpu_seconds(), children_cpu_seconds())
                cross[tool].append(run(make_cmd(target.host), env=env))
                after = (target.cpu_seconds(), source.cpu_seconds(), children_cpu_seconds())
                target_cpu[tool].append(after[0] - before[0])
                total_cpu[tool].append(sum(after) - sum(before))
                target.stop()
        plan_cross, skopeo_cross, imagetools_cross = (statistics.median(cross[t]) for t in cross_tools)
        faster_peer = min(skopeo_cross, imagetools_cross)
        rows.append(("cross-registry copy, 2 platforms, 64 MiB", plan_cross, skopeo_cross, imagetools_cross, plan_cross / faster_peer))
        cpus = os.cpu_count()
        registry_cpu = statistics.median(target_cpu["plan"])

        def same_registry(make_cmd):
            times = []
            for i in range(args.runs):
                times.append(run(make_cmd(f"{source.host}/same-{len(os.listdir(work))}-{i}/img:1"), env=env))
            return statistics.median(times)

        plan_same = same_registry(lambda dst: plan_sync(args.plan, work, [(src, dst)]))
        skopeo_same = same_registry(lambda dst: skopeo_copy(src, dst))
        imagetools_same = same_registry(lambda dst: ["docker", "buildx", "imagetools", "create", "--progress", "plain", "-t", dst, src])
        rows.append(("copy within one registry", plan_same, skopeo_same, imagetools_same, plan_same / min(skopeo_same, imagetools_same)))

        # 100 tags, already up to date at the target: what does checking cost?
        tags = [f"t{i}" for i in range(100)]
        fan = plan_sync(args.plan, work, [(src, f"{source.host}/many/img:{t}") for t in tags])
        run(fan, env=env)
        target = Registry(work)
        plan_noop_cmd = plan_sync(args.plan, work, [(f"{source.host}/many/img:{t}", f"{target.host}/many/img:{t}") for t in tags])
        run(plan_noop_cmd, env=env)
        subprocess.run(["skopeo", "sync", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", "--src", "docker", "--dest", "docker",
                        f"{source.host}/many/img", f"{target.host}/skopeo"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        plan_noop = statistics.median(run(plan_noop_cmd, env=env) for _ in range(args.runs))
        skopeo_noop = statistics.median(run(["skopeo", "sync", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", "--src", "docker", "--dest", "docker",
                                             f"{source.host}/many/img", f"{target.host}/skopeo"], env=env) for _ in range(args.runs))
        target.stop()
        rows.append(("no-op re-sync of 100 tags (all up to date)", plan_noop, skopeo_noop, None, plan_noop / skopeo_noop))

        print("| copy | `plan apply` | `skopeo` | `imagetools create` | plan / faster peer |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, plan_s, skopeo_s, imagetools_s, ratio in rows:
            it = f"{imagetools_s:.2f} s" if imagetools_s is not None else "-"
            print(f"| {name} | {plan_s:.2f} s | {skopeo_s:.2f} s | {it} | {ratio:.2f} |")

        plan_cpu = statistics.median(total_cpu["plan"])
        print(f"\nCPU per cross-registry copy (median; target registry / all three processes: "
              f"target, source and client): plan {registry_cpu:.2f} / {plan_cpu:.2f} s, "
              f"skopeo {statistics.median(target_cpu['skopeo']):.2f} / {statistics.median(total_cpu['skopeo']):.2f} s, "
              f"imagetools {statistics.median(target_cpu['imagetools']):.2f} / {statistics.median(total_cpu['imagetools']):.2f} s. "
              f"On {cpus} cores the target registry alone needs at least {registry_cpu / cpus:.3f} s of wall time "
              f"({registry_cpu / cpus / faster_peer:.2f} of the faster peer's time), the three processes of a plan copy "
              f"at least {plan_cpu / cpus:.3f} s ({plan_cpu / cpus / faster_peer:.2f}).")

        if not args.skip_gib:
            big = os.path.join(work, "big")
            subprocess.run([os.path.join(ROOT, "scripts", "make-test-image"), big, "--shared", "1G", "--per-platform", "1K"], check=True)
            subprocess.run(["skopeo", "copy", "--all", "--dest-tls-verify=false", f"oci:{big}:1", f"docker://{source.host}/big/img:1"],
                           check=True, stdout=subprocess.DEVNULL)
            target = Registry(work)
            plan_rss = peak_rss_kib(plan_sync(args.plan, work, [(f"{source.host}/big/img:1", f"{target.host}/big/img:1")]))
            target.stop()
            target = Registry(work)
            skopeo_rss = peak_rss_kib(skopeo_copy(f"{source.host}/big/img:1", f"{target.host}/big/img:1"))
            target.stop()
            print(f"\nPeak memory syncing an image with a 1 GiB layer across registries: plan {plan_rss / 1024:.1f} MiB, skopeo {skopeo_rss / 1024:.1f} MiB.")
        source.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
