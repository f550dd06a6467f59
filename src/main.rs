//! The `bprop` command line: arguments in, library calls out (no math here).

// Every print goes through `cli::out`: a closed standard output ends the process quietly
// instead of panicking, a full one becomes a typed error, and control characters from
// files are escaped. These definitions shadow the standard macros in every module below.
macro_rules! println {
    () => { $crate::cli::out::stdout(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::out::stdout(format_args!("{}\n", format_args!($($t)*))) };
}
macro_rules! print {
    ($($t:tt)*) => { $crate::cli::out::stdout(format_args!($($t)*)) };
}
macro_rules! eprintln {
    () => { $crate::cli::out::stderr(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::out::stderr(format_args!("{}\n", format_args!($($t)*))) };
}
#[allow(unused_macros)]
macro_rules! eprint {
    ($($t:tt)*) => { $crate::cli::out::stderr(format_args!($($t)*)) };
}

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).and_then(|()| cli::out::finish()) {
        // A run stopped by a signal saved its work; its status still says it was stopped.
        Ok(()) => match cli::signals::received() {
            Some(sig) => ExitCode::from(128 + sig as u8),
            None => ExitCode::SUCCESS,
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
