#!/usr/bin/env bash
# Runs filespy's kernel tests (tests/kernel_*.rs) inside Debian kernels booted under qemu.
#
# Why: the host kernel has no kprobes, so the kprobe path can only be exercised in a VM. Each kernel boots an
# initramfs of busybox + the static musl binaries; /init runs every test binary and prints verdict lines that
# this script checks in the serial console log. Exits non-zero if any test fails, a verdict is missing
# (panic, hang, no report) or qemu times out.
#
# Environment:
#   FILESPY_VM_KERNELS   space-separated Debian kernel ABI names. An entry `unstable:ABI` pins ABI from Debian
#                        unstable and falls back to unstable's newest kernel (what linux-image-amd64 depends on)
#                        once the pinned one is gone from the archive; the log and summary say which one ran.
#                        Default: bullseye's 5.10, bookworm's 6.1, bookworm-backports' 6.12 and unstable's 7.2.
#   FILESPY_VM_TESTS     space-separated kernel_* test targets to build and run (e.g. "kernel_alerts kernel_probes"),
#                        for a quicker run of the ones a change touches. Default: every tests/kernel_*.rs.
#   FILESPY_VM_TIMEOUT   seconds allowed per boot+test (default 1200, about 1.7x the slowest boot+test under TCG
#                        on this host today, 580-760 s; a VM that never reports is booted once more)
#   FILESPY_VM_BUDGET    seconds for all boots together, retries included (default 3900; all four took
#                        ~2850 s alone on the 2-vCPU development host in December 2026):
#                        however many kernels hang, the VM stage ends in time for CI's 90 minutes (the host part
#                        takes ~20); kernels left unbooted fail.
set -euo pipefail

# BASH_SOURCE, not $0: also right when sourced (scripts/bench-vm.sh).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.cache"
KERNEL_CACHE="$CACHE/kernels"
LOG_DIR="$CACHE/vm-logs"
MUSL=x86_64-unknown-linux-musl
KERNELS=${FILESPY_VM_KERNELS:-"5.10.0-46-amd64 6.1.0-56-amd64 6.12.117+deb12-amd64 unstable:7.2.13+deb14-amd64"}
TIMEOUT=${FILESPY_VM_TIMEOUT:-1200}
BUDGET=${FILESPY_VM_BUDGET:-3900}
TESTS=${FILESPY_VM_TESTS:-}
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf 'vm-test: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# Fail early and clearly on a missing tool instead of halfway through a boot.
check_tools() {
	local tool
	for tool in cargo python3 qemu-system-x86_64 busybox cpio gzip dpkg-deb apt-get timeout tar; do
		command -v "$tool" >/dev/null || die "missing tool '$tool' (.ci/run installs qemu-system-x86 busybox-static cpio)"
	done
	# A dynamic busybox would not run inside an initramfs that has no libc.
	if ldd "$(command -v busybox)" >/dev/null 2>&1; then
		die "$(command -v busybox) is dynamically linked; install busybox-static"
	fi
}

# Builds the static filespy binary and the kernel_* test binaries; fills FILESPY and TEST_BINS.
build_binaries() {
	if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$MUSL"; then
		rustup target add "$MUSL"
	fi
	(cd "$ROOT" && cargo build --release --target "$MUSL")
	FILESPY="$ROOT/target/$MUSL/release/filespy"
	[[ -x $FILESPY ]] || die "filespy binary not found at $FILESPY"

	# Cargo names test executables with a hash, so ask cargo which files it built for the kernel_* targets.
	local json t
	local only=()
	for t in $TESTS; do
		[[ $t == kernel_* && -f $ROOT/tests/$t.rs ]] || die "FILESPY_VM_TESTS: no test target $t (tests/kernel_*.rs)"
		only+=(--test "$t")
	done
	json=$(cd "$ROOT" && cargo test --release --target "$MUSL" --no-run --message-format=json "${only[@]}")
	mapfile -t TEST_BINS < <(python3 -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    t = msg.get("target", {})
    if (msg.get("reason") == "compiler-artifact" and msg.get("executable")
            and "test" in t.get("kind", []) and t.get("name", "").startswith("kernel_")):
        print(msg["executable"])
' <<<"$json")
	((${#TEST_BINS[@]} > 0)) || die "no kernel_* test binaries were built (expected tests/kernel_*.rs)"
	log "test binaries: ${TEST_BINS[*]##*/}"
}

# The private apt configuration under .cache/apt: Debian's bullseye, bookworm (each with -updates and
# -security; bookworm-backports for 6.12) and unstable. Used only when the system's sources lack a kernel, so
# the machine's own apt setup is never edited; the indexes are refreshed once per run.
PRIVATE_APT_DIR="$CACHE/apt"
PRIVATE_APT_FRESH=0
private_apt_opts() {
	local dir=$PRIVATE_APT_DIR
	PRIVATE_APT_OPTS=(
		-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts="$dir/parts"
		-o Dir::State::Lists="$dir/lists" -o Dir::State::status="$dir/status"
		-o Dir::Cache="$dir" -o Dir::Cache::archives="$dir/archives"
		# Only the Packages indexes are needed: no translations, no AppStream metadata.
		-o Acquire::Languages=none -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
		-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
		-o APT::Sandbox::User=root
	)
}

private_apt_update() {
	((PRIVATE_APT_FRESH)) && return 0
	local dir=$PRIVATE_APT_DIR key=/usr/share/keyrings/debian-archive-keyring.gpg
	mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/parts"
	: >"$dir/status"
	local suite
	{
		for suite in bullseye bullseye-updates bookworm bookworm-updates bookworm-backports sid; do
			echo "deb [signed-by=$key] http://deb.debian.org/debian $suite main"
		done
		for suite in bullseye-security bookworm-security; do
			echo "deb [signed-by=$key] http://deb.debian.org/debian-security $suite main"
		done
	} >"$dir/sources.list"
	log "updating the private apt indexes (bullseye, bookworm, unstable) in $dir"
	private_apt_opts
	apt-get -q "${PRIVATE_APT_OPTS[@]}" update >/dev/null || die "apt-get update with $dir/sources.list failed"
	PRIVATE_APT_FRESH=1
}

private_apt() {
	private_apt_update
	private_apt_opts
	apt-get -q "${PRIVATE_APT_OPTS[@]}" "$@"
}

private_apt_cache() {
	private_apt_update
	private_apt_opts
	apt-cache "${PRIVATE_APT_OPTS[@]}" "$@"
}

# Whether a package named $1 is in the private apt indexes.
private_apt_has() {
	[[ -n $(private_apt_cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Package: //p') ]]
}

# Downloads package $1 into directory $2: from the system's sources if they have it, else privately.
download_deb() {
	local pkg=$1 dir=$2
	log "downloading $pkg"
	(cd "$dir" && apt-get -q -o APT::Sandbox::User=root download "$pkg" 2>/dev/null) && return 0
	log "$pkg not in the system's apt sources; trying Debian's bullseye, bookworm and unstable privately"
	private_apt_update # here, not in the subshell below, so it happens once per run
	(cd "$dir" && private_apt download "$pkg")
}

# Sets RESOLVED to the kernel ABI name an entry of FILESPY_VM_KERNELS stands for (not a subshell: the
# private indexes stay fresh for the download). `unstable:ABI` is ABI while it is cached or in the archive,
# else unstable's newest (the ABI its linux-image-amd64 depends on).
resolve_kernel() {
	local entry=$1
	RESOLVED=$entry
	[[ $entry == unstable:* ]] || return 0
	local pinned=${entry#unstable:}
	RESOLVED=$pinned
	[[ -s $KERNEL_CACHE/$pinned/vmlinuz ]] && return 0 # a cached pinned kernel is used as it is
	private_apt_update # here, not in the subshells below, so it happens once and its errors show
	private_apt_has "linux-image-$pinned" && return 0
	RESOLVED=$(private_apt_cache show linux-image-amd64/unstable 2>/dev/null |
		sed -n 's/^Depends:.*linux-image-\([^ ,]*-amd64\).*/\1/p' | head -n 1 || true)
	[[ -n $RESOLVED ]] ||
		die "pinned kernel $pinned is gone from unstable, and unstable's linux-image-amd64 names no kernel"
	log "pinned kernel $pinned is gone from unstable; running unstable's newest, $RESOLVED"
	FALLBACKS+=("$RESOLVED: unstable's newest (pinned $pinned is gone from the archive)")
}

# Ensures $KERNEL_CACHE/<kernel>/vmlinuz exists, downloading the kernel's .deb only on the first run. Older
# packages hold boot/vmlinuz-<kernel> in linux-image-<kernel>; newer ones make that a meta package and ship
# usr/lib/modules/<kernel>/vmlinuz in linux-binary-<kernel>: the first package holding either is used.
fetch_kernel() {
	local kernel=$1 dir="$KERNEL_CACHE/$1"
	[[ -s $dir/vmlinuz ]] && return 0
	mkdir -p "$dir"
	local pkg deb member kre
	kre=$(sed 's/[.+]/\\&/g' <<<"$kernel")
	for pkg in "linux-image-$kernel" "linux-binary-$kernel"; do
		rm -f "$dir"/*.deb
		download_deb "$pkg" "$dir" || continue
		deb=$(ls "$dir"/*.deb)
		member=$(dpkg-deb --fsys-tarfile "$deb" | tar -t |
			grep -xE "\./boot/vmlinuz-$kre|\./usr/lib/modules/$kre/vmlinuz" | head -n 1 || true)
		if [[ -z $member ]]; then
			log "$pkg holds no vmlinuz (a meta package)"
			continue
		fi
		# Only the compressed kernel is needed: everything it needs is built in, so the .deb (70-110 MB,
		# mostly modules) is dropped once vmlinuz is out.
		dpkg-deb --fsys-tarfile "$deb" | tar -xO "$member" >"$dir/vmlinuz.part" || die "cannot extract $member from $deb"
		mv "$dir/vmlinuz.part" "$dir/vmlinuz"
		rm -f "$deb"
		return 0
	done
	rm -f "$dir"/*.deb
	die "no vmlinuz for kernel $kernel in linux-image-$kernel or linux-binary-$kernel from any source"
}

# The VM's /init: mount what filespy needs, run each test binary, print one verdict per binary and overall.
write_init() {
	cat >"$1" <<-'EOF'
		#!/bin/busybox sh
		/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
		/bin/busybox --install -s
		export PATH=/bin:/sbin:/usr/bin:/usr/sbin
		mount -t devtmpfs devtmpfs /dev
		exec </dev/console >/dev/console 2>&1
		echo # the firmware leaves the cursor mid-line; start verdict lines on a fresh one
		mount -t proc proc /proc
		mount -t sysfs sysfs /sys
		mount -t tracefs tracefs /sys/kernel/tracing
		mount -t debugfs debugfs /sys/kernel/debug
		mount -t tmpfs tmpfs /tmp
		export FILESPY_VM=1 FILESPY_REQUIRE_KERNEL=1 FILESPY_EXPECT_KPROBE=1 FILESPY_BIN=/bin/filespy
		export HOME=/tmp TMPDIR=/tmp RUST_BACKTRACE=1
		kernel=$(uname -r)
		overall=PASS
		# Guest uptimes around the tests split the wall time into boot and tests.
		echo "FILESPY-VM-BOOTED kernel=$kernel uptime=$(cut -d' ' -f1 /proc/uptime)"
		for t in /tests/*; do
		    name=${t##*/}
		    echo "FILESPY-VM-BEGIN kernel=$kernel test=$name"
		    "$t" --test-threads=1 --nocapture
		    rc=$?
		    if [ "$rc" -eq 0 ]; then verdict=PASS; else verdict=FAIL; overall=FAIL; fi
		    echo "FILESPY-VM-TEST kernel=$kernel test=$name rc=$rc $verdict"
		done
		echo "FILESPY-VM-TESTED kernel=$kernel uptime=$(cut -d' ' -f1 /proc/uptime)"
		echo "FILESPY-VM-RESULT kernel=$kernel $overall"
		sync
		poweroff -f
	EOF
	chmod 755 "$1"
}

# Packs busybox, filespy, the test binaries and /init into a gzip'd newc cpio at $1.
build_initramfs() {
	local out=$1 stage
	stage=$(mktemp -d "$CACHE/vm-initramfs.XXXXXX")
	# mktemp makes it 0700, and it becomes the VM's /: other users (the tests' uid changes) must be
	# able to reach /bin.
	chmod 755 "$stage"
	mkdir -p "$stage"/{bin,dev,proc,sys,tmp,tests}
	cp "$(command -v busybox)" "$stage/bin/busybox"
	cp "$FILESPY" "$stage/bin/filespy"
	local bin name
	for bin in "${TEST_BINS[@]}"; do
		name=${bin##*/}
		cp "$bin" "$stage/tests/${name%-*}" # drop cargo's hash suffix for readable verdicts
	done
	write_init "$stage/init"
	(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out"
	rm -rf "$stage"
}

# Boots one kernel with the initramfs and checks its verdict lines; returns non-zero on any failure.
# TCG runs single-threaded (`thread=single`, still 2 vCPUs): under multi-threaded TCG a kprobe being
# inserted (text_poke_bp: int3 + IPIs) while the other vCPU executes that code once hung both vCPUs
# in a soft lockup; one host thread sees every code patch at once.
run_vm() {
	local kernel=$1 initrd=$2 logf="$LOG_DIR/$1.log" start end rc limit
	limit=$((BUDGET - ($(date +%s) - VM_START)))
	if ((limit <= 0)); then
		log "kernel $kernel: FAIL: not booted, the ${BUDGET}s of FILESPY_VM_BUDGET are spent"
		SUMMARY+=("$kernel: FAIL (not booted: FILESPY_VM_BUDGET of ${BUDGET}s spent)")
		return 1
	fi
	((limit < TIMEOUT)) || limit=$TIMEOUT
	start=$(date +%s.%N)
	set +e
	timeout "$limit" qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 1024 -smp 2 -nographic -no-reboot \
		-kernel "$KERNEL_CACHE/$kernel/vmlinuz" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1" </dev/null 2>&1 | tee "$logf"
	rc=${PIPESTATUS[0]}
	set -e
	end=$(date +%s.%N)
	local secs verdict expected got failed kre
	# ABI names hold regex metacharacters ("6.12.117+deb12"): escape them for grep -E.
	kre=$(sed 's/[.+]/\\&/g' <<<"$kernel")
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	# The serial console ends lines with \r\n; strip \r so matches are exact.
	expected=${#TEST_BINS[@]}
	got=$(tr -d '\r' <"$logf" | grep -cE "^FILESPY-VM-TEST kernel=$kre test=[^ ]+ rc=[0-9]+ (PASS|FAIL)\$" || true)
	failed=$(tr -d '\r' <"$logf" | grep -E "^FILESPY-VM-TEST kernel=$kre .* FAIL\$" || true)
	verdict=$(tr -d '\r' <"$logf" | grep -oE "^FILESPY-VM-RESULT kernel=$kre (PASS|FAIL)\$" | awk '{print $3}' || true)

	local problem=""
	if ((rc == 124)); then
		problem="qemu timed out after ${limit}s"
		((limit == TIMEOUT)) || problem+=" (what was left of FILESPY_VM_BUDGET)"
	elif [[ -z $verdict ]]; then
		problem="no verdict line for kernel $kernel (panic, hang, wrong kernel or no report; qemu rc=$rc)"
	elif [[ $verdict != PASS ]]; then
		problem="tests failed: ${failed//$'\n'/; }"
	elif ((got != expected)); then
		problem="$got test verdicts for $expected test binaries"
	fi
	if [[ -n $problem ]]; then
		log "kernel $kernel: FAIL in ${secs}s: $problem"
		log "last 40 lines of $logf:"
		tail -n 40 "$logf" | tr -d '\r' >&2
		SUMMARY+=("$kernel: FAIL (${secs}s) $problem")
		# A VM that never reported (hang, emulator fault) is told apart from tests that failed.
		[[ -n $verdict ]] && return 1
		return 2
	fi
	# Tests: guest uptime from the first test's start to the last one's end; boot: the rest of the wall time
	# (firmware, decompression, kernel start-up, power-off).
	local tests
	tests=$(tr -d '\r' <"$logf" | awk -v k="kernel=$kernel" -v secs="$secs" '
		$2 == k && $1 == "FILESPY-VM-BOOTED" { sub("uptime=", "", $3); b = $3 }
		$2 == k && $1 == "FILESPY-VM-TESTED" { sub("uptime=", "", $3); t = $3 }
		END { if (b != "" && t != "") printf "boot %.1fs + tests %.1fs", secs - (t - b), t - b; else printf "boot+test" }')
	log "kernel $kernel: PASS in ${secs}s ($tests, $got test binaries)"
	SUMMARY+=("$kernel: PASS (${secs}s: $tests)")
}

main() {
	check_tools
	mkdir -p "$KERNEL_CACHE" "$LOG_DIR"
	build_binaries
	local kernel entry resolved=()
	FALLBACKS=()
	for entry in $KERNELS; do
		resolve_kernel "$entry"
		fetch_kernel "$RESOLVED"
		resolved+=("$RESOLVED")
	done
	KERNELS=${resolved[*]}
	log "kernels: $KERNELS"
	local initrd="$CACHE/vm-initramfs.cpio.gz"
	build_initramfs "$initrd"
	log "initramfs: $(du -h "$initrd" | cut -f1)"

	SUMMARY=()
	VM_START=$(date +%s)
	local failures=0
	local rc
	for kernel in $KERNELS; do
		rc=0
		run_vm "$kernel" "$initrd" || rc=$?
		if ((rc == 2)); then
			# Emulated SMP under TCG can wedge a guest; a real hang of ours hangs again and still fails.
			# Failed tests are never retried.
			cp "$LOG_DIR/$kernel.log" "$LOG_DIR/$kernel.hang.log"
			log "kernel $kernel: no verdict; booting it once more (first log kept as $kernel.hang.log)"
			rc=0
			run_vm "$kernel" "$initrd" || rc=$?
		fi
		((rc == 0)) || failures=$((failures + 1))
	done
	log "summary:"
	printf '  %s\n' "${SUMMARY[@]}" "${FALLBACKS[@]}" >&2
	((failures == 0)) || die "$failures of $(wc -w <<<"$KERNELS") kernels failed"
}

# Sourced (scripts/bench-vm.sh reuses the kernel fetch and tool checks): define only, run nothing.
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
