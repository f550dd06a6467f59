//! The `bprop` binary run as a user runs it, in a working directory: one way for every
//! CLI test file (`XDG_RUNTIME_DIR` set, so that Vulkan loaders do not warn on stderr).

use std::path::Path;
use std::process::{Command, Output};

/// `bprop ARGS` in `dir`, to be run (or spawned) by the caller.
pub fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bprop"));
    c.args(args)
        .current_dir(dir)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

/// `bprop ARGS` in `dir`, run to its end.
pub fn bprop(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().expect("the binary runs")
}
