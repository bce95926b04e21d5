//! The `starttls-studio` binary: no arguments opens the GUI, a subcommand
//! runs the command-line tool. All logic lives in the library.

fn main() -> std::process::ExitCode {
    starttls_studio::cli::main()
}
