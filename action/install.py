#!/usr/bin/env python3
"""Installs `plan` for the GitHub Action: the release asset for the
runner's OS and architecture, verified against the release's SHA256SUMS,
else (no asset for this runner, no such release, `version: source`)
`cargo install` of the action's own source.

Environment: PLAN_VERSION (a release tag, or `source`), PLAN_REPOSITORY
(owner/name), PLAN_SOURCE (the action's folder), PLAN_RELEASES_URL (default
https://github.com/PLAN_REPOSITORY/releases/download), PLAN_INSTALL_DIR
(default $RUNNER_TEMP/buildplan/bin), GITHUB_PATH (the folder is added).
"""
import hashlib
import os
import platform
import stat
import subprocess
import sys
import urllib.error
import urllib.request

# Largest file fetched: the binary is a few tens of MiB.
MAX_BYTES = 256 * 1024 * 1024
SUMS = "SHA256SUMS"


def asset_name():
    """The release asset for this runner, or None when there is none."""
    system, machine = platform.system(), platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if system == "Linux" and arch:
        return f"plan-linux-{arch}"
    return None


def fetch(url):
    request = urllib.request.Request(url, headers={"User-Agent": "buildplan-action"})
    with urllib.request.urlopen(request, timeout=60) as response:
        data = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"{url} is over {MAX_BYTES // (1024 * 1024)} MiB")
    return data


def expected_sum(sums, asset):
    """The checksum SHA256SUMS lists for `asset` (`HEX  NAME` or `HEX *NAME`)."""
    for line in sums.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == asset:
            return parts[0].lower()
    return None


def from_source(dest):
    source = os.environ.get("PLAN_SOURCE", "")
    print(f"building plan from {source} with cargo install", flush=True)
    root = os.path.dirname(dest)
    subprocess.run(["cargo", "install", "--locked", "--root", root, "--path", source], check=True)


def main():
    version = os.environ.get("PLAN_VERSION", "").strip()
    dest = os.environ.get("PLAN_INSTALL_DIR") or os.path.join(os.environ.get("RUNNER_TEMP", "/tmp"), "buildplan", "bin")
    os.makedirs(dest, exist_ok=True)
    asset = asset_name()
    base = os.environ.get("PLAN_RELEASES_URL") or f"https://github.com/{os.environ.get('PLAN_REPOSITORY', '')}/releases/download"
    binary = None
    if version and version != "source" and asset:
        try:
            binary = fetch(f"{base}/{version}/{asset}")
            sums = fetch(f"{base}/{version}/{SUMS}")
        except (urllib.error.URLError, ValueError, OSError) as err:
            print(f"::warning::no plan release asset {asset} for {version} ({err}); building from source", flush=True)
            binary = None
        if binary is not None:
            want = expected_sum(sums, asset)
            got = hashlib.sha256(binary).hexdigest()
            if want is None:
                print(f"::error::{SUMS} of {version} lists no {asset}: refusing an unverified binary", file=sys.stderr)
                return 1
            if want != got:
                print(f"::error::checksum mismatch for {asset} of {version}: {SUMS} says {want}, the download is {got}; "
                      "refusing it (a tampered or truncated download)", file=sys.stderr)
                return 1
            path = os.path.join(dest, "plan")
            with open(path, "wb") as f:
                f.write(binary)
            os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            print(f"installed plan {version} ({asset}, sha256 {got}) into {dest}", flush=True)
    if binary is None:
        from_source(dest)
    github_path = os.environ.get("GITHUB_PATH")
    if github_path:
        with open(github_path, "a") as f:
            f.write(dest + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
