//! The one decision function: from the plan and what was observed, what
//! each job must do. `diff` prints it; `apply` does exactly it. Pure.

use std::collections::BTreeMap;

use super::builder_change::builder;
use super::change::{Action, Change, Retag, TagChange};
use super::fingerprint::{FINGERPRINT_LABEL, Fingerprint, INPUTS_LABEL};
use super::observe::{BuiltTag, Observation, RecordedTarget, ReferrerCount, RepositoryObservation};
use crate::apply::{JobRef, PlannedRun};
use crate::exec::Dependency;
use crate::plan::address::{Address, JobKind};
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
            let mut change = decide_one(plan, *job, observation);
            change.address = address.clone();
            if change.observed.is_empty() {
                change.observed = stable_key(&(change.action, &change.current, &change.desired));
            }
            change
        })
        .collect();
    settle_readers(plan, run, observed, &mut changes);
    propagate(run, &mut changes);
    changes
}

/// A build that reads what other jobs of the run make is decided again
/// with the digests those results will have after the run, where they are
/// known now (a job left as it is, a retag): a base retagged to a new
/// commit's tag is the same image, so its readers are as they were (or are
/// retagged too), not rebuilt. Where one is not known (a build that runs),
/// `propagate` marks the reader.
fn settle_readers(plan: &Plan, run: &PlannedRun, observed: &[Observation], changes: &mut [Change]) {
    let makers = super::inputs::Makers::of(plan, run);
    for (job, spec) in run.jobs.iter().enumerate() {
        let JobRef::Build(index) = spec else { continue };
        let Observation::Build { fingerprint, tags } = &observed[job] else {
            continue;
        };
        let made = makers.made_in_run(&plan.builds[*index]);
        if made.is_empty() {
            continue;
        }
        let mut settled = fingerprint.clone();
        let mut known = true;
        for (input, maker) in &made {
            match result_digest(run.jobs[*maker], &changes[*maker]) {
                Some(digest) => settled = settled.with_base(input, &digest),
                None => known = false,
            }
        }
        if known {
            let address = changes[job].address.clone();
            let mut change = build(&settled, tags);
            change.address = address;
            change.settled = true;
            changes[job] = change;
        }
    }
}

/// The digest a job's result will have after the run, when known now.
fn result_digest(job: JobRef, change: &Change) -> Option<String> {
    match (job, change.action) {
        (JobRef::Build(_), Action::Unchanged) => change.current.clone(),
        (JobRef::Build(_), _) => change.retag.as_ref().and(change.desired.clone()),
        (
            JobRef::Sync(_) | JobRef::Combine(_),
            Action::Unchanged | Action::Create | Action::Update,
        ) => change.desired.clone(),
        _ => None,
    }
}

/// One job, from what was seen of it (its address is filled in by the caller).
fn decide_one(plan: &Plan, job: JobRef, observation: &Observation) -> Change {
    let placeholder = Address::new(JobKind::Sync, "");
    match (job, observation) {
        (JobRef::Builder(i), Observation::Builder(live)) => {
            builder(&plan.builders[i], live.as_ref(), &plan.mirrors)
        }
        (_, Observation::Engine(Ok(engine))) => Change::new(
            placeholder,
            Action::Unchanged,
            format!("engine reachable ({})", engine.describe()),
        ),
        (_, Observation::Engine(Err(why))) => Change::new(
            placeholder,
            Action::Error,
            format!("cannot read the engine: {why}"),
        ),
        (
            _,
            Observation::Copy {
                desired: Ok(desired),
                targets,
                referrers,
            },
        ) => copy(desired, targets, *referrers),
        (
            _,
            Observation::Copy {
                desired: Err(why),
                targets,
                ..
            },
        ) => unreadable_source(why, targets),
        (JobRef::Build(_), Observation::Build { fingerprint, tags }) => build(fingerprint, tags),
        (_, Observation::Recorded { desired, targets }) => recorded(desired, targets),
        (_, Observation::Repository(seen)) => repository(seen),
        (_, Observation::Failed(why)) => Change::new(placeholder, Action::Error, why.clone()),
        (_, other) => Change::new(
            placeholder,
            Action::Error,
            format!("unexpected observation {other:?}"),
        ),
    }
}

/// A native copy whose source cannot be read now. It may be made by
/// another job of this run: `propagate` decides.
fn unreadable_source(why: &str, targets: &[(String, Option<String>)]) -> Change {
    let mut change = Change::new(Address::new(JobKind::Sync, ""), Action::Error, why);
    if targets.iter().all(|(_, current)| current.is_none()) {
        change.current = None;
        change.observed = "absent".into();
    } else {
        change.current = targets.iter().find_map(|(_, c)| c.clone());
    }
    change
}

/// A build: unchanged when its tags hold an image carrying the fingerprint
/// of its inputs now; retagged when one tag does and others lack it (no
/// build: the image is copied to them); else built, naming what changed.
fn build(fingerprint: &Fingerprint, tags: &[BuiltTag]) -> Change {
    // The image built from these inputs, and where it is: a tag that
    // exists (labels are only read from an image that is there).
    let built_from_these = tags.iter().find_map(|tag| {
        let digest = tag.digest.as_ref()?;
        let stored = tag.labels.as_ref()?.get(FINGERPRINT_LABEL)?;
        (*stored == fingerprint.digest).then_some((tag, digest))
    });
    if let Some((source, digest)) = built_from_these {
        let stale: Vec<&BuiltTag> = tags
            .iter()
            .filter(|t| t.digest.as_ref() != Some(digest))
            .collect();
        if !stale.is_empty() {
            return retag(fingerprint, source, digest, &stale);
        }
    }
    let first = tags.first().filter(|t| t.digest.is_some());
    let mut change = built(fingerprint, first.and_then(|t| t.labels.as_ref()));
    if change.action == Action::Unchanged {
        // The image its tags hold: what a reader of this build gets.
        change.current = first.and_then(|t| t.digest.clone());
    }
    change
}

/// Tags that lack the image built from these inputs get it by a copy.
fn retag(
    fingerprint: &Fingerprint,
    source: &BuiltTag,
    digest: &str,
    stale: &[&BuiltTag],
) -> Change {
    let names = |absent: bool| -> Vec<String> {
        stale
            .iter()
            .filter(|t| t.digest.is_none() == absent)
            .map(|t| t.reference.to_string())
            .collect()
    };
    let mut what = Vec::new();
    for (absent, verb) in [(true, "add"), (false, "move")] {
        let tags = names(absent);
        if !tags.is_empty() {
            let plural = if tags.len() > 1 { "s" } else { "" };
            what.push(format!("{verb} tag{plural} {}", tags.join(", ")));
        }
    }
    let mut change = Change::new(
        Address::new(JobKind::Build, ""),
        Action::Update,
        format!("{} (same inputs as {})", what.join(", "), source.reference),
    );
    change.current = stale.first().and_then(|t| t.digest.clone());
    change.desired = Some(digest.to_owned());
    change.observed = stable_key(&(
        &fingerprint.digest,
        stale
            .iter()
            .map(|t| (t.reference.to_string(), &t.digest))
            .collect::<Vec<_>>(),
        digest,
    ));
    change.retag = Some(Retag {
        from: source.reference.pinned(digest),
        to: stale.iter().map(|t| t.reference.clone()).collect(),
    });
    change
}

/// A build that runs: a new image, or inputs that changed (named).
fn built(fingerprint: &Fingerprint, stored: Option<&BTreeMap<String, String>>) -> Change {
    let placeholder = Address::new(JobKind::Build, "");
    let mut change = match stored {
        None => Change::new(
            placeholder,
            Action::Build,
            "new image (its tag does not exist)",
        ),
        Some(labels) => match labels.get(FINGERPRINT_LABEL) {
            None => Change::new(
                placeholder,
                Action::Build,
                "the image has no fingerprint (built outside plan)",
            ),
            Some(stored) if *stored == fingerprint.digest => Change::new(
                placeholder,
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
                    placeholder,
                    Action::Build,
                    format!("inputs changed ({what})"),
                )
            }
        },
    };
    change.desired = Some(fingerprint.digest.clone());
    change.observed = stable_key(&(
        &fingerprint.digest,
        stored.and_then(|l| l.get(FINGERPRINT_LABEL)),
    ));
    change.labels = fingerprint.labels();
    change
}

/// What consumes the output of a job that changes changes too: a sync whose
/// source moves in this run, a build whose base image is rebuilt.
fn propagate(run: &PlannedRun, changes: &mut [Change]) {
    for _ in 0..run.jobs.len() {
        let mut moved = false;
        for (job, spec) in run.schedule.jobs.iter().enumerate() {
            if !matches!(changes[job].action, Action::Unchanged | Action::Error)
                || changes[job].settled
            {
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

fn copy(desired: &str, targets: &[(String, Option<String>)], referrers: ReferrerCount) -> Change {
    let placeholder = Address::new(JobKind::Sync, "");
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
    } else if referrers.missing > 0 {
        Change::new(
            placeholder,
            Action::Update,
            format!(
                "{} of {} signatures and attestations to copy ({})",
                referrers.missing,
                referrers.found,
                short(desired)
            ),
        )
    } else {
        Change::new(
            placeholder,
            Action::Unchanged,
            format!("up to date ({})", short(desired)),
        )
    };
    if referrers.found > 0 && (!moved.is_empty() || !missing.is_empty()) {
        change.reason.push_str(&format!(
            ", with {} signatures and attestations",
            referrers.found
        ));
    }
    for (target, current) in targets {
        let state = match current {
            None => "to create".to_owned(),
            Some(c) if c == desired => "up to date".to_owned(),
            Some(c) => format!("{} -> {}", short(c), short(desired)),
        };
        change.details.push(format!("{target}: {state}"));
    }
    change.desired = Some(desired.to_owned());
    change.observed = stable_key(&(desired, targets, referrers));
    change
}

/// A repository sync: each selected tag decided as a sync of one image,
/// and the stale tags to delete. The job changes when any tag does.
fn repository(seen: &RepositoryObservation) -> Change {
    let tags: Vec<TagChange> = seen
        .tags
        .iter()
        .map(|(tag, observation)| {
            let change = match observation {
                Observation::Copy {
                    desired: Ok(desired),
                    targets,
                    referrers,
                } => copy(desired, targets, *referrers),
                Observation::Copy {
                    desired: Err(why),
                    targets,
                    ..
                } => unreadable_source(why, targets),
                Observation::Failed(why) => {
                    Change::new(Address::new(JobKind::Sync, ""), Action::Error, why.clone())
                }
                other => Change::new(
                    Address::new(JobKind::Sync, ""),
                    Action::Error,
                    format!("unexpected observation {other:?}"),
                ),
            };
            let reason = match (change.action, &change.current, &change.desired) {
                (Action::Create, _, Some(desired)) => short(desired),
                (Action::Update, Some(old), Some(new)) => {
                    format!("{} -> {}", short(old), short(new))
                }
                (Action::Unchanged, _, _) => String::new(),
                _ => change.reason,
            };
            TagChange {
                tag: tag.clone(),
                action: change.action,
                reason,
                current: change.current,
                desired: change.desired,
            }
        })
        .collect();
    let count = |action: Action| tags.iter().filter(|t| t.action == action).count();
    let (create, update, same, failed) = (
        count(Action::Create),
        count(Action::Update),
        count(Action::Unchanged),
        count(Action::Error),
    );
    let action = if failed > 0 {
        Action::Error
    } else if update > 0 || !seen.stale.is_empty() {
        Action::Update
    } else if create > 0 {
        Action::Create
    } else {
        Action::Unchanged
    };
    let mut parts = vec![format!("{} of {} tags selected", tags.len(), seen.listed)];
    for (n, what) in [
        (create, "to create"),
        (update, "to update"),
        (same, "up to date"),
        (seen.stale.len(), "to delete"),
        (failed, "not observable"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let mut change = Change::new(Address::new(JobKind::Sync, ""), action, parts.join(", "));
    change.observed = stable_key(&(
        tags.iter()
            .map(|t| (&t.tag, &t.current, &t.desired))
            .collect::<Vec<_>>(),
        &seen.stale,
    ));
    change.tags = tags;
    change.deletes = seen.stale.clone();
    change
}

/// A copy made through buildx: done when every target carries the record
/// of the sources as they are now.
fn recorded(desired: &Result<String, String>, targets: &[RecordedTarget]) -> Change {
    let placeholder = Address::new(JobKind::Sync, "");
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

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn targets(now: &[Option<&str>]) -> Vec<(String, Option<String>)> {
        now.iter()
            .enumerate()
            .map(|(i, d)| (format!("r.test/t:{i}"), d.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn a_native_copy_is_decided_from_its_targets() {
        // (targets now, action, start of the reason)
        let table: &[(&[Option<&str>], Action, &str)] = &[
            (&[None], Action::Create, "r.test/t:0 (sha256:aaaa"),
            (&[Some(A)], Action::Unchanged, "up to date (sha256:aaaa"),
            (&[Some(B)], Action::Update, "r.test/t:0  sha256:bbbb"),
            (&[Some(A), None], Action::Create, "r.test/t:1 ("),
            (
                &[Some(A), Some(B)],
                Action::Update,
                "r.test/t:1  sha256:bbbb",
            ),
        ];
        for (now, action, reason) in table {
            let change = copy(A, &targets(now), ReferrerCount::default());
            assert_eq!(change.action, *action, "{now:?}");
            assert!(
                change.reason.starts_with(reason),
                "{now:?}: {}",
                change.reason
            );
            assert_eq!(change.details.len(), now.len());
        }
    }

    fn recorded_target(digest: Option<&str>, record: Option<&str>) -> RecordedTarget {
        RecordedTarget {
            reference: "r.test/t:1".into(),
            digest: digest.map(str::to_owned),
            record: record.map(str::to_owned),
        }
    }

    #[test]
    fn a_buildx_copy_is_done_when_its_record_matches_its_sources() {
        let record = |by: &str, digest: &str| {
            crate::backend::registry::record::Record {
                made_by: by.into(),
                sources: BTreeMap::from([("r.test/src:1".to_owned(), digest.to_owned())]),
            }
            .text()
        };
        let now = record("sync.s", A);
        let older = record("sync.s", B);
        let other_job = record("combine.c", A);
        // (target digest, its record, action, words in the reason)
        let table: &[(Option<&str>, Option<&str>, Action, &str)] = &[
            (None, None, Action::Create, "r.test/t:1"),
            (Some(A), Some(&now), Action::Unchanged, "up to date"),
            (
                Some(A),
                Some(&older),
                Action::Update,
                "changed since it was made: r.test/src:1",
            ),
            (
                Some(A),
                Some(&other_job),
                Action::Update,
                "made by combine.c",
            ),
            (Some(A), None, Action::Update, "made outside plan"),
            (
                Some(A),
                Some("[[\"linux/amd64\",\"x\"]]"),
                Action::Update,
                "other images",
            ),
        ];
        for (digest, stored, action, words) in table {
            let change = recorded(&Ok(now.clone()), &[recorded_target(*digest, *stored)]);
            assert_eq!(change.action, *action, "{stored:?}");
            assert!(
                change.reason.contains(words),
                "{stored:?}: {}",
                change.reason
            );
        }
        let unreadable = recorded(&Err("r.test/src:1 not found".into()), &[]);
        assert_eq!(unreadable.action, Action::Unknown);
        assert!(unreadable.reason.contains("cannot be read now"));
    }

    #[test]
    fn observations_are_keyed_stably() {
        let a = copy(A, &targets(&[Some(B), None]), ReferrerCount::default());
        let b = copy(A, &targets(&[Some(B), None]), ReferrerCount::default());
        assert_eq!(a.observed, b.observed);
        assert!(a.observed.starts_with("[\"sha256:aaaa"), "{}", a.observed);
    }
}

#[cfg(test)]
mod build_tests {
    use super::*;
    use crate::plan::reference::ImageRef;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn fingerprint(digest: &str) -> Fingerprint {
        Fingerprint {
            digest: digest.to_owned(),
            parts: BTreeMap::new(),
        }
    }

    /// A tag: its image (if any) and the fingerprint on that image.
    fn tag(name: &str, image: Option<(&str, &str)>) -> BuiltTag {
        BuiltTag {
            reference: ImageRef::parse(&format!("r.test/app:{name}")).unwrap(),
            digest: image.map(|(digest, _)| digest.to_owned()),
            labels: image
                .map(|(_, fp)| BTreeMap::from([(FINGERPRINT_LABEL.to_owned(), fp.to_owned())])),
        }
    }

    #[test]
    fn same_inputs_under_another_tag_is_a_retag() {
        let now = fingerprint("fp-now");
        let change = build(
            &now,
            &[tag("sha-1", None), tag("main", Some((A, "fp-now")))],
        );
        assert_eq!(change.action, Action::Update);
        assert_eq!(
            change.reason,
            "add tag r.test/app:sha-1 (same inputs as r.test/app:main)"
        );
        let retag = change.retag.unwrap();
        assert_eq!(retag.from.to_string(), format!("r.test/app@{A}"));
        assert_eq!(retag.to.len(), 1);

        // A tag holding another image moves to the one built from these inputs.
        let change = build(
            &now,
            &[
                tag("sha-2", Some((A, "fp-now"))),
                tag("main", Some((B, "fp-old"))),
            ],
        );
        assert_eq!(
            change.reason,
            "move tag r.test/app:main (same inputs as r.test/app:sha-2)"
        );

        // Every tag holds it: nothing to do.
        let change = build(
            &now,
            &[tag("a", Some((A, "fp-now"))), tag("b", Some((A, "fp-now")))],
        );
        assert_eq!(change.action, Action::Unchanged);
        // What a reader of it gets: the image, known before the run.
        assert_eq!(change.current.as_deref(), Some(A));
        assert_eq!(result_digest(JobRef::Build(0), &change).as_deref(), Some(A));

        // No image from these inputs: a build, even when tags are missing.
        let change = build(
            &now,
            &[tag("sha-3", None), tag("main", Some((B, "fp-old")))],
        );
        assert_eq!(change.action, Action::Build);
        assert!(change.retag.is_none());
    }
}
