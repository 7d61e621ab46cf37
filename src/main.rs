//! The `scoregate` binary: parse the command line, run one subcommand from
//! [`cli`], and map the outcome to a documented exit code. All logic lives in
//! the library.

mod cli;

use clap::Parser;
use scoregate::ExitCode;

fn main() -> std::process::ExitCode {
    scoregate::allocator::tune();
    scoregate::guard::install_quiet_hook();
    let args = cli::Cli::parse();
    cli::init_logging(args.global.verbose);
    if let Some(n) = args.global.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(n).build_global() {
            eprintln!("scoregate: cannot set {n} threads: {e}");
            return std::process::ExitCode::from(ExitCode::Usage as u8);
        }
    }
    let code = match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            let code = cli::exit_code_of(&e);
            eprintln!("scoregate: error: {e}");
            code
        }
    };
    std::process::ExitCode::from(code as u8)
}
