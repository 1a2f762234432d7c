"""Section 6 of `make bench`: `filespy report` on a generated multi-GB event file. Measures MB/s and the
peak RSS (getrusage of the child) on the whole file and on a 1% slice of it, so that memory is seen to
depend on the keys kept, not the size; and, for scale, how fast the disk itself reads the file
(O_DIRECT, past the page cache) and how fast `wc -l` gets through it. Needs GNU time (/usr/bin/time)."""

import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

GIB = 1 << 30
MIB = 1 << 20

# Key counts chosen to be realistic for a busy host, and above the report's 4096 keys per table for files
# (so the approximate, evicting path is the one measured), below it for the rest.
PROCESSES = 300
SCRIPTS = 120
USERS = 40
FILES = 20000


def pick_dir(size):
    """/tmp (a real disk, so its read speed can be measured) if it has room for the file three times over,
    else /dev/shm; None if neither has."""
    for d in ["/tmp", "/dev/shm"]:
        if os.path.isdir(d) and shutil.disk_usage(d).free >= 3 * size:
            return d
    return None


def generate(path, size, seed=14):
    """Writes about `size` bytes of filespy JSON lines (the README event's shape, keys spread as above,
    a few filespy stderr lines mixed in as with 2>&1); returns (bytes, lines, events)."""
    rnd = random.Random(seed)
    procs = [
        (f"proc{i}", f"/usr/bin/proc{i}", 1000 + i, rnd.randrange(USERS)) for i in range(PROCESSES)
    ]
    scripts = [f"/srv/app{i}/tools/job{i}.py" for i in range(SCRIPTS)]
    files = [f"/var/lib/app{i % 97}/data/file{i}.log" for i in range(FILES)]
    ops = ["write"] * 14 + ["create", "delete", "rename", "chmod", "exec", "exit"]
    t0 = 1_795_428_000_000_000  # 2026-11-23T10:00:00Z in µs
    written = lines = events = 0
    chunk = []
    with open(path, "w") as f:
        while written < size:
            i = events
            name, exe, pid, u = procs[min(int(rnd.paretovariate(1.2)) - 1, PROCESSES - 1)]
            script = scripts[pid % SCRIPTS] if pid % 3 == 0 else None
            path_ = files[min(int(rnd.paretovariate(0.8)) - 1, FILES - 1)]
            op = ops[rnd.randrange(len(ops))]
            t = t0 + i * 50
            s, us = divmod(t, 1_000_000)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{us:06d}+00:00"
            uid = 0 if u == 0 else 1000 + u
            user = "root" if u == 0 else f"user{u}"
            script_json = f'"{script}"' if script else "null"
            extra = f',"bytes_written":{rnd.randrange(1, 65536)}' if op == "write" else ""
            line = (
                f'{{"id":"{i:08x}-a402-41c0-84e1-8b14984e443e","op":"{op}","via":"{op}","timestamp":"{ts}",'
                f'"system_ts":{t * 1000},"process":{{"name":"{name}","pid":{pid},"tid":{pid},"ppid":1,'
                f'"uid":{uid},"gid":{uid},"exe_path":"{exe}","file_path":{script_json},'
                f'"cmdline":["{exe}","--config","/etc/app/{name}.conf","--verbose"],"cwd":"/srv/{name}",'
                f'"euid":{uid},"egid":{uid},"auid":{uid},"session_id":3,"user":"{user}","group":"{user}",'
                f'"entity_id":"NTU3MmJkMDktNjZjNC00NjQxLTg5NzMtNWE4Yzg4NzNiNDE5OjE3MTgwMDAwMDAwMDA6{pid:08d}",'
                f'"cgroup_id":1,"parent":{{"pid":1,"name":"systemd","exe_path":"/usr/lib/systemd/systemd",'
                f'"file_path":null,"entity_id":"NTU3MmJkMDktNjZjNC00NjQxLTg5NzMtNWE4Yzg4NzNiNDE5OjE3MDAw"}},'
                f'"ancestors":[{{"pid":1,"name":"systemd"}}]}},"file":{{"name":"{os.path.basename(path_)}",'
                f'"file_path":"{path_}"{extra},"inode":{10011295 + i % 5000},"dev":"254:0"}},'
                f'"container":null,"host":{{"name":"bench-host"}}}}\n'
            )
            if i % 100_000 == 99_999:
                line += "filespy: lost 312 events (cpu0: 300, cpu1: 12) — raise --buffer-pages\n"
                lines += 1
            chunk.append(line)
            events += 1
            lines += 1
            written += len(line)
            if len(chunk) >= 4096:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    return os.path.getsize(path), lines, events


def timed(argv):
    """One run of argv under GNU time: (wall s, CPU s, peak RSS KiB, stdout). The rusage is of time's own
    child, not of one forked here: exec records the pre-exec image's high-water mark too, which would be
    this interpreter's."""
    with tempfile.NamedTemporaryFile("r") as t:
        r = subprocess.run(
            ["/usr/bin/time", "-f", "%e %U %S %M", "-o", t.name, *argv], capture_output=True, text=True
        )
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr[-400:]}")
        wall, user, sys_, rss = t.read().split()[-4:]
    return float(wall), float(user) + float(sys_), int(rss), r.stdout


def direct_read_mb_s(path):
    """The disk's own speed on this file: dd with O_DIRECT (no page cache); None where unsupported."""
    r = subprocess.run(
        ["dd", f"if={path}", "of=/dev/null", "bs=4M", "iflag=direct"], capture_output=True, text=True
    )
    if r.returncode != 0:
        return None
    size = os.path.getsize(path)
    m = [l for l in r.stderr.splitlines() if " s, " in l]
    secs = float(m[-1].split(" s, ")[0].split(", ")[-1]) if m else None
    return size / MIB / secs if secs else None


def section(args, log):
    size = args.report_gb * GIB
    where = pick_dir(size)
    if where is None:
        size = GIB
        where = pick_dir(size)
    if where is None:
        return ["Not run: neither /tmp nor /dev/shm has 3 GiB free."]
    path = os.path.join(where, f"filespy-bench-report-{os.getpid()}.jsonl")
    small = path + ".slice"
    try:
        log(f"report: generating {size / GIB:.0f} GiB in {where}")
        t = time.monotonic()
        nbytes, nlines, nevents = generate(path, size)
        log(f"report: generated {nbytes:,} bytes, {nevents:,} events in {time.monotonic() - t:.0f} s")
        with open(path, "rb") as src, open(small, "wb") as dst:
            dst.write(src.read(nbytes // 100))
            dst.write(src.readline())
        disk = direct_read_mb_s(path)
        argv = [args.bin, "report", "--format", "json", path]
        runs = []
        for r in range(args.rounds):
            runs.append(timed(argv))
            log(f"report: round {r + 1}: {nbytes / MIB / runs[-1][0]:,.0f} MB/s")
        rep = json.loads(runs[-1][3])
        if rep["lines"]["events"] != nevents or rep["lines"]["malformed"] != 0:
            raise RuntimeError(f"report counted {rep['lines']} for {nevents} events")
        wc = statistics.median(timed(["wc", "-l", path])[0] for _ in range(3))
        slice_runs = [timed([args.bin, "report", "--format", "json", small]) for _ in range(3)]
    finally:
        for p in (path, small):
            if os.path.exists(p):
                os.unlink(p)
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    rss_big = max(r[2] for r in runs)
    rss_small = max(r[2] for r in slice_runs)
    kinds = ", ".join(
        f"{t} {'exact' if rep[t]['exact'] else 'approximate'}"
        for t in ["processes", "scripts", "users", "files_by_writes"]
    )
    load = open("/proc/loadavg").read().split()[:3]
    L = [
        f"`filespy report --format json FILE` on a generated {nbytes / GIB:.2f} GiB file ({nbytes:,} bytes, "
        f"{nevents:,} events of the README event's shape, {nbytes // nevents} bytes each, and "
        f"{nlines - nevents:,} loss lines) in {where}, read from the page cache; median of {args.rounds} runs "
        f"(load average {' '.join(load)} on this shared machine: the wall time includes waiting for a CPU, "
        "the CPU time does not).",
        "",
        "| MB/s (wall) | MB per CPU-second | wall s, all runs | events/s (wall) | peak RSS | peak RSS, 1% slice | `wc -l` MB/s | disk O_DIRECT MB/s |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
        f"| {nbytes / MIB / wall:,.0f} | {nbytes / MIB / cpu:,.0f} | {', '.join(f'{r[0]:.2f}' for r in runs)} | "
        f"{nevents / wall:,.0f} | {rss_big / 1024:.1f} MiB | {rss_small / 1024:.1f} MiB | {nbytes / MIB / wc:,.0f} | "
        f"{f'{disk:,.0f}' if disk else 'n/a'} |",
        "",
        f"Keys: {PROCESSES} processes, {SCRIPTS} scripts, {USERS} users, {FILES:,} files, more than the 4096 a "
        f"table keeps for files ({kinds}). MB is 2^20 bytes. Peak RSS is GNU time's (it includes about 1 MiB "
        f"of time's own image). The 1% slice meets fewer distinct files and takes {rss_small / 1024:.1f} MiB; "
        f"the whole file, 100 times larger, {rss_big / 1024:.1f} MiB: memory follows the keys kept (at most "
        "4096 per table), not the input's size.",
    ]
    return L
