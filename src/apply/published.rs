//! What a run published, for the step after it: each build, sync and
//! combine that succeeded, its tags, and what its first tag points at now
//! (read from the registry after the run, so an unchanged job counts too).

use crate::apply::{JobRef, PlannedRun};
use crate::backend::registry::Registries;
use crate::exec::{JobRecord, JobState};
use crate::plan::reference::ImageRef;
use crate::plan::resolved::{At, Plan};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The job's name (`app` of `build.app`).
    pub name: String,
    /// Its address (`build.app`).
    pub address: String,
    pub tags: Vec<String>,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
    /// Why the first tag could not be read after the run (then the digest
    /// is left out and the caller says so).
    pub unread: Option<String>,
}

/// Every job of the run that succeeded and publishes images, in run order.
pub async fn published(
    plan: &Plan,
    run: &PlannedRun,
    records: &[JobRecord],
    registries: &Registries,
) -> Vec<Published> {
    let mut out = Vec::new();
    for ((job, address), record) in run.jobs.iter().zip(&run.addresses).zip(records) {
        if record.state != JobState::Succeeded {
            continue;
        }
        let tags: &[At<ImageRef>] = match job {
            JobRef::Build(i) if plan.builds[*i].push => &plan.builds[*i].tags,
            // A repository sync publishes many images, one per tag; bake's
            // format has one per job. Its summary entry lists them.
            JobRef::Sync(i) if plan.syncs[*i].repository.is_some() => continue,
            JobRef::Sync(i) => &plan.syncs[*i].to,
            JobRef::Combine(i) => &plan.combines[*i].to,
            JobRef::Build(_) | JobRef::Builder(_) => continue,
        };
        let Some(first) = tags.first() else { continue };
        let (head, unread) = match registries.descriptor(&first.value).await {
            Ok(Some(head)) => (Some(head), None),
            Ok(None) => (None, Some(format!("{} is not there", first.value))),
            Err(err) => (None, Some(format!("{}: {}", first.value, err.message))),
        };
        out.push(Published {
            name: address.name.clone(),
            address: address.to_string(),
            tags: tags.iter().map(|t| t.value.to_string()).collect(),
            digest: head.as_ref().map(|h| h.digest.clone()),
            media_type: head.as_ref().and_then(|h| h.media_type.clone()),
            size: head.as_ref().and_then(|h| h.size),
            unread,
        });
    }
    out
}
