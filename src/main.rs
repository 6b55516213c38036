use clap::Parser;
use std::io::Write;

fn main() {
    let cli = weft::cli::Cli::parse();
    let code = match weft::cli::run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("weft: {e:#}");
            1
        }
    };
    // Leave without running the C libraries' exit handlers. SQLCipher registers one that frees
    // its mutexes, crypto provider and private heap; a background thread still closing a
    // database connection at that moment (a sync or live worker) crashed the process on exit
    // ("double free or corruption"). Everything of ours is written and closed by now; the OS
    // reclaims the rest.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; nothing runs after it.
    unsafe { libc::_exit(code) }
}
