#!/usr/bin/env python3
"""Keeps one pull request comment with the plan diff: the comment that
starts with a hidden marker is edited in place; only when there is none is
one added. Other comments are never touched.

Usage: comment.py DIFF.md. Environment: GITHUB_TOKEN, GITHUB_REPOSITORY,
PR_NUMBER, GITHUB_API_URL (default https://api.github.com).
"""
import json
import os
import sys
import urllib.request

MARKER = "<!-- buildplan-diff -->"
# GitHub's limit for a comment body.
LIMIT = 65536
PAGES = 50


def call(method, url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "buildplan-action",
        **({"Content-Type": "application/json"} if data else {}),
    })
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def main():
    if len(sys.argv) != 2:
        print("usage: comment.py DIFF.md", file=sys.stderr)
        return 2
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    repo, number, token = os.environ["GITHUB_REPOSITORY"], os.environ["PR_NUMBER"], os.environ["GITHUB_TOKEN"]
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        body = f"{MARKER}\n{f.read()}"[:LIMIT]
    existing = None
    for page in range(1, PAGES + 1):
        comments = call("GET", f"{api}/repos/{repo}/issues/{number}/comments?per_page=100&page={page}", token)
        if not comments:
            break
        existing = next((c for c in comments if str(c.get("body", "")).startswith(MARKER)), None)
        if existing or len(comments) < 100:
            break
    if existing:
        call("PATCH", f"{api}/repos/{repo}/issues/comments/{existing['id']}", token, {"body": body})
        print(f"updated the plan diff comment {existing['id']}")
    else:
        created = call("POST", f"{api}/repos/{repo}/issues/{number}/comments", token, {"body": body})
        print(f"added the plan diff comment {created.get('id')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
