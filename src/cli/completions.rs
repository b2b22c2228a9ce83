//! `plan completions SHELL`: a completion script for the shell, generated
//! from the same clap definitions the command line is parsed with, so it
//! never falls behind a new flag.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Output, exit};

pub fn run(shell: Shell, output: &mut Output) -> u8 {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "plan", &mut script);
    output.out(&String::from_utf8_lossy(&script));
    exit::OK
}
