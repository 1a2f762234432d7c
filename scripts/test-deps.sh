#!/usr/bin/env bash
# Installs (Debian/Ubuntu, as root) what `make test` needs beyond Rust, only if something is missing:
# the LLVM oracles of the assembler, bpftool (BTF oracle), qemu/busybox/cpio (the VM kernels), python3
# modules for the schema and packaging checks, systemd/logrotate (unit and snippet checks), tzdata (clock
# tests), file(1) (make dist) and util-linux (setpriv and unshare: the unprivileged and no-/sys tests), strace (open flags as strace shows them), xfsprogs and e2fsprogs (a reflink file system on a loop device and filefrag: monitor_reflink).
set -euo pipefail
packages=(llvm-14 llvm-19 bpftool qemu-system-x86 busybox-static cpio python3-jsonschema python3-yaml
          systemd logrotate tzdata file util-linux strace xfsprogs e2fsprogs)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
