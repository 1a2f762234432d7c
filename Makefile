# filespy build, test and release entry points. `make test` is the project's test command.
MUSL      := x86_64-unknown-linux-musl
CARGO     ?= cargo
BIN       := target/$(MUSL)/release/filespy
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all build musl-target lint host-test vm-test test run clean bench

all: build

musl-target:
	@rustup target list --installed | grep -qx $(MUSL) || rustup target add $(MUSL)

# The release artefact: one static binary.
build: musl-target
	$(CARGO) build --release --target $(MUSL)
	@ls -l $(BIN)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Every test on this host's kernel (as root: real programs are loaded).
host-test:
	$(CARGO) test --workspace

# The kprobe path, in qemu VMs of Debian kernels (the host kernel has none): every tests/kernel_*.rs inside.
vm-test: musl-target
	scripts/vm-test.sh

test: lint host-test vm-test

# What filespy costs the machine vs a bpftrace one-liner; report in bench/results.md (not part of `test`).
bench: musl-target
	scripts/bench.sh

run: build
	sudo $(BIN)

clean:
	$(CARGO) clean
