use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = weft::cli::Cli::parse();
    match weft::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
