//! Standard output that survives a closed pipe (`birds run | head`, `birds status | true`).
//!
//! `println!` panics when stdout is a closed pipe ("failed printing to stdout: Broken pipe"), which aborted a
//! stage mid-run. [`outln!`] writes the same text, and when the reader has gone away it stops printing for the
//! rest of the process and lets the command finish its work, as `git` and `ripgrep` do. Other write errors (a full
//! disk behind a redirect) are reported once on stderr.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` and a newline to stdout; after the first failed write, does nothing.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    write(args, true);
}

/// Writes `args` (and a newline when `newline`) to stdout; after the first failed write, does nothing.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                stdout.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| stdout.flush());
    if let Err(err) = result {
        CLOSED.store(true, Ordering::Relaxed);
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!(
                "warning: cannot write to standard output ({err}); output dropped, the command goes on"
            );
        }
    }
}

/// `println!` that does not panic on a closed stdout; see the module docs.
macro_rules! outln {
    () => {
        $crate::out::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::write_line(format_args!($($arg)*))
    };
}

/// `print!` that does not panic on a closed stdout.
#[allow(unused_macros)] // birds-torch prints whole lines only
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), false)
    };
}
