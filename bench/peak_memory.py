"""Runs a command and reports its peak memory: the peak resident set (VmHWM, what `time -v`
calls maximum resident set size) and, sampled every 0.1 s, the peaks of its two parts:
anonymous memory (RssAnon: the process's own allocations) and file-backed pages
(RssFile: memory-mapped files such as a dataset's images, page cache the kernel can drop).
Usage: python3 bench/peak_memory.py LABEL -- CMD ARGS...   (Linux; stdout of CMD discarded)"""
import subprocess
import sys
import time

label = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:]


def status(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return {l.split(":")[0]: int(l.split()[1]) for l in f if l.split(":")[0] in ("VmHWM", "RssAnon", "RssFile")}
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return {}


start = time.time()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
peak = {"VmHWM": 0, "RssAnon": 0, "RssFile": 0}
while p.poll() is None:
    for k, v in status(p.pid).items():
        peak[k] = max(peak[k], v)
    time.sleep(0.1)
wall = time.time() - start
mb = lambda kb: kb / 1024
print(f"{label}: exit {p.returncode}, {wall:.1f} s, peak RSS {mb(peak['VmHWM']):.0f} MB "
      f"(anonymous {mb(peak['RssAnon']):.0f} MB, file-backed {mb(peak['RssFile']):.0f} MB)")
sys.exit(p.returncode)
