//! The one decision function: from the plan and what was observed, what
//! each job must do. `diff` prints it; `apply` does exactly it. Pure.

use std::collections::BTreeMap;

use super::builder_change::builder;
use super::change::{Action, Change};
use super::fingerprint::{FINGERPRINT_LABEL, INPUTS_LABEL};
use super::observe::{Observation, RecordedTarget};
use crate::apply::{JobRef, PlannedRun};
use crate::exec::Dependency;
use crate::plan::resolved::Plan;

fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}…", &hex[..hex.len().min(12)])
}

pub fn decide(plan: &Plan, run: &PlannedRun, observed: &[Observation]) -> Vec<Change> {
    let mut changes: Vec<Change> = run
        .jobs
        .iter()
        .zip(&run.addresses)
        .zip(observed)
        .map(|((job, address), observation)| {
            let mut change = match (job, observation) {
                (JobRef::Builder(i), Observation::Builder(live)) => {
                    builder(&plan.builders[*i], live.as_ref(), &plan.mirrors)
                }
                (_, Observation::Engine(Ok(version))) => Change::new(
                    address.clone(),
                    Action::Unchanged,
                    format!("engine reachable (Docker {version})"),
                ),
                (_, Observation::Engine(Err(why))) => Change::new(
                    address.clone(),
                    Action::Error,
                    format!("engine unreachable: {why}"),
                ),
                (
                    _,
                    Observation::Copy {
                        desired: Ok(desired),
                        targets,
                    },
                ) => copy(desired, targets),
                (
                    _,
                    Observation::Copy {
                        desired: Err(why),
                        targets,
                    },
                ) => {
                    // Maybe made by another job of this run: `propagate` decides.
                    let mut change = Change::new(address.clone(), Action::Error, why.clone());
                    if targets.iter().all(|(_, current)| current.is_none()) {
                        change.current = None;
                        change.observed = "absent".into();
                    } else {
                        change.current = targets.iter().find_map(|(_, c)| c.clone());
                    }
                    change
                }
                (
                    JobRef::Build(_),
                    Observation::Build {
                        fingerprint,
                        stored,
                    },
                ) => {
                    let mut change = match stored {
                        None => Change::new(
                            address.clone(),
                            Action::Build,
                            "new image (its tag does not exist)",
                        ),
                        Some(labels) => match labels.get(FINGERPRINT_LABEL) {
                            None => Change::new(
                                address.clone(),
                                Action::Build,
                                "the image has no fingerprint (built outside plan)",
                            ),
                            Some(stored) if *stored == fingerprint.digest => Change::new(
                                address.clone(),
                                Action::Unchanged,
                                format!("up to date (inputs {})", short(stored)),
                            ),
                            Some(_) => {
                                // The inputs label only names what changed in the
                                // reason; unreadable, the reason says "inputs".
                                let parts: BTreeMap<String, String> = labels
                                    .get(INPUTS_LABEL)
                                    .and_then(|text| serde_json::from_str(text).ok())
                                    .unwrap_or_default();
                                let changed = fingerprint.changed_since(&parts);
                                let what = if changed.is_empty() {
                                    "inputs".to_owned()
                                } else {
                                    changed.join(", ")
                                };
                                Change::new(
                                    address.clone(),
                                    Action::Build,
                                    format!("inputs changed ({what})"),
                                )
                            }
                        },
                    };
                    change.desired = Some(fingerprint.digest.clone());
                    change.observed = stable_key(&(
                        &fingerprint.digest,
                        stored.as_ref().and_then(|l| l.get(FINGERPRINT_LABEL)),
                    ));
                    change.labels = vec![
                        (FINGERPRINT_LABEL.to_owned(), fingerprint.digest.clone()),
                        (INPUTS_LABEL.to_owned(), fingerprint.inputs_label()),
                    ];
                    change
                }
                (_, Observation::Recorded { desired, targets }) => recorded(desired, targets),
                (_, Observation::Failed(why)) => {
                    Change::new(address.clone(), Action::Error, why.clone())
                }
                (_, other) => Change::new(
                    address.clone(),
                    Action::Error,
                    format!("unexpected observation {other:?}"),
                ),
            };
            change.address = address.clone();
            if change.observed.is_empty() {
                change.observed = stable_key(&(change.action, &change.current, &change.desired));
            }
            change
        })
        .collect();
    propagate(run, &mut changes);
    changes
}

/// What consumes the output of a job that changes changes too: a sync whose
/// source moves in this run, a build whose base image is rebuilt.
fn propagate(run: &PlannedRun, changes: &mut [Change]) {
    for _ in 0..run.jobs.len() {
        let mut moved = false;
        for (job, spec) in run.schedule.jobs.iter().enumerate() {
            if !matches!(changes[job].action, Action::Unchanged | Action::Error) {
                continue;
            }
            let upstream = spec.dependencies.iter().find(|(d, kind)| {
                *kind == Dependency::Data
                    && changes[*d].action.runs()
                    && !matches!(run.jobs[*d], JobRef::Builder(_))
            });
            if let Some((dependency, _)) = upstream {
                let by = run.addresses[*dependency].to_string();
                let change = &mut changes[job];
                let kind = if matches!(run.jobs[job], JobRef::Build(_)) {
                    Action::Build
                } else {
                    Action::Update
                };
                change.action = kind;
                change.reason = format!("its input changes in this run ({by})");
                change.desired = None;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
}

fn copy(desired: &str, targets: &[(String, Option<String>)]) -> Change {
    let placeholder = crate::plan::address::Address::new(crate::plan::address::JobKind::Sync, "");
    let missing: Vec<&str> = targets
        .iter()
        .filter(|(_, current)| current.is_none())
        .map(|(t, _)| t.as_str())
        .collect();
    let moved: Vec<(&str, &str)> = targets
        .iter()
        .filter_map(|(t, current)| {
            current
                .as_deref()
                .filter(|c| *c != desired)
                .map(|c| (t.as_str(), c))
        })
        .collect();
    let mut change = if !moved.is_empty() {
        let (target, old) = moved[0];
        let mut change = Change::new(
            placeholder,
            Action::Update,
            format!("{target}  {} -> {}", short(old), short(desired)),
        );
        change.current = Some(old.to_owned());
        change
    } else if !missing.is_empty() {
        Change::new(
            placeholder,
            Action::Create,
            format!("{} ({})", missing.join(", "), short(desired)),
        )
    } else {
        Change::new(
            placeholder,
            Action::Unchanged,
            format!("up to date ({})", short(desired)),
        )
    };
    for (target, current) in targets {
        let state = match current {
            None => "to create".to_owned(),
            Some(c) if c == desired => "up to date".to_owned(),
            Some(c) => format!("{} -> {}", short(c), short(desired)),
        };
        change.details.push(format!("{target}: {state}"));
    }
    change.desired = Some(desired.to_owned());
    change.observed = stable_key(&(desired, targets));
    change
}

/// A copy made through buildx: done when every target carries the record
/// of the sources as they are now.
fn recorded(desired: &Result<String, String>, targets: &[RecordedTarget]) -> Change {
    let placeholder = crate::plan::address::Address::new(crate::plan::address::JobKind::Sync, "");
    let desired = match desired {
        Ok(desired) => desired,
        // A source that cannot be read now may be made earlier in this
        // run; without a record to compare, the copy runs.
        Err(why) => {
            let mut change = Change::new(
                placeholder,
                Action::Unknown,
                format!("runs (its sources cannot be read now: {why})"),
            );
            change.observed = stable_key(&(why, targets));
            return change;
        }
    };
    let missing: Vec<&str> = targets
        .iter()
        .filter(|t| t.digest.is_none())
        .map(|t| t.reference.as_str())
        .collect();
    let stale: Vec<&RecordedTarget> = targets
        .iter()
        .filter(|t| t.digest.is_some() && t.record.as_deref() != Some(desired.as_str()))
        .collect();
    let mut change = if let Some(first) = stale.first() {
        let why = match &first.record {
            None => "made outside plan (no record of its sources)".to_owned(),
            Some(old) => format!("changed since it was made: {}", moved_sources(old, desired)),
        };
        let mut change = Change::new(
            placeholder,
            Action::Update,
            format!("{}  {why}", first.reference),
        );
        change.current.clone_from(&first.digest);
        change
    } else if !missing.is_empty() {
        Change::new(placeholder, Action::Create, missing.join(", "))
    } else {
        Change::new(
            placeholder,
            Action::Unchanged,
            "up to date (made from its sources as they are)",
        )
    };
    for target in targets {
        let state = match (&target.digest, &target.record) {
            (None, _) => "to create",
            (Some(_), Some(record)) if record == desired => "up to date",
            (Some(_), Some(_)) => "sources moved",
            (Some(_), None) => "no record",
        };
        change
            .details
            .push(format!("{}: {state}", target.reference));
    }
    change.observed = stable_key(&(desired, targets));
    change
}

/// What differs between two records (`a, b`), for a reason line.
fn moved_sources(old: &str, new: &str) -> String {
    use crate::backend::registry::record::Record;
    let (Some(old), Some(new)) = (Record::parse(old), Record::parse(new)) else {
        // Not a builder's record: an imagetools copy's list of images.
        return "it holds other images than its sources give now".to_owned();
    };
    if old.made_by != new.made_by {
        return format!("made by {}", old.made_by);
    }
    let moved: Vec<&str> = new
        .sources
        .iter()
        .filter(|(source, digest)| old.sources.get(*source) != Some(digest))
        .map(|(source, _)| source.as_str())
        .collect();
    if moved.is_empty() {
        "its record differs".to_owned()
    } else {
        moved.join(", ")
    }
}

/// What a saved plan compares to tell drift: the observation as compact
/// JSON, the same text for the same state in any build of `plan` (unlike
/// `Debug`, which is no format and prints hash maps in any order).
pub(super) fn stable_key(observed: &impl serde::Serialize) -> String {
    // Plain data with string keys: serializing it cannot fail.
    serde_json::to_string(observed).unwrap_or_default()
}
