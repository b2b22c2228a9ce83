#!/usr/bin/env python3
"""Times `plan validate` on generated plans of 1,000, 5,000 and 20,000 jobs,
and `docker buildx bake --print` on an equivalent bake file, in the same run.

The plans mix the shapes real plans have: chains (each sync reads the image
the previous one writes), fan-in (combines over two chains), matrices
(syncs expanded from a matrix) and builds whose base image another build
produces. The bake file has one target per job, linked the way bake links
targets: `contexts = { base = "target:previous" }`.

With `--shape builds`, the plans are builds only (two platforms each,
build args, `needs` chains), the shape whose goal is also 50 ms at 5,000;
`--shape builds-full` adds what real CI builds use (scoped registry cache,
a secret, provenance, an annotation, `network`).

Usage: bench/plan_validate.py [--sizes 1000,5000,20000] [--runs 5] [--shape mixed|builds|builds-full] [--plan target/release/plan]
Prints a markdown table (the one in the README).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", "work")
CHAIN = 20
MATRIX = 10


def generate(n, folder):
    """Writes plan.yaml and bake.json with n jobs each; returns the job count."""
    os.makedirs(os.path.join(folder, "ctx"), exist_ok=True)
    with open(os.path.join(folder, "ctx", "Dockerfile"), "w") as f:
        f.write("ARG BASE=scratch\nFROM ${BASE}\nCOPY . /\n")
    chain_jobs = n * 4 // 10
    combine_jobs = n * 2 // 10
    build_jobs = n * 2 // 10
    matrix_jobs = n - chain_jobs - combine_jobs - build_jobs
    lines = ["version: 1", "vars:", '  reg: "127.0.0.1:5000"', "syncs:"]
    targets = {}
    chain_tails = []
    for i in range(chain_jobs):
        link = i % CHAIN
        src = "docker.io/library/alpine:3.12" if link == 0 else f"127.0.0.1:5000/chain/s{i - 1}:1"
        lines += [f"  s{i}:", f"    from: {src}", f'    to: "{{{{ reg }}}}/chain/s{i}:1"']
        targets[f"s{i}"] = {
            "context": "ctx",
            "dockerfile": "Dockerfile",
            "tags": [f"127.0.0.1:5000/chain/s{i}:1"],
            **({"contexts": {"base": f"target:s{i - 1}"}} if link else {}),
        }
        chain_tails.append(i)
    groups = max(1, matrix_jobs // MATRIX)
    made = 0
    for g in range(groups):
        count = MATRIX if g < groups - 1 else matrix_jobs - made
        if count <= 0:
            break
        tags = ", ".join(f'"{t}"' for t in range(count))
        lines += [f'  "m{g}-{{{{ tag }}}}":', "    matrix:", f"      tag: [{tags}]",
                  "    from: busybox:{{ tag }}", f'    to: "{{{{ reg }}}}/matrix/m{g}:{{{{ tag }}}}"']
        for t in range(count):
            targets[f"m{g}-{t}"] = {"context": "ctx", "dockerfile": "Dockerfile",
                                   "tags": [f"127.0.0.1:5000/matrix/m{g}:{t}"]}
        made += count
    lines.append("combines:")
    for i in range(combine_jobs):
        a = chain_tails[(2 * i) % len(chain_tails)] if chain_tails else 0
        b = chain_tails[(2 * i + 1) % len(chain_tails)] if chain_tails else 0
        lines += [f"  c{i}:", f'    to: "{{{{ reg }}}}/combined/c{i}:1"', "    from:",
                  f"      linux/amd64: 127.0.0.1:5000/chain/s{a}:1",
                  f"      linux/arm64: 127.0.0.1:5000/chain/s{b}:1"]
        targets[f"c{i}"] = {"context": "ctx", "dockerfile": "Dockerfile",
                           "tags": [f"127.0.0.1:5000/combined/c{i}:1"],
                           "contexts": {"amd": f"target:s{a}", "arm": f"target:s{b}"}}
    lines.append("builds:")
    for i in range(build_jobs):
        base = "scratch" if i % CHAIN == 0 else f"127.0.0.1:5000/built/b{i - 1}:1"
        lines += [f"  b{i}:", "    context: ctx", f"    args: {{ BASE: \"{base}\" }}",
                  "    platforms: [linux/amd64]", f'    tags: ["{{{{ reg }}}}/built/b{i}:1"]']
        targets[f"b{i}"] = {"context": "ctx", "dockerfile": "Dockerfile", "args": {"BASE": base},
                           "platforms": ["linux/amd64"], "tags": [f"127.0.0.1:5000/built/b{i}:1"],
                           **({"contexts": {"base": f"target:b{i - 1}"}} if i % CHAIN else {})}
    with open(os.path.join(folder, "plan.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(folder, "bake.json"), "w") as f:
        json.dump({"group": {"default": {"targets": list(targets)}}, "target": targets}, f)
    return len(targets)


def generate_builds(n, folder, full=False):
    """Writes plan.yaml and bake.json with n builds: two platforms each,
    build args, and `needs` chains of CHAIN builds (bake: `depends_on`
    has no equivalent, so each links to the previous by a named context,
    which orders it the same way). With `full`, each build also uses the
    fields real CI builds use: scoped registry cache, a secret, provenance,
    an annotation, `network`. Returns the job count."""
    os.makedirs(os.path.join(folder, "ctx"), exist_ok=True)
    with open(os.path.join(folder, "ctx", "Dockerfile"), "w") as f:
        f.write("ARG BASE=scratch\nFROM ${BASE}\nCOPY . /\n")
    lines = ["version: 1", "vars:", '  reg: "127.0.0.1:5000"', "builds:"]
    targets = {}
    for i in range(n):
        lines += [f"  b{i}:", "    context: ctx", f'    args: {{ VERSION: "{i}", BASE: scratch }}',
                  "    platforms: [linux/amd64, linux/arm64]", f'    tags: ["{{{{ reg }}}}/built/b{i}:1"]']
        if i % CHAIN:
            lines.append(f"    needs: [build.b{i - 1}]")
        extra = {}
        if full:
            lines += ["    cache: registry", "    secrets: [{ id: token, env: BUILD_TOKEN }]",
                      "    attest: { provenance: max }", "    network: none",
                      f'    annotations: {{ org.opencontainers.image.version: "{i}" }}']
            extra = {"cache-from": [f"type=registry,ref=127.0.0.1:5000/built/b{i}:buildcache"],
                     "cache-to": [f"type=registry,ref=127.0.0.1:5000/built/b{i}:buildcache,mode=max"],
                     "secret": ["id=token,env=BUILD_TOKEN"],
                     "attest": ["type=provenance,mode=max"], "network": "none",
                     "annotations": [f"org.opencontainers.image.version={i}"]}
        targets[f"b{i}"] = {"context": "ctx", "dockerfile": "Dockerfile",
                           "args": {"VERSION": str(i), "BASE": "scratch"},
                           "platforms": ["linux/amd64", "linux/arm64"],
                           "tags": [f"127.0.0.1:5000/built/b{i}:1"],
                           **({"contexts": {"prev": f"target:b{i - 1}"}} if i % CHAIN else {}),
                           **extra}
    with open(os.path.join(folder, "plan.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(folder, "bake.json"), "w") as f:
        json.dump({"group": {"default": {"targets": list(targets)}}, "target": targets}, f)
    return len(targets)


def best_of(command, folder, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed in {folder}:\n{result.stderr.decode()[:2000]}")
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bake-runs", type=int, default=1)
    parser.add_argument("--plan", default=os.path.join(ROOT, "target", "release", "plan"))
    parser.add_argument("--shape", choices=["mixed", "builds", "builds-full"], default="mixed",
                        help="mixed: syncs, matrices, combines and builds; builds: builds only; "
                             "builds-full: builds with cache, a secret, provenance, annotations")
    args = parser.parse_args()
    if not os.path.exists(args.plan):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    have_bake = shutil.which("docker") and subprocess.run(
        ["docker", "buildx", "version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        folder = os.path.join(WORK, f"{args.shape}-{n}")
        if args.shape == "mixed":
            jobs = generate(n, folder)
        else:
            jobs = generate_builds(n, folder, full=args.shape == "builds-full")
        plan_s = best_of([args.plan, "validate"], folder, args.runs)
        bake_s = best_of(["docker", "buildx", "bake", "-f", "bake.json", "--print"], folder, args.bake_runs) if have_bake and args.bake_runs > 0 else None
        rows.append((jobs, plan_s, bake_s))
        print(f"{jobs} jobs: plan validate {plan_s * 1000:.1f} ms" +
              (f", bake --print {bake_s:.2f} s, ratio {bake_s / plan_s:.0f}x" if bake_s else ", bake not installed"),
              file=sys.stderr)
    print("| jobs | `plan validate` | per job | `buildx bake --print` | bake / plan |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for jobs, plan_s, bake_s in rows:
        bake = f"{bake_s:.2f} s" if bake_s else "not installed"
        ratio = f"{bake_s / plan_s:.0f}x" if bake_s else "-"
        print(f"| {jobs:,} | {plan_s * 1000:.1f} ms | {plan_s / jobs * 1e6:.1f} µs | {bake} | {ratio} |")


if __name__ == "__main__":
    main()
