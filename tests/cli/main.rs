//! The command-line tool end to end: every subcommand, training runs on both paths, explain's outputs.
//!
//! One test binary for these modules (each was a binary of its own): the crate is linked
//! once instead of once per file.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod cli_files;
mod cli_tables;
mod cli_train;
mod cv;
mod explain;
mod predict;
mod spawn;
