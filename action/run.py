#!/usr/bin/env python3
"""Runs `plan diff` or `plan apply` for the GitHub Action, as an argument
vector (no input ever reaches a shell). A diff is written as markdown to
$RUNNER_TEMP/buildplan-diff.md for the comment step and printed; its
`changed` output comes from `--detailed-exitcode`. `plan apply` writes its
own `changed` and `digests` outputs ($GITHUB_OUTPUT).

Environment: PLAN_COMMAND, PLAN_FILES, PLAN_TARGETS, PLAN_ARGS (one item
per line), PLAN_BIN (default `plan`).
"""
import os
import shlex
import subprocess
import sys


def lines(name):
    return [line.strip() for line in os.environ.get(name, "").splitlines() if line.strip()]


def main():
    command = os.environ.get("PLAN_COMMAND", "diff").strip()
    if command not in ("diff", "apply"):
        print(f"::error::`command` must be diff or apply, not {command!r}", file=sys.stderr)
        return 1
    argv = [os.environ.get("PLAN_BIN", "plan"), command]
    for f in lines("PLAN_FILES"):
        argv += ["--file", f]
    for t in lines("PLAN_TARGETS"):
        argv += ["--target", t]
    for line in lines("PLAN_ARGS"):
        argv += shlex.split(line)
    if command == "apply":
        return subprocess.run(argv).returncode
    argv += ["--format", "markdown", "--detailed-exitcode"]
    result = subprocess.run(argv, stdout=subprocess.PIPE)
    sys.stdout.buffer.write(result.stdout)
    out = os.path.join(os.environ.get("RUNNER_TEMP", "/tmp"), "buildplan-diff.md")
    with open(out, "wb") as f:
        f.write(result.stdout)
    if result.returncode not in (0, 2):
        return result.returncode
    github_output = os.environ.get("GITHUB_OUTPUT")
    if github_output:
        with open(github_output, "a") as f:
            f.write(f"changed={'true' if result.returncode == 2 else 'false'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
