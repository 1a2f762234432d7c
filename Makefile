# filespy build, test and release entry points. `make test` is the project's test command.
MUSL      := x86_64-unknown-linux-musl
CARGO     ?= cargo
BIN       := target/$(MUSL)/release/filespy
DIST      := dist
# The release promise: one stripped static binary of at most 2 MiB.
MAX_BYTES := 2097152
# `make run ARGS="--ext conf --all-files"` passes flags through; root runs it directly, others via sudo.
ARGS      ?=
SUDO      := $(if $(filter 0,$(shell id -u)),,sudo)
export PATH := $(HOME)/.cargo/bin:$(PATH)
SHELL     := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: all build musl-target dist lint host-test vm-test test test-deps run clean bench

all: build

musl-target:
	@rustup target list --installed | grep -qx $(MUSL) || rustup target add $(MUSL)

# The release artefact: one static binary.
build: musl-target
	$(CARGO) build --release --target $(MUSL)
	@ls -l $(BIN)

# dist/filespy and dist/filespy.sha256 (check with `cd dist && sha256sum -c filespy.sha256`). Static
# non-PIE linking comes from .cargo/config.toml; stripping from the release profile. Each promise is
# checked here rather than trusted.
dist: build
	@command -v file >/dev/null || { echo "dist: file(1) is needed to check the binary (apt-get install file)" >&2; exit 1; }
	@mkdir -p $(DIST)
	cp $(BIN) $(DIST)/filespy
	@info=$$(file -b $(DIST)/filespy); echo "file: $$info"; \
	case "$$info" in *"statically linked"*) ;; *) echo "dist: not a static executable" >&2; exit 1;; esac; \
	case "$$info" in *", stripped"*) ;; *) echo "dist: binary is not stripped" >&2; exit 1;; esac
	@size=$$(stat -c %s $(DIST)/filespy); echo "size: $$size bytes (limit $(MAX_BYTES))"; \
	if [ $$size -gt $(MAX_BYTES) ]; then echo "dist: $$size bytes exceeds $(MAX_BYTES)" >&2; exit 1; fi
	@cd $(DIST) && sha256sum filespy > filespy.sha256 && sha256sum -c --quiet filespy.sha256 && echo "sha256: $$(cat filespy.sha256)"
	@echo "version: $$($(DIST)/filespy --version)"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Every test on this host's kernel (as root: real programs are loaded).
host-test:
	$(CARGO) test --workspace
	@# The LLVM differential test again, uncaptured, so its coverage figures show in the log.
	$(CARGO) test -p bpfasm --test llvm_diff -- --nocapture 2>&1 | grep -Ei 'forms|instructions|test result'

# The kprobe path, in qemu VMs of Debian kernels (the host kernel has none): every tests/kernel_*.rs inside.
vm-test: musl-target
	scripts/vm-test.sh

# Test-time packages (Debian/Ubuntu), installed only when missing.
test-deps:
	scripts/test-deps.sh

test: test-deps lint host-test vm-test

# What filespy costs the machine vs a bpftrace one-liner; report in bench/results.md (not part of `test`).
bench: musl-target
	scripts/bench.sh

# Starts monitoring with the defaults: JSON lines on stdout until Ctrl-C.
run: build
	$(SUDO) $(BIN) $(ARGS)

clean:
	$(CARGO) clean
	rm -rf $(DIST)
