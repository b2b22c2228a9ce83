//! Before `diff` or `apply` reads anything: every secret and ssh key a
//! build of the run names must be there — a file that exists, a variable
//! that is set, an agent when `ssh: [default]`. Only presence is checked:
//! no value is read (a file's metadata; a variable's presence).

use crate::apply::{JobRef, PlannedRun};
use crate::plan::diagnostic::Diagnostic;
use crate::plan::resolved::{Build, Plan, SecretSource};

/// A diagnostic for each secret or ssh source the run's builds name and
/// this machine lacks. `is_set` says whether an environment variable is set.
pub fn missing(plan: &Plan, run: &PlannedRun, is_set: &dyn Fn(&str) -> bool) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for job in &run.jobs {
        if let JobRef::Build(i) = job {
            check_build(&plan.builds[*i], is_set, &mut diagnostics);
        }
    }
    diagnostics
}

fn check_build(build: &Build, is_set: &dyn Fn(&str) -> bool, out: &mut Vec<Diagnostic>) {
    let name = &build.name.value;
    for secret in &build.run.secrets {
        let problem = match &secret.value.source {
            SecretSource::File(path) if !path.is_file() => Some((
                format!("its file {} is not there", path.display()),
                "create the file, or point `src:` at it (relative to the plan file; `~/` is your home)",
            )),
            SecretSource::Env(variable) if !is_set(variable) => Some((
                format!("the environment variable `{variable}` is not set"),
                "set it in the environment `plan` runs in (in CI, from the secret store)",
            )),
            _ => None,
        };
        if let Some((what, help)) = problem {
            out.push(
                Diagnostic::error(
                    "plan::missing-secret",
                    format!("secret `{}` of build `{name}`: {what}", secret.value.id),
                )
                .label(secret.at, "this secret")
                .help(help),
            );
        }
    }
    for ssh in &build.run.ssh {
        let absent = ssh.value.paths.iter().find(|p| !p.exists());
        let problem = match absent {
            Some(path) => Some(format!("{} is not there", path.display())),
            None if ssh.value.paths.is_empty() && !is_set("SSH_AUTH_SOCK") => {
                Some("no ssh agent: `SSH_AUTH_SOCK` is not set".to_owned())
            }
            None => None,
        };
        if let Some(what) = problem {
            out.push(
                Diagnostic::error(
                    "plan::missing-secret",
                    format!("ssh `{}` of build `{name}`: {what}", ssh.value.id),
                )
                .label(ssh.at, "this ssh source")
                .help("start an agent (`eval $(ssh-agent)`, `ssh-add`), or give `paths:` to keys that exist"),
            );
        }
    }
}
