# shellcheck shell=bash
# Sourced by the scripts, never run: puts rustup's cargo on PATH and sets
# TARGET_DIR to cargo's build directory — the one every command of the
# README builds into (.cargo/config.toml's build.target-dir, or
# CARGO_TARGET_DIR when set), read from cargo itself so the two never differ.
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
TARGET_DIR=$(cargo metadata --no-deps --format-version 1 --offline |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export TARGET_DIR
