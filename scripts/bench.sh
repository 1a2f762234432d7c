#!/usr/bin/env bash
# `make bench`: what filespy costs the machine, side by side with a bpftrace one-liner (issue 6).
#
# Builds the static filespy and the bench workloads (examples/bench_*.rs), runs the kprobe half in the Debian
# 6.12 VM (scripts/bench-vm.sh), then the host half on a private tmpfs (scripts/bench/run.py), and writes the
# markdown report to bench/results.md. Needs root, bpftrace, python3, and for the VM qemu + busybox-static.
#
# Environment: FILESPY_BENCH_VM=0 skips the VM half; FILESPY_BENCH_ROUNDS (default 5) rounds per median;
# FILESPY_BENCH_ONLY=report runs only section 6 (`filespy report` on a generated multi-GB file; no root,
# bpftrace or VM needed) and replaces just that section of bench/results.md; FILESPY_BENCH_ONLY=access, bursts
# or kernel likewise runs only section 5, 7 or 8 on the host (no VM), and vm only the VM half (section 1's
# kprobe part); costs only section 10, which compares this tree with filespy built at FILESPY_BENCH_BEFORE
# (default 519fe79: writes only, before the copies, io_uring and the other kinds; built once in
# .cache/bench-before/<commit>; FILESPY_BENCH_BEFORE=none leaves section 10 out of a full run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MUSL=x86_64-unknown-linux-musl
REL="$ROOT/target/$MUSL/release"
export PATH="$HOME/.cargo/bin:$PATH"
ROUNDS=${FILESPY_BENCH_ROUNDS:-5}

die() {
	printf 'bench: ERROR: %s\n' "$*" >&2
	exit 1
}

if [[ ${FILESPY_BENCH_ONLY:-} == report ]]; then
	(cd "$ROOT" && cargo build --release --target "$MUSL" --bin filespy)
	exec python3 "$ROOT/scripts/bench/run.py" --bin "$REL/filespy" --only report --rounds "$ROUNDS" \
		--out "$ROOT/bench/results.md"
fi

((EUID == 0)) || die "must run as root (filespy and bpftrace load BPF programs)"
for tool in bpftrace python3 cargo mount; do
	command -v "$tool" >/dev/null || die "missing tool '$tool'"
done
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$MUSL"; then
	rustup target add "$MUSL"
fi
(cd "$ROOT" && cargo build --release --target "$MUSL" --bin filespy --examples)

ONLY=${FILESPY_BENCH_ONLY:-}
BEFORE=${FILESPY_BENCH_BEFORE:-519fe79}
BEFORE_BIN=""
if [[ ( -z $ONLY || $ONLY == costs ) && $BEFORE != none ]]; then
	# The earlier tree, checked out and built once, with its own target directory.
	BEFORE_DIR="$ROOT/.cache/bench-before/$BEFORE"
	if [[ ! -x $BEFORE_DIR/target/$MUSL/release/filespy ]]; then
		rm -rf "$BEFORE_DIR" && mkdir -p "$(dirname "$BEFORE_DIR")"
		git -C "$ROOT" archive --format=tar --prefix=tree/ "$BEFORE" | tar -x -C "$(dirname "$BEFORE_DIR")"
		mv "$(dirname "$BEFORE_DIR")/tree" "$BEFORE_DIR"
		(cd "$BEFORE_DIR" && cargo build --release --target "$MUSL" --bin filespy)
	fi
	BEFORE_BIN="$BEFORE_DIR/target/$MUSL/release/filespy"
fi

VM_LOG=""
if [[ ( -z $ONLY || $ONLY == vm ) && ${FILESPY_BENCH_VM:-1} != 0 ]]; then
	VM_LOG="$ROOT/target/bench/vm.log"
	FILESPY_BENCH_ROUNDS=$ROUNDS "$ROOT/scripts/bench-vm.sh" "$VM_LOG" "$REL/filespy" "$REL/examples/bench_writer" "$REL/examples/bench_floor"
fi

# A private tmpfs: the writes measured are the syscall and the tracer, not a disk.
DIR=$(mktemp -d /tmp/filespy-bench.XXXXXX)
mount -t tmpfs -o size=1g tmpfs "$DIR"
trap 'umount "$DIR" && rmdir "$DIR"' EXIT
python3 "$ROOT/scripts/bench/run.py" --bin "$REL/filespy" --examples "$REL/examples" --dir "$DIR" \
	--rounds "$ROUNDS" --out "$ROOT/bench/results.md" ${VM_LOG:+--vm-log "$VM_LOG"} ${ONLY:+--only "$ONLY"} \
	${BEFORE_BIN:+--before-bin "$BEFORE_BIN" --before-commit "$BEFORE"}
