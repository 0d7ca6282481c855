use std::process::ExitCode;

fn main() -> ExitCode {
    lmguard::run(std::env::args_os().collect()).into()
}
