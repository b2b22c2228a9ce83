//! `plan`: thin on purpose. Everything lives in the library.

use std::process::ExitCode;

// Planning allocates many small strings; mimalloc makes that about a fifth faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The panic hook writes to stderr itself: `Output` may be what panicked.
#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    // A bug must not greet a user with a backtrace: say what to do instead.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("plan: internal error: {info}");
        eprintln!("This is a bug in plan; please report it with the plan that caused it.");
    }));
    let mut output = buildplan::cli::Output::process();
    ExitCode::from(buildplan::cli::run(std::env::args_os(), &mut output))
}
