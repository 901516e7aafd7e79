#!/usr/bin/env bash
# Runs crossdesk's whole test suite on a fresh machine. Installs what it
# needs (as root, from the distribution's packages) and starts nothing that
# it does not stop again.
#
# Plain `cargo test` runs everything but the mail-lab tests, as any user;
# those are marked ignored ("mail lab: needs root, …") and run here, each
# with a private Dovecot and Postfix on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo is not installed; install Rust 1.95 (rustup) first" >&2
  exit 1
fi

# Dovecot and Postfix for the end-to-end tests (installed from the
# distribution's packages when missing; each test starts its own private
# lab on 127.0.0.1 and stops it again).
if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: the mail-server tests need root (Postfix refuses to run otherwise)" >&2
  exit 1
fi
bash tests/mailserver/lab.sh install

# --locked: the committed Cargo.lock is what CI and users build.
cargo build --locked --all-targets
# The mail-lab tests first (the ignored ones of these three files; no
# by-hand tool is among them), then everything else: the run ends on the
# whole suite's summary.
cargo test --locked --test daemon_e2e --test daemon_faults --test clock_e2e -- --ignored
cargo test --locked
