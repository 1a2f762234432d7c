#!/usr/bin/env python3
"""Host part of `make bench`: runs the workloads against filespy and bpftrace, prints a markdown report and
saves it. Called by scripts/bench.sh, which builds the binaries, mounts the tmpfs and runs the VM part.

Every figure is a median of alternating runs (conditions interleaved round by round, so drift from other
load on the machine spreads over all of them); nothing here asserts a target, it reports."""

import argparse
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import time

import report

BPFTRACE_PROG = "tracepoint:syscalls:sys_enter_write { @[comm] = count(); }"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Tracer:
    """A filespy or bpftrace process started in the background and stopped with SIGINT."""

    def __init__(self, argv, ready_re, ready_stream):
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if ready_stream == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        stream = self.proc.stdout if ready_stream == "stdout" else self.proc.stderr
        self.ready_line = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = stream.readline()
            if not line:
                break
            if re.search(ready_re, line):
                self.ready_line = line.strip()
                break
        if self.ready_line is None:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{argv[0]} never became ready: {err.strip()}")

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            try:
                with open(f"/proc/{self.proc.pid}/wchan") as f:
                    log(f"{self.proc.args[0]} stuck in {f.read()}")
            except OSError:
                pass
            self.proc.kill()
            _, err = self.proc.communicate()
            raise RuntimeError("tracer did not stop within 60 s of SIGINT")
        if self.proc.returncode != 0:
            raise RuntimeError(f"tracer exited {self.proc.returncode}: {err.strip()[-400:]}")
        return err


def foreign_bpf(exclude=()):
    """Pids of other processes holding BPF programs: other tracers (other filespy instances, kernel tests)
    run their programs on our writes too, so a measurement taken while one is attached is not ours alone."""
    pids = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in exclude or int(d) == me:
            continue
        try:
            for fd in os.listdir(f"/proc/{d}/fd"):
                if os.readlink(f"/proc/{d}/fd/{fd}") == "anon_inode:bpf-prog":
                    pids.append(int(d))
                    break
        except OSError:
            continue
    return pids


def wait_quiet(args, timeout=30):
    """Wait until no other process holds a BPF program; False if one still does after `timeout` s."""
    deadline = time.monotonic() + timeout
    while foreign_bpf():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def filespy(args, extra):
    return Tracer([args.bin, "--stats", "-o", "/dev/null", *extra], r"filespy: ready", "stderr")


def stats_of(stderr):
    m = re.search(r"filespy: stats events=(\d+) lost=(\d+)", stderr)
    if not m:
        raise RuntimeError(f"no stats line in filespy's stderr: {stderr.strip()[-400:]}")
    return int(m.group(1)), int(m.group(2))


def kv(out):
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", out)}


def run_tool(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return kv(r.stdout)


def fmt(x, digits=0):
    return f"{x:,.{digits}f}"


def writer_overhead(args):
    """Tight write loop under each condition, conditions rotated round by round."""
    conds = ["baseline", "filespy-match", "filespy-nomatch", "filespy-nomatch-all", "bpftrace"]
    ns = {c: [] for c in conds}
    delivered = []
    hook = "?"
    contended = 0
    for r in range(args.rounds):
        order = conds[r % len(conds):] + conds[: r % len(conds)]
        for c in order:
            target = os.path.join(args.dir, "w.bin" if "nomatch" in c else "w.log")
            # Retry a run during which another tracer was attached; keep the last try if none was clean.
            for attempt in range(3):
                quiet = wait_quiet(args)
                tracer = None
                if c.startswith("filespy"):
                    kinds = ["--events", "all"] if c.endswith("-all") else []
                    tracer = filespy(args, ["--path", args.dir, *kinds])
                    hook = re.search(r"hook=(\w+)", tracer.ready_line).group(1)
                elif c == "bpftrace":
                    tracer = Tracer(["bpftrace", "-e", BPFTRACE_PROG], r"Attaching", "stdout")
                    time.sleep(0.2)  # bpftrace prints before the attach completes
                out = run_tool([args.writer, "loop", target, str(args.writes)])
                ours = (tracer.proc.pid,) if tracer else ()
                quiet = quiet and not foreign_bpf(ours)
                err = tracer.stop() if tracer else ""
                if quiet:
                    break
            contended += not quiet
            ns[c].append(out["ns_per_write"])
            if c == "filespy-match":
                delivered.append(stats_of(err))
            log(f"round {r + 1} {c}: {out['ns_per_write']:.0f} ns/write" + ("" if quiet else " (contended)"))
    return ns, delivered, hook, contended


# The floor of the read hooks: programs that do nothing on the tracepoints filespy's read path uses.
FLOOR_HOOKS = ["tracepoint/syscalls/sys_enter_pread64", "tracepoint/syscalls/sys_exit_pread64"]
BPFTRACE_READ_PROG = "tracepoint:syscalls:sys_enter_pread64 { @[comm] = count(); }"


def access_overhead(args):
    """pread(2) loops under the access conditions and write(2) loops outside --path vs with a filtered
    extension, conditions rotated round by round (writer CPU time per call)."""
    conds = [
        "baseline", "floor", "bpftrace", "read-nomatch", "read-match",
        "write-ext-filtered", "write-path-filtered", "write-ext-filtered-probe-reads",
    ]
    ns = {c: [] for c in conds}
    sub = os.path.join(args.dir, "watched")
    os.makedirs(sub, exist_ok=True)
    for name in ("r.bin", "r.log"):
        with open(os.path.join(args.dir, name), "wb") as f:
            f.write(b"x" * 64)
    # As section 8: the differences sought are tens of ns.
    rounds, writes = max(args.rounds, 9), 5 * args.writes
    args.access_rounds, args.access_writes = rounds, writes
    for r in range(rounds):
        order = conds[r % len(conds):] + conds[: r % len(conds)]
        for c in order:
            tracer = None
            if c == "floor":
                tracer = Tracer([args.floor, *FLOOR_HOOKS], r"^ready", "stdout")
            elif c == "bpftrace":
                tracer = Tracer(["bpftrace", "-e", BPFTRACE_READ_PROG], r"Attaching", "stdout")
                time.sleep(0.2)
            elif c.startswith("read-"):
                tracer = filespy(args, ["--events", "read", "--path", args.dir])
            elif c == "write-ext-filtered":
                tracer = filespy(args, ["--path", args.dir])
            elif c == "write-ext-filtered-probe-reads":
                tracer = filespy(args, ["--path", args.dir, "--probe-reads"])
            elif c == "write-path-filtered":
                tracer = filespy(args, ["--path", sub])
            if c.startswith("write-"):
                ext = "w.log" if c == "write-path-filtered" else "w.bin"
                target = os.path.join(args.dir, ext)
                out = run_tool([args.writer, "loop", target, str(writes)])
                per_call = out["ns_per_write"]
            else:
                target = os.path.join(args.dir, "r.log" if c == "read-match" else "r.bin")
                out = run_tool([args.writer, "read", target, str(writes)])
                per_call = out["ns_per_read"]
            if tracer:
                tracer.stop()
            ns[c].append(per_call)
            log(f"access round {r + 1} {c}: {per_call:.0f} ns/call")
    return ns


ACCESS_HEADING = "## 5. Access events and `--path` in the kernel"


def access_section(ns, args, verdict):
    med = {c: statistics.median(v) for c, v in ns.items() if v}
    base = med["baseline"]
    added = {c: med[c] - base for c in med}
    floor = added["floor"]
    L = [
        ACCESS_HEADING,
        "",
        f"{args.access_rounds} alternating rounds of {args.access_writes:,} 64-byte pread(2) or write(2) to tmpfs, "
        "writer CPU time per call.",
        "",
        "| condition | ns/call (median) | added ns | added vs the floor's | all runs |",
        "|---|---:|---:|---:|---|",
    ]
    for c in ns:
        ratio = added[c] / floor if floor > 0 else float("nan")
        runs = ", ".join(f"{x:.0f}" for x in ns[c])
        L.append(f"| {c} | {med[c]:.0f} | {added[c]:.0f} | {ratio:.2f}× | {runs} |")
    L.append("")
    L.append(
        f"floor: empty programs (`return 0`, examples/bench_floor.rs) on `{' '.join(FLOOR_HOOKS)}` "
        "(the tracepoints the read path uses); bpftrace: "
        f"`{BPFTRACE_READ_PROG}`; read-nomatch: `--events read` and a `.bin` file (dropped by the "
        "extension filter in the kernel); read-match: a watched `.log` file, every read reported; "
        "write-ext-filtered: a `.bin` write (extension filter); write-path-filtered: a `.log` write "
        "outside `--path` (dropped at its entry by the path precheck where the kernel allows direct "
        "loads, as here; else after the walk at the exit); write-ext-filtered-probe-reads: the "
        "`.bin` write with `--probe-reads`, i.e. the extension filter as it was when this goal was "
        "set (every kernel read through the helper)."
    )
    read_ratio = added["read-nomatch"] / floor if floor > 0 else float("inf")
    L.append("")
    L.append(
        f"Targets: filtered read ≤ 1.2× the floor: {read_ratio:.2f}×, {verdict(read_ratio <= 1.2)}; "
        f"`--path` filtering of writes no dearer than the extension filter: "
        f"{added['write-path-filtered']:.0f} vs {added['write-ext-filtered']:.0f} ns, "
        f"{verdict(added['write-path-filtered'] <= added['write-ext-filtered'])} "
        f"(vs the extension filter as it was, with probe reads: "
        f"{added['write-ext-filtered-probe-reads']:.0f} ns, "
        f"{'no dearer' if added['write-path-filtered'] <= added['write-ext-filtered-probe-reads'] else 'dearer'})."
    )
    return L


# The floor of the write hooks: programs that only return 0 on the tracepoints a write(2) runs,
# loaded by examples/bench_floor.rs (bpftrace's `{ }` probes are not empty programs).
WRITE_FLOOR_HOOKS = ["tracepoint/syscalls/sys_enter_write", "tracepoint/syscalls/sys_exit_write"]
KERNEL_HEADING = "## 8. The kernel side against the hook floor (typed reads)"


def kernel_overhead(args):
    """write(2) loops under the floor, bpftrace's count, and filespy with typed reads and with
    --probe-reads, filtered out (a .bin) and reported (a .log), conditions rotated round by round."""
    conds = [
        "baseline", "floor", "bpftrace",
        "filtered", "filtered-probe-reads", "reported", "reported-probe-reads",
    ]
    ns = {c: [] for c in conds}
    reads = "?"
    delivered = []
    # The differences sought are tens of ns: more rounds and longer runs than the other sections.
    rounds, writes = max(args.rounds, 9), 5 * args.writes
    args.kernel_rounds, args.kernel_writes = rounds, writes
    for r in range(rounds):
        order = conds[r % len(conds):] + conds[: r % len(conds)]
        for c in order:
            wait_quiet(args)
            tracer = None
            if c == "floor":
                tracer = Tracer([args.floor, *WRITE_FLOOR_HOOKS], r"^ready", "stdout")
            elif c == "bpftrace":
                tracer = Tracer(["bpftrace", "-e", BPFTRACE_PROG], r"Attaching", "stdout")
                time.sleep(0.2)
            elif c != "baseline":
                extra = ["--probe-reads"] if c.endswith("-probe-reads") else []
                tracer = filespy(args, ["--path", args.dir, *extra])
                if not extra:
                    reads = re.search(r"reads=([\w,]+?),? cpus=", tracer.ready_line).group(1)
            target = os.path.join(args.dir, "k.bin" if c.startswith("filtered") else "k.log")
            out = run_tool([args.writer, "loop", target, str(writes)])
            err = tracer.stop() if tracer else ""
            if c.startswith("reported"):
                delivered.append(stats_of(err))
            ns[c].append(out["ns_per_write"])
            log(f"kernel round {r + 1} {c}: {out['ns_per_write']:.0f} ns/write")
    return ns, reads, delivered


def kernel_section(res, args, verdict):
    ns, reads, delivered = res
    rounds = args.kernel_rounds
    med = {c: statistics.median(v) for c, v in ns.items()}
    base = med["baseline"]
    added = {c: med[c] - base for c in med}
    floor, bt = added["floor"], added["bpftrace"]
    L = [
        KERNEL_HEADING,
        "",
        f"{rounds} alternating rounds of {args.kernel_writes:,} 64-byte write(2) to tmpfs, writer CPU time per "
        f"write; hook=tracepoint; typed reads in force on this kernel: `{reads}`.",
        "",
        "| condition | ns/write (median) | added ns | vs the floor | vs bpftrace | all runs |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for c in ns:
        vs_floor = added[c] / floor if floor > 0 else float("nan")
        vs_bt = added[c] / bt if bt > 0 else float("nan")
        runs = ", ".join(f"{x:.0f}" for x in ns[c])
        L.append(f"| {c} | {med[c]:.0f} | {added[c]:.0f} | {vs_floor:.2f}× | {vs_bt:.2f}× | {runs} |")
    L.append("")
    L.append(
        f"floor: empty programs (`return 0`, examples/bench_floor.rs) on `{' '.join(WRITE_FLOOR_HOOKS)}`; bpftrace: `{BPFTRACE_PROG}`; filtered: filespy `--path DIR`, a "
        "`.bin` file (dropped by the extension filter in the kernel); reported: a `.log` file, every write "
        "an event rendered to /dev/null; `-probe-reads`: the same with `--probe-reads` (every kernel read "
        "through bpf_probe_read_kernel, as on kernels without typed pointers)."
    )
    ev = [d[0] for d in delivered]
    lost = [d[1] for d in delivered]
    if ev:
        L.append(f"Reported runs delivered {min(ev):,}-{max(ev):,} events, lost {min(lost)}-{max(lost)}.")
    f_ratio = added["filtered"] / floor if floor > 0 else float("inf")
    r_ratio = added["reported"] / bt if bt > 0 else float("inf")
    L.append("")
    L.append(
        f"Targets: filtered ≤ 1.15× the floor: {f_ratio:.2f}×, {verdict(f_ratio <= 1.15)}; reported ≤ 2.5× "
        f"bpftrace's count: {r_ratio:.2f}×, {verdict(r_ratio <= 2.5)}."
    )
    return L


def rate_step(args, rate, extra):
    """(lost, delivered, achieved rate): the median try by loss. Every write of the paced writer is an
    event (`--comm` filters in the kernel), so writes not delivered count as lost even when no LOST
    record reported them (one still pending in a full ring when the run ends)."""
    tries = []
    for _ in range(args.rate_tries):
        wait_quiet(args)
        t = filespy(args, ["--path", args.dir, "--comm", "bench_writer", *extra])
        out = run_tool(
            [args.writer, "rate", os.path.join(args.dir, "t.log"), str(rate), "1", str(args.writer_threads)]
        )
        events, lost = stats_of(t.stop())
        tries.append((max(lost, int(out["writes"]) - events), events, out["rate"]))
    return sorted(tries)[len(tries) // 2]


def throughput(args, extra=()):
    """Paced writer stepping up; a rate counts as lossless when the median of its tries lost nothing."""
    rows = []
    best = None
    for rate in args.rates:
        lost, events, achieved = rate_step(args, rate, extra)
        rows.append((rate, achieved, events, lost))
        log(f"rate {rate}/s: achieved {achieved:.0f}/s, delivered {events}, lost {lost}")
        if achieved < rate * 0.95:
            log("the writer cannot go faster under filespy; stopping the sweep")
            break
        if lost == 0 and (best is None or achieved > best[1]):
            best = (rate, achieved)
        elif best is not None and rate >= 2 * best[0]:
            break
    double = None
    if best is not None:
        done = [r for r in rows if r[0] == 2 * best[0]]
        if done:
            double = done[0]
        else:
            lost, events, achieved = rate_step(args, 2 * best[0], extra)
            double = (2 * best[0], achieved, events, lost)
    return rows, best, double


def pipeline(args):
    """The replay without and with the identity section in the context records, alternating; the
    second's `stream_ns` minus the first's is the per-event cost of the identity fields."""
    plain, ids = [], []
    for _ in range(args.rounds):
        plain.append(run_tool([args.pipeline, "2000000", "8", "0"]))
        ids.append(run_tool([args.pipeline, "2000000", "8", "1"]))
    med = lambda runs: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    out = med(plain)
    out["ids_stream_ns"] = med(ids)["stream_ns"]
    out["ids_bytes_per_event"] = med(ids)["bytes_per_event"]
    return out, plain + ids


def startup(args):
    runs = [run_tool([args.startup, args.bin, args.dir, "100000"]) for _ in range(args.rounds)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}, runs


def cpu_ticks(pid):
    """(utime, stime) of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        after = f.read().rsplit(")", 1)[1].split()
    return int(after[11]), int(after[12])


# The bursts of issue 9: one writer at full speed, default buffers (the first two are the issue's, the
# third is tests/kernel_monitor.rs's burst).
BURSTS = [
    ("python os.pwrite 16 B x 100k", 100000,
     lambda t: [sys.executable, "-c",
                "import os,sys\nfd=os.open(sys.argv[1],os.O_WRONLY|os.O_CREAT|os.O_TRUNC,0o644)\n"
                "b=b'x'*16\nfor _ in range(100000): os.pwrite(fd,b,0)\n", t]),
    ("busybox dd bs=16 count=20000", 20000,
     lambda t: ["busybox", "dd", "if=/dev/zero", f"of={t}", "bs=16", "count=20000"]),
    ("dd bs=1 count=100000", 100000,
     lambda t: ["dd", "if=/dev/zero", f"of={t}", "bs=1", "count=100000"]),
]


def live_run(args, writer, writes, out_name="live.jsonl", extra=("--no-merge",), sizes=None):
    """filespy with default buffers writing JSON to `out_name` (a file on the tmpfs, or /dev/null) while
    `writer` runs: (delivered, lost, writes not delivered, filespy's CPU seconds from ready to stop, i.e.
    the reader's, and the part of them spent in the kernel, and the writes merged). `extra`: more
    filespy flags; by default `--no-merge`, so that what the rings cannot hold counts as lost (each
    write an event or a loss) rather than merged.

    filespy watches the writer's pid, a filter the kernel applies: a ring that overflows drops events
    before user space can tell which ones `--path` would have kept, so other processes' writes of
    .log files elsewhere would count in `lost` and blur the accounting (delivered + lost = writes).
    The writer waits on a pipe until filespy is ready, then execs in the same pid."""
    wait_quiet(args)
    target = os.path.join(args.dir, "burst.log")
    out = os.path.join(args.dir, out_name)
    gate = subprocess.Popen(
        ["sh", "-c", 'read _ && exec "$@"', "sh", *writer(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        t = Tracer(
            [args.bin, "--stats", "--pid", str(gate.pid), "--path", args.dir, "-o", out, *extra],
            r"filespy: ready",
            "stderr",
        )
    except RuntimeError:
        gate.kill()
        gate.wait()
        raise
    hz = os.sysconf("SC_CLK_TCK")
    ready = cpu_ticks(t.proc.pid)
    gate.stdin.write(b"go\n")
    gate.stdin.close()
    if gate.wait() != 0:
        t.stop()
        raise RuntimeError(f"{' '.join(writer(target))}: exit {gate.returncode}")
    # Let the reader catch up (the last events wait at most one 100 ms poll) before reading its CPU.
    time.sleep(0.3)
    now = cpu_ticks(t.proc.pid)
    cpu, sys_cpu = (sum(now) - sum(ready)) / hz, (now[1] - ready[1]) / hz
    err = t.stop()
    events, lost = stats_of(err)
    m = re.search(r" merged=(\d+)", err)
    if out != os.devnull:
        if sizes is not None:
            sizes.append(os.stat(out).st_size)
        os.unlink(out)
    return events, lost, writes - events, cpu, sys_cpu, int(m.group(1)) if m else 0


def bursts(args):
    """Each burst `args.rounds` times, bursts interleaved: medians of delivered %, and the worst run."""
    res = {name: [] for name, _, _ in BURSTS}
    for r in range(args.rounds):
        for name, writes, writer in BURSTS:
            events, lost, missing, cpu, _, _ = live_run(args, writer, writes)
            res[name].append((events, lost, missing, cpu))
            log(f"round {r + 1} burst {name}: delivered {events}/{writes}, lost {lost}, cpu {cpu:.2f} s")
    return res


# Where the live reader's JSON goes: a file on the tmpfs (as in real use), and /dev/null, whose write(2)
# costs nothing, so the difference is what writing the lines into the page cache costs.
LIVE_OUTPUTS = [("file on the tmpfs", "live.jsonl"), ("/dev/null", os.devnull)]


# What filespy's sink asks of each write(2) (its batch, seen with strace): for the bytes-alone floor.
SINK_WRITE = 256 << 10


def bytes_alone(path, total):
    """CPU seconds (user + system) of writing `total` bytes to a new file at `path` in SINK_WRITE
    calls: what the page cache charges for the reader's output alone, whoever renders it."""
    buf = b"x" * SINK_WRITE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    done = 0
    while done < total:
        done += os.write(fd, buf[: min(SINK_WRITE, total - done)])
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    os.close(fd)
    os.unlink(path)
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def live_rate(args):
    """The live reader's events per CPU-second: a 64-byte write loop of `args.live_writes` to a .log, the
    reader's CPU (user + system) from ready to stop per delivered event; each round once per output,
    then the bytes-alone floor for the file's bytes (`bytes_alone`), as (µs/event, bytes/event)."""
    runs = {name: [] for name, _ in LIVE_OUTPUTS}
    floor = []
    cmd = lambda t: [args.writer, "loop", t, str(args.live_writes)]
    for r in range(args.rounds):
        for name, out in LIVE_OUTPUTS:
            sizes = []
            events, lost, missing, cpu, sys_cpu, _ = live_run(args, cmd, args.live_writes, out, sizes=sizes)
            rate = events / cpu if cpu > 0 else float("nan")
            runs[name].append((rate, events, lost, missing, cpu, sys_cpu))
            log(
                f"round {r + 1} live to {name}: {events} events, lost {lost}, cpu {cpu:.2f} s "
                f"(sys {sys_cpu:.2f}): {rate:,.0f} events/s"
            )
            if sizes and events:
                alone = bytes_alone(os.path.join(args.dir, "alone.jsonl"), sizes[0])
                floor.append((alone / events * 1e6, sizes[0] / events))
                log(f"round {r + 1} the same {sizes[0]:,} bytes alone: {alone:.2f} s CPU")
    runs["floor"] = floor
    return runs


def burst_lines(args, res, live):
    L = [
        BURSTS_HEADING,
        "",
        f"One writer at full speed while filespy writes JSON lines to a file; {args.rounds} rounds, bursts "
        "interleaved, with `--no-merge` (so each write is an event or a loss; merging is section 9's). "
        "filespy watches the writer's pid (`--pid`, applied in the kernel), so no other "
        "process's events share the rings. delivered % = events delivered / writes made; lost is what "
        "filespy counted (LOST records and the kernel's failed outputs): exact accounting is delivered + "
        "lost = writes.",
        "",
        "| burst | writes | delivered % (median) | worst | lost (median) | delivered + lost − writes (runs) | reader CPU s (median) |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    ok_all = True
    for name, writes, _ in BURSTS:
        runs = res[name]
        pct = [e / writes * 100 for e, _, _, _ in runs]
        exact = all(e + l == writes for e, l, _, _ in runs)
        ok_all &= statistics.median(pct) >= 99.9 and exact
        L.append(
            f"| {name} | {writes:,} | {statistics.median(pct):.2f} | {min(pct):.2f} | "
            f"{statistics.median(l for _, l, _, _ in runs):,.0f} | "
            f"{', '.join(str(e + l - writes) for e, l, _, _ in runs)}{'' if exact else ' **inexact**'} | "
            f"{statistics.median(c for _, _, _, c in runs):.2f} |"
        )
    L.append("")
    L.append(
        f"Live reader: `bench_writer loop` of {args.live_writes:,} 64-byte writes; filespy's CPU time (user + "
        "system, /proc/PID/stat, 10 ms ticks) from ready to stop per delivered event, rounds alternating "
        "between the outputs:"
    )
    L.append("")
    L.append("| JSON to | events/s per core (median) | runs | user µs/event | system µs/event | system share | lost |")
    L.append("|---|---:|---|---:|---:|---:|---|")
    for name, _ in LIVE_OUTPUTS:
        runs = live[name]
        per = lambda f: statistics.median(f(r) / r[1] * 1e6 if r[1] else float("nan") for r in runs)
        L.append(
            f"| {name} | **{statistics.median(r[0] for r in runs):,.0f}** | "
            f"{', '.join(fmt(r[0]) for r in runs)} | {per(lambda r: r[4] - r[5]):.2f} | "
            f"{per(lambda r: r[5]):.2f} | {statistics.median(r[5] / r[4] * 100 for r in runs):.0f}% | "
            f"{', '.join(fmt(r[2]) for r in runs)} |"
        )
    rate = statistics.median(r[0] for r in live[LIVE_OUTPUTS[0][0]])
    L.append("")
    floor = live.get("floor") or []
    if floor:
        us = statistics.median(f[0] for f in floor)
        L.append(
            f"The bytes alone: writing the file's bytes ({statistics.median(f[1] for f in floor):,.0f} per "
            f"event) to a new file on the same tmpfs in {SINK_WRITE >> 10} KiB write(2) calls, as filespy's "
            f"sink does, costs **{us:.2f} µs of CPU per event** (runs: "
            f"{', '.join(f'{f[0]:.2f}' for f in floor)}): whatever renders them, one core writes at most "
            f"{1 / us * 1e6:,.0f} such events/s into the page cache."
        )
        L.append("")
    L.append(
        f"Targets: bursts ≥ 99.9% with exact accounting: {'met' if ok_all else '**missed**'}; "
        f"live reader ≥ 1.5M events/s per core, JSON to a file: {'met' if rate >= 1.5e6 else '**missed**'}."
    )
    return L


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = open("/proc/loadavg").read().split()[:3]
    return cpu, os.cpu_count(), platform.release(), " ".join(load)


VM_HEADING = "### Inside the Debian 6.12 VM (kprobe path)"


def vm_section(path, rounds):
    """Medians from the VM's `BENCH-VM cond=... ns_per_write=...` lines (see scripts/bench-vm.sh)."""
    if not path or not os.path.exists(path):
        return ["VM part not run (FILESPY_BENCH_VM=0 or no log)."], None
    text = open(path, errors="replace").read().replace("\r", "")
    kernel = re.search(r"BENCH-VM-KERNEL (\S+) hook=(\S+)(?: reads=(\S*))?", text)
    ns = {}
    for cond, v in re.findall(r"^BENCH-VM cond=(\S+) round=\d+ ns_per_write=([0-9.]+)", text, re.M):
        ns.setdefault(cond, []).append(float(v))
    if "baseline" not in ns or "filespy-match" not in ns or "filespy-nomatch" not in ns:
        return [f"VM part produced no complete result; see {path}."], None
    med = {c: statistics.median(v) for c, v in ns.items()}
    base = med["baseline"]
    reads = kernel.group(3) if kernel and kernel.group(3) else "?"
    lines = [
        f"Kernel {kernel.group(1) if kernel else '?'} under qemu TCG (hook={kernel.group(2) if kernel else '?'}, "
        f"typed reads in force: `{reads}`), tmpfs, {len(ns['baseline'])} alternating rounds; bpftrace cannot "
        "run there, so ratios are against the baseline and the floor (empty programs on the kprobe and "
        "kretprobe of `vfs_write`, examples/bench_floor.rs). TCG inflates absolute times: read only the ratios.",
        "",
        "| condition | ns/write (median) | added ns/write | ratio to baseline | added vs the floor's |",
        "|---|---:|---:|---:|---:|",
    ]
    floor = med.get("floor", base) - base
    for c in [c for c in ["baseline", "floor", "filespy-nomatch", "filespy-nomatch-probe-reads",
                          "filespy-match", "filespy-match-probe-reads"] if c in med]:
        vs = f"{(med[c] - base) / floor:.2f}×" if floor > 0 else "-"
        lines.append(
            f"| {c} | {fmt(med[c])} | {fmt(med[c] - base)} | {med[c] / base:.2f} | {vs} |"
        )
    added_nm, added_m = med["filespy-nomatch"] - base, med["filespy-match"] - base
    if added_m > 0:
        lines.append("")
        lines.append(f"Non-matching write costs {added_nm / added_m * 100:.0f}% of a matching write's added cost.")
    if floor > 0:
        lines.append(
            f"Targets on the kprobe path (ratios only): filtered ≤ 1.15× the floor: {added_nm / floor:.2f}×, "
            f"{'met' if added_nm / floor <= 1.15 else '**missed**'}."
        )
    return lines, med


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--examples", help="the bench_* examples' directory (all sections but report)")
    ap.add_argument("--dir", help="a tmpfs directory (all sections but report)")
    ap.add_argument(
        "--only",
        choices=["access", "report", "bursts", "kernel", "vm", "rings", "costs"],
        help="run this one section and replace (or add) its part of --out, leaving the rest as it is",
    )
    ap.add_argument("--report-gb", type=int, default=2, help="size of the report section's event file")
    ap.add_argument("--out", required=True)
    ap.add_argument("--vm-log")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--writes", type=int, default=200000)
    ap.add_argument("--rate-tries", type=int, default=3)
    ap.add_argument(
        "--rates",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[50000, 100000, 150000, 200000, 250000, 300000, 400000, 500000, 600000, 800000],
    )
    ap.add_argument("--writer-threads", type=int, default=2)
    ap.add_argument("--before-bin", help="filespy built at --before-commit, for section 10")
    ap.add_argument("--before-commit", default="519fe79")
    ap.add_argument("--cost-ops", type=int, default=1000000)
    ap.add_argument("--big-buffer-pages", type=int, default=256)
    # ~1 KB of JSON per event: 500k events fill half of the bench's 1 GiB tmpfs.
    ap.add_argument("--live-writes", type=int, default=500000)
    args = ap.parse_args()
    if args.only == "report":
        splice(args.out, REPORT_HEADING, report.section(args, log))
        return
    if args.only == "vm":
        splice(args.out, VM_HEADING, vm_section(args.vm_log, args.rounds)[0])
        return
    if not args.examples or not args.dir:
        ap.error("--examples and --dir are needed unless --only report")
    args.writer = os.path.join(args.examples, "bench_writer")
    args.pipeline = os.path.join(args.examples, "bench_pipeline")
    args.startup = os.path.join(args.examples, "bench_startup")
    args.floor = os.path.join(args.examples, "bench_floor")
    load_before = machine()[3]
    if args.only == "access":
        L = access_section(access_overhead(args), args, lambda ok: "met" if ok else "**missed**")
        splice(args.out, ACCESS_HEADING, L[2:])
        return
    if args.only == "rings":
        L = rings_lines(args, rings(args))
        L.append(f"Load average before/after: {load_before} / {machine()[3]}.")
        splice(args.out, RINGS_HEADING, L[2:])
        return
    if args.only == "kernel":
        L = kernel_section(kernel_overhead(args), args, lambda ok: "met" if ok else "**missed**")
        L.append(f"Load average before/after: {load_before} / {machine()[3]}.")
        splice(args.out, KERNEL_HEADING, L[2:])
        return
    if args.only == "costs":
        if not args.before_bin:
            ap.error("--only costs needs --before-bin")
        L = cost_lines(args, cost_before_after(args), args.before_commit)
        L.append(f"Load average before/after: {load_before} / {machine()[3]}.")
        splice(args.out, COSTS_HEADING, L[2:])
        return
    if args.only == "bursts":
        L = burst_lines(args, bursts(args), live_rate(args))
        L.append(f"Load average before/after: {load_before} / {machine()[3]}.")
        splice(args.out, BURSTS_HEADING, L[2:])
        return

    log("1/6 writer overhead")
    ns, delivered, hook, contended = writer_overhead(args)
    log("2/6 throughput")
    sweeps = [("default (64 pages)", throughput(args))]
    log(f"2/6 throughput again with --buffer-pages {args.big_buffer_pages}")
    sweeps.append(
        (f"--buffer-pages {args.big_buffer_pages}", throughput(args, ["--buffer-pages", str(args.big_buffer_pages)]))
    )
    log("3/6 user-space pipeline")
    pipe, _ = pipeline(args)
    log("4/6 start-up and footprint")
    start, start_runs = startup(args)
    log("5/6 access events and --path in the kernel")
    access = access_overhead(args)
    log("6/6 bursts and the live reader")
    burst_res, live = bursts(args), live_rate(args)
    log("and the kernel side against the hook floor")
    kernel_res = kernel_overhead(args)
    cost_res = None
    if args.before_bin:
        log("and the filtered write and unrelated syscalls before and after the new kinds")
        cost_res = cost_before_after(args)
    size = os.path.getsize(args.bin)

    cpu, ncpu, kernel, load_after = machine()
    commit = subprocess.run(
        ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True,
    ).stdout.strip()
    med = {c: statistics.median(v) for c, v in ns.items()}
    base = med["baseline"]
    bt_added = med["bpftrace"] - base
    added = {c: med[c] - base for c in med}
    ratio = {c: (added[c] / bt_added * 100 if bt_added > 0 else float("nan")) for c in med}

    def verdict(ok):
        return "met" if ok else "**missed**"

    L = []
    L.append("# filespy benchmark (`make bench`)")
    L.append("")
    L.append(
        f"Machine: Linux {kernel}, {cpu} × {ncpu} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"filespy {commit}. Load average before/after: {load_before} / {load_after} (other jobs share "
        "the machine: figures are medians of alternating runs, and noise of ±10-20% between runs is usual here)."
    )
    L.append("")
    L.append(
        f"## 1. Writer overhead (host, hook={hook}, tmpfs, {args.writes:,} × 64-byte write(2), "
        f"median of {args.rounds} alternating rounds)"
    )
    L.append("")
    L.append(
        "ns/write is the writer thread's CPU time per write (CLOCK_THREAD_CPUTIME_ID), which includes the "
        "BPF programs run in the syscall but not time lost to preemption by other jobs. Runs wait until no "
        "other process holds a BPF program (other tracers run on every write too) and are retried if one "
        f"appears; {contended} of {args.rounds * 5} runs were still contended."
    )
    L.append("")
    L.append("| condition | ns/write (median) | added ns/write | added vs bpftrace's added | all runs |")
    L.append("|---|---:|---:|---:|---|")
    for c in ["baseline", "filespy-nomatch", "filespy-nomatch-all", "filespy-match", "bpftrace"]:
        r = "—" if c == "baseline" else f"{ratio[c]:.0f}%"
        L.append(
            f"| {c} | {fmt(med[c])} | {fmt(added[c]) if c != 'baseline' else '—'} | {r} | "
            f"{', '.join(fmt(v) for v in ns[c])} |"
        )
    L.append("")
    L.append(
        "filespy-match: the file matches (`.log` under `--path`), every write is an event sent to user space "
        "and rendered to /dev/null; filespy-nomatch: `.bin`, dropped by the in-kernel extension filter; "
        "filespy-nomatch-all: the same with `--events all` (every kind's hooks loaded: copies, io_uring, "
        "the file-integrity and process kinds), which must not make the filtered write dearer; "
        f"bpftrace: `{BPFTRACE_PROG}`."
    )
    if delivered:
        ev = [e for e, _ in delivered]
        lo = [l for _, l in delivered]
        L.append(f"Matching runs delivered {min(ev):,}-{max(ev):,} events, lost {min(lo):,}-{max(lo):,}.")
    L.append("")
    L.append(
        f"Targets: non-matching ≤ 25% of bpftrace's added cost: {ratio['filespy-nomatch']:.0f}%, "
        f"{verdict(ratio['filespy-nomatch'] <= 25)}; matching ≤ 100%: {ratio['filespy-match']:.0f}%, "
        f"{verdict(ratio['filespy-match'] <= 100)}."
    )
    L.append("")
    L.append(VM_HEADING)
    L.append("")
    L.extend(vm_section(args.vm_log, args.rounds)[0])
    L.append("")
    L.append(
        f"## 2. Throughput (`--comm bench_writer --path DIR`, {args.writer_threads} paced writer threads, ~1 s "
        f"per step, median of {args.rate_tries} tries; lost = writes not delivered)"
    )
    L.append("")
    for name, (rows, best, double) in sweeps:
        L.append(f"Buffers: {name}.")
        L.append("")
        L.append("| target events/s | achieved writes/s | delivered | lost |")
        L.append("|---:|---:|---:|---:|")
        for rate, achieved, events, lost in rows:
            L.append(f"| {fmt(rate)} | {fmt(achieved)} | {fmt(events)} | {fmt(lost)} |")
        L.append("")
        if best is None:
            L.append("No rate was delivered without loss.")
        else:
            target = (
                f" (target ≥ 300k: {verdict(best[1] >= 0.99 * 300000)})" if name.startswith("default") else ""
            )
            L.append(
                f"Highest rate delivered with zero loss: **{best[1]:,.0f} events/s** "
                f"(step {best[0]:,}/s){target}."
            )
            if rows and rows[-1][1] < rows[-1][0] * 0.95:
                L.append(
                    f"The sweep ended where the writers could not reach {rows[-1][0]:,} writes/s: on 2 CPUs "
                    "the writers' syscalls (each running filespy's programs) and filespy's reader share the "
                    "CPUs with the rest of the machine's load."
                )
            if double:
                rate, achieved, events, lost = double
                total = events + lost
                pct = lost / total * 100 if total else 0
                L.append(
                    f"At twice that ({rate:,}/s requested, {achieved:,.0f}/s achieved): {lost:,} lost of "
                    f"{total:,} ({pct:.1f}%)."
                )
        L.append("")
    L.append("## 3. User-space cost (no kernel: raw records replayed through decode + cache + JSON)")
    L.append("")
    L.append("| decode ns/event | JSON ns/event | total ns/event | events/s on one core | bytes/event |")
    L.append("|---:|---:|---:|---:|---:|")
    L.append(
        f"| {pipe['decode_ns']:.0f} | {pipe['json_ns']:.0f} | {pipe['total_ns']:.0f} | "
        f"{fmt(pipe['events_per_s'])} | {pipe['bytes_per_event']:.0f} |"
    )
    L.append("")
    L.append(
        f"Median of {args.rounds} runs of 2M events (8 processes, 5-component paths, 5-word argv). "
        f"Target ≥ 1M events/s per core: {verdict(pipe['events_per_s'] >= 1e6)}."
    )
    L.append("")
    ids_cost = pipe["ids_stream_ns"] - pipe["stream_ns"]
    L.append(
        "The identity of every event (euid/egid, login uid and session, user and group names, entity ids, "
        "the parent and 3 ancestors, a container named by its cgroup): the whole stream "
        f"(`pipeline::Replay`) without it {pipe['stream_ns']:.0f} ns/event, with it "
        f"{pipe['ids_stream_ns']:.0f} ns/event: **{ids_cost:.0f} ns/event** for the identity (it is "
        "read in the kernel once per process image and enriched once per image, so the per-event part "
        "is rendering it; with 8 processes taking turns it is rendered every event). Medians of "
        "alternating runs."
    )
    L.append("")
    L.append("## 4. Start-up and footprint")
    L.append("")
    L.append("| exec → ready (wall) | CPU to ready | RSS at ready | steady RSS (after 100k events) | peak RSS (VmHWM) | static binary |")
    L.append("|---:|---:|---:|---:|---:|---:|")
    L.append(
        f"| {start['ready_ms']:.1f} ms | {start['ready_cpu_ms']:.1f} ms | {start['rss_ready_kib'] / 1024:.1f} MiB | "
        f"{start['rss_steady_kib'] / 1024:.1f} MiB | {max(r['hwm_kib'] for r in start_runs) / 1024:.1f} MiB | "
        f"{size / 1048576:.2f} MiB ({size:,} B) |"
    )
    L.append("")
    L.append(
        f"Medians of {args.rounds} starts (peak: the highest). CPU to ready is filespy's own CPU time "
        "(user + kernel, verifier included) from /proc/PID/schedstat; the wall time also counts waiting for "
        "a CPU on this shared machine. Targets: ready ≤ 50 ms: wall "
        f"{verdict(start['ready_ms'] <= 50)}, CPU {verdict(start['ready_cpu_ms'] <= 50)}; steady RSS ≤ 8 MiB {verdict(start['rss_steady_kib'] <= 8192)}; "
        f"binary ≤ 2 MiB {verdict(size <= 2 * 1048576)}."
    )
    L.append("")
    L.extend(access_section(access, args, verdict))
    L.append("")
    L.append(REPORT_HEADING)
    L.append("")
    L.extend(report.section(args, log))
    L.append("")
    L.extend(burst_lines(args, burst_res, live))
    L.append("")
    L.extend(kernel_section(kernel_res, args, verdict))
    if cost_res:
        L.append("")
        L.extend(cost_lines(args, cost_res, args.before_commit))
    text = "\n".join(L) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


COSTS_HEADING = "## 10. Before and after the new kinds: the filtered write and unrelated syscalls"
# The workloads: a write(2) dropped by the extension filter, two calls on hooked paths that move no
# file data (the programs run and drop them): io_uring NOP completions and pipe-to-pipe splices, and a
# syscall nothing hooks (getppid).
COST_WORKLOADS = {
    "write-filtered": lambda args: ["loop", os.path.join(args.dir, "w.bin"), str(args.cost_ops)],
    "uring-nop": lambda args: ["uring-nop", str(args.cost_ops // 2)],
    "splice-pipe": lambda args: ["splice-pipe", str(args.cost_ops)],
    "getppid": lambda args: ["getppid", str(args.cost_ops)],
}


def cost_before_after(args):
    """Each workload without a tracer, under the binary of `--before-bin` (writes only, before the copies,
    io_uring and file-integrity kinds) and under this one (default kinds, and `--events all`), the
    conditions rotated round by round; per-op CPU of the calling thread."""
    conds = ["baseline", "before", "after", "after-all"]
    # Differences of tens of ns on ops of 150-300 ns: more rounds than the other sections.
    rounds = max(args.rounds, 15)
    args.cost_rounds = rounds
    ns = {(c, w): [] for c in conds for w in COST_WORKLOADS}
    for r in range(rounds):
        for c in conds[r % len(conds):] + conds[: r % len(conds)]:
            wait_quiet(args)
            tracer = None
            if c != "baseline":
                binary = args.before_bin if c == "before" else args.bin
                kinds = ["--events", "all"] if c == "after-all" else []
                tracer = Tracer([binary, "--stats", "-o", "/dev/null", "--path", args.dir, *kinds],
                                r"filespy: ready", "stderr")
            for w, argv in COST_WORKLOADS.items():
                out = run_tool([args.writer, *argv(args)])
                ns[(c, w)].append(out.get("ns_per_write", out.get("ns_per_op")))
            if tracer:
                tracer.stop()
            log(f"round {r + 1} {c}: " + ", ".join(f"{w} {ns[(c, w)][-1]:.0f}" for w in COST_WORKLOADS))
    return ns


def cost_lines(args, ns, before_commit):
    med = {k: statistics.median(v) for k, v in ns.items()}
    L = [COSTS_HEADING, ""]
    L.append(
        f"{args.cost_rounds} alternating rounds; per round each workload runs once under each condition: "
        f"{args.cost_ops:,} 64-byte write(2)s of a `.bin` file on the tmpfs (dropped by the extension filter "
        f"in the kernel), {args.cost_ops // 2:,} io_uring NOP requests each submitted and waited for (the "
        f"io_uring program sees every completion and drops those of no watched file), {args.cost_ops:,} "
        f"splice(2)s of 64 bytes between two pipes (a hooked syscall, no file), {args.cost_ops:,} getppid(2)s "
        "(hooked by nothing: with any syscall tracepoint enabled every syscall takes the kernel's tracing "
        "path, before as after). ns/op is the calling thread's "
        f"CPU time. before: filespy {before_commit} (writes only, before the copies, io_uring and the other "
        "kinds); after: this tree with the default kinds; after-all: with `--events all`. All with "
        f"`--path {args.dir}`."
    )
    L.append("")
    L.append("| workload | baseline ns/op | before: added ns | after: added ns | after-all: added ns | "
             "after / before (whole op) | after-all / before (whole op) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for w in COST_WORKLOADS:
        base = med[("baseline", w)]
        b, a, aa = med[("before", w)], med[("after", w)], med[("after-all", w)]
        L.append(
            f"| {w} | {fmt(base)} | {fmt(b - base)} | {fmt(a - base)} | {fmt(aa - base)} | "
            f"{a / b:.2f}× | {aa / b:.2f}× |"
        )
    L.append("")
    d = {w: (med[("after", w)] - med[("before", w)], med[("after-all", w)] - med[("before", w)])
         for w in COST_WORKLOADS}
    L.append(
        f"After minus before, median ns/op (default kinds; `--events all`): filtered write "
        f"{d['write-filtered'][0]:+.0f}; {d['write-filtered'][1]:+.0f}, getppid {d['getppid'][0]:+.0f}; "
        f"{d['getppid'][1]:+.0f}, io_uring NOP {d['uring-nop'][0]:+.0f}; {d['uring-nop'][1]:+.0f}, pipe "
        f"splice {d['splice-pipe'][0]:+.0f}; {d['splice-pipe'][1]:+.0f}. No program runs on getppid in "
        "either tree: both enable syscall tracepoints, which send every syscall through the kernel's "
        "tracing path (what `before` adds over the baseline), so its after-minus-before "
        f"({d['getppid'][0] / med[('before', 'getppid')] * 100:+.0f}%) is the spread between conditions "
        "on this machine. The io_uring NOP and the pipe splice are on paths the new kinds hook, and pay for "
        "the programs run there even though they move no file data: `io_uring_complete` runs one program "
        "per completion (two with `--events all`: the write and the read program), and splice runs its "
        "enter and exit programs (the floor of a tracepoint program, see section 8)."
    )
    L.append("")
    L.append("All runs (ns/op):")
    L.append("")
    for (c, w), v in ns.items():
        L.append(f"- {w}, {c}: {', '.join(fmt(x) for x in v)}")
    L.append("")
    return L


REPORT_HEADING = "## 6. `filespy report` on a multi-GB event file"
RINGS_HEADING = "## 9. Ring size and wakeups: memory per CPU against the burst absorbed"
RING_PAGES = [8, 16, 64, 256, 1024]


def rings(args):
    """The dd burst (100k 1-byte writes at full speed) under each --buffer-pages, with --no-merge (what
    the rings hold is what is delivered one event per write) and with merging (the default)."""
    name, writes, writer = BURSTS[2]
    res = {p: {"single": [], "merged": []} for p in RING_PAGES}
    for r in range(args.rounds):
        for p in RING_PAGES:
            pages = ["--buffer-pages", str(p)]
            e, l, _, cpu, _, _ = live_run(args, writer, writes, extra=("--no-merge", *pages))
            res[p]["single"].append((e, l, cpu))
            e2, l2, _, _, _, m2 = live_run(args, writer, writes, extra=tuple(pages))
            res[p]["merged"].append((e2, l2, m2))
            log(f"round {r + 1} rings {p} pages: --no-merge {e}/{writes} lost {l}; merging {e2} + {m2} merged, lost {l2}")
    return name, writes, res


def rings_lines(args, got):
    name, writes, res = got
    page = os.sysconf("SC_PAGE_SIZE")
    L = [
        RINGS_HEADING,
        "",
        f"`{name}` ({writes:,} writes, one writer at full speed) while filespy writes JSON to a file on the "
        f"tmpfs, {args.rounds} rounds, sizes interleaved. Each ring is per CPU: memory is pages × "
        f"{page // 1024} KiB × CPUs (mapped and locked by the kernel). The reader is woken when a quarter "
        "of a ring is filled (`wakeup_watermark`), not per event: one wake-up reads hundreds of records, "
        "and an idle monitor costs no wake-ups; a ring smaller than a burst overflows before the reader "
        "runs.",
        "",
        "| --buffer-pages | memory per CPU | --no-merge: delivered % (median) | lost (median) | merging: single events % | merged writes | lost |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in RING_PAGES:
        s, m = res[p]["single"], res[p]["merged"]
        L.append(
            f"| {p} | {p * page // 1024:,} KiB | {statistics.median(e / writes * 100 for e, _, _ in s):.2f} | "
            f"{statistics.median(l for _, l, _ in s):,.0f} | "
            f"{statistics.median(e / writes * 100 for e, _, _ in m):.2f} | "
            f"{statistics.median(x for _, _, x in m):,.0f} | {max(l for _, l, _ in m):,} |"
        )
    whole = [p for p in RING_PAGES
             if statistics.median(e / writes * 100 for e, _, _ in res[p]["single"]) >= 99.9]
    lossless = all(l == 0 for p in RING_PAGES for _, l, _ in res[p]["merged"])
    L.append("")
    L.append(
        f"Smallest ring that delivered this burst one event per write (median ≥ 99.9%): "
        f"{f'{whole[0]} pages' if whole else 'none of these'}; the default is 64. With merging, lost was "
        f"{'0 at every size' if lossless else '**not 0 at every size**'}: a small ring trades per-write detail "
        "(merged events) for memory, never writes; a larger one buys per-write detail for longer bursts at "
        "linear memory cost."
    )
    return L


BURSTS_HEADING = "## 7. Bursts and the live reader (host, default buffers, JSON to a file on the tmpfs)"


def splice(out, heading, body):
    """Replaces the section under `heading` in the markdown file `out` (up to the next `## ` heading) with
    `body`, or appends it; prints the section."""
    old = open(out).read() if os.path.exists(out) else ""
    section = heading + "\n\n" + "\n".join(body) + "\n"
    start = old.find(heading + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + section + (old[end:] if end >= 0 else "")
    with open(out, "w") as f:
        f.write(new)
    print(section)


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
        log(f"ERROR: {e}")
        sys.exit(1)
