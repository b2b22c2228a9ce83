"""A docker-registry on a free port of 127.0.0.1, in its own folder, for
the benchmarks. With `access_log`, `log` is the file its requests go to."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Registry:
    def __init__(self, work, access_log=False):
        self.dir = tempfile.mkdtemp(dir=work)
        self.port = free_port()
        self.log = os.path.join(self.dir, "log")
        config = os.path.join(self.dir, "config.yml")
        level, disabled = ("info", "false") if access_log else ("error", "true")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog: {{ level: {level}, accesslog: {{ disabled: {disabled} }} }}\n"
                    f"storage:\n  filesystem: {{ rootdirectory: {self.dir}/data }}\n"
                    f"http: {{ addr: 127.0.0.1:{self.port} }}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/")
                break
            except Exception:
                if time.time() > deadline:
                    sys.exit("registry did not start")
                time.sleep(0.05)
        self.host = f"127.0.0.1:{self.port}"

    def cpu_seconds(self):
        """User and system CPU time the registry process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
