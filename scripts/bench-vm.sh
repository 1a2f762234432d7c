#!/usr/bin/env bash
# The kprobe half of `make bench`: boots the Debian 6.12 kernel under qemu with an initramfs holding busybox,
# filespy, bench_writer and bench_floor, and runs the writer-overhead rounds there (baseline; the floor:
# empty programs on the kprobe and kretprobe of vfs_write; filespy matching and not matching, with typed
# reads and with --probe-reads; bpftrace cannot run in the VM). Prints `BENCH-VM ...` lines into the log
# given as $1, which scripts/bench/run.py turns into medians and ratios.
#
# Usage: scripts/bench-vm.sh LOG FILESPY BENCH_WRITER [BENCH_FLOOR]
# Environment: FILESPY_BENCH_VM_KERNEL (default 6.12.117+deb12-amd64), FILESPY_BENCH_VM_WRITES (default 50000),
#              FILESPY_BENCH_ROUNDS (default 5), FILESPY_VM_TIMEOUT (seconds, default 900).
set -euo pipefail
# Reuse vm-test.sh's tool checks and kernel download (sourcing defines its functions without running it).
# shellcheck source=vm-test.sh
source "$(dirname "$0")/vm-test.sh"

BENCH_LOG=${1:?usage: bench-vm.sh LOG FILESPY BENCH_WRITER}
FILESPY=${2:?filespy binary}
WRITER=${3:?bench_writer binary}
FLOOR=${4:-$(dirname "$WRITER")/bench_floor}
VM_KERNEL=${FILESPY_BENCH_VM_KERNEL:-6.12.117+deb12-amd64}
# Its own default, not vm-test.sh's per-boot one: the bench rounds run far longer than the tests.
TIMEOUT=${FILESPY_VM_TIMEOUT:-900}
WRITES=${FILESPY_BENCH_VM_WRITES:-50000}
ROUNDS=${FILESPY_BENCH_ROUNDS:-5}

bench_log() { printf 'bench-vm: %s\n' "$*" >&2; }

# The VM's /init: rounds of the three conditions, rotated each round so drift spreads over all of them.
write_bench_init() {
	cat >"$1" <<-EOF
		#!/bin/busybox sh
		/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
		/bin/busybox --install -s
		export PATH=/bin:/sbin:/usr/bin:/usr/sbin
		mount -t devtmpfs devtmpfs /dev
		exec </dev/console >/dev/console 2>&1
		echo
		mount -t proc proc /proc
		mount -t sysfs sysfs /sys
		mount -t tracefs tracefs /sys/kernel/tracing
		mount -t debugfs debugfs /sys/kernel/debug
		mount -t tmpfs tmpfs /tmp
		WRITES=$WRITES
		ROUNDS=$ROUNDS
	EOF
	cat >>"$1" <<-'EOF'
		start_filespy() {
		    : >/tmp/fs.err
		    /bin/filespy --path /tmp/w -o /dev/null --stats "$@" 2>/tmp/fs.err &
		    FS=$!
		    i=0
		    while ! grep -q 'filespy: ready' /tmp/fs.err; do
		        i=$((i + 1))
		        if [ $i -gt 600 ] || ! kill -0 $FS 2>/dev/null; then echo "BENCH-VM-ERROR filespy not ready: $(cat /tmp/fs.err)"; return 1; fi
		        sleep 0.1
		    done
		}
		stop_filespy() { kill -INT $FS; wait $FS; grep -E 'filespy: (stats|kernel sent)' /tmp/fs.err | sed 's/^/BENCH-VM-STATS /'; }
		mkdir -p /tmp/w
		start_filespy && echo "BENCH-VM-KERNEL $(uname -r) hook=$(sed -n 's/.*hook=\([a-z]*\).*/\1/p' /tmp/fs.err) reads=$(sed -n 's/.*reads=\([a-z_,]*\), .*/\1/p' /tmp/fs.err)" && stop_filespy
		CONDS="baseline floor filespy-nomatch filespy-match filespy-nomatch-probe-reads filespy-match-probe-reads"
		r=1
		while [ $r -le $ROUNDS ]; do
		    # Rotate the order by the round, so drift spreads over every condition.
		    order=""; rest=""; i=0
		    for c in $CONDS; do
		        if [ $i -lt $(( (r - 1) % 6 )) ]; then rest="$rest $c"; else order="$order $c"; fi
		        i=$((i + 1))
		    done
		    for c in $order $rest; do
		        f=/tmp/w/w.log
		        case $c in *nomatch*) f=/tmp/w/w.bin ;; esac
		        case $c in
		            baseline) ;;
		            floor)
		                /bin/bench_floor kprobe/vfs_write kretprobe/vfs_write >/tmp/floor.out 2>&1 &
		                FL=$!
		                i=0
		                while ! grep -q ready /tmp/floor.out; do
		                    i=$((i + 1)); [ $i -gt 600 ] && { echo "BENCH-VM-ERROR floor: $(cat /tmp/floor.out)"; break; }
		                    sleep 0.1
		                done ;;
		            *probe-reads) start_filespy --probe-reads || break ;;
		            *) start_filespy || break ;;
		        esac
		        out=$(/bin/bench_writer loop $f $WRITES)
		        case $c in
		            baseline) ;;
		            floor) kill -INT $FL; wait $FL ;;
		            *) stop_filespy ;;
		        esac
		        echo "BENCH-VM cond=$c round=$r $out"
		    done
		    r=$((r + 1))
		done
		echo "BENCH-VM-DONE"
		sync
		poweroff -f
	EOF
	chmod 755 "$1"
}

bench_vm_main() {
	check_tools
	mkdir -p "$KERNEL_CACHE" "$(dirname "$BENCH_LOG")"
	fetch_kernel "$VM_KERNEL"
	local stage initrd
	stage=$(mktemp -d)
	initrd=$(mktemp --suffix=.cpio.gz)
	mkdir -p "$stage"/{bin,dev,proc,sys,tmp}
	cp "$(command -v busybox)" "$stage/bin/busybox"
	cp "$FILESPY" "$stage/bin/filespy"
	cp "$WRITER" "$stage/bin/bench_writer"
	cp "$FLOOR" "$stage/bin/bench_floor"
	write_bench_init "$stage/init"
	(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$initrd"
	rm -rf "$stage"
	bench_log "booting $VM_KERNEL ($ROUNDS rounds of $WRITES writes per condition)"
	local rc=0
	timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 1024 -smp 2 -nographic -no-reboot \
		-kernel "$KERNEL_CACHE/$VM_KERNEL/vmlinuz" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1" </dev/null >"$BENCH_LOG" 2>&1 || rc=$?
	rm -f "$initrd"
	if ! tr -d '\r' <"$BENCH_LOG" | grep -q '^BENCH-VM-DONE'; then
		bench_log "ERROR: the VM did not finish (qemu rc=$rc); last lines of $BENCH_LOG:"
		tail -n 30 "$BENCH_LOG" | tr -d '\r' >&2
		return 1
	fi
	tr -d '\r' <"$BENCH_LOG" | grep '^BENCH-VM' >&2
}

bench_vm_main
