//! Checks across the resolved plan: names that must exist, platforms a
//! builder must offer, targets written twice, and the settings that cannot
//! work together. Also settles `strategy: auto`, which depends on builders.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::address::{Address, JobKind};
use super::diagnostic::{Diagnostic, did_you_mean};
use super::platform::Platform;
use super::reference::ImageRef;
use super::resolved::{At, Builder, Driver, Placement, Plan, Strategy, Via};
use super::source::Origin;

pub fn validate(plan: &mut Plan) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    check_builders(plan, &mut diagnostics);
    let builders = BuilderIndex::of(plan);
    settle_builds(plan, &builders, &mut diagnostics);
    check_copies_via(plan, &builders, &mut diagnostics);
    check_syncs_onto_themselves(plan, &mut diagnostics);
    check_combine_platforms(plan, &mut diagnostics);
    check_targets(plan, &mut diagnostics);
    check_needs(plan, &mut diagnostics);
    check_context_jobs(plan, &mut diagnostics);
    diagnostics
}

/// A named context that is a job's address names a job of the plan that
/// publishes an image (a build with tags it pushes, a sync, a combine).
fn check_context_jobs(plan: &Plan, diagnostics: &mut Vec<Diagnostic>) {
    for build in &plan.builds {
        for context in &build.contexts {
            let super::resolved::ContextSource::Job(address) = &context.value.source else {
                continue;
            };
            match (plan.has_job(address), plan.published_image(address)) {
                (true, Some(_)) => {}
                (true, None) => diagnostics.push(
                    Diagnostic::error(
                        "plan::bad-value",
                        format!("context `{}` reads `{address}`, which pushes no image", context.value.name),
                    )
                    .label(context.at, "this context")
                    .help(format!("give `{address}` tags it pushes: its result is passed by digest")),
                ),
                (false, _) => diagnostics.push(
                    Diagnostic::error(
                        "plan::unknown-need",
                        format!("context `{}` names `{address}`, which is not a job of the plan", context.value.name),
                    )
                    .label(context.at, "unknown job")
                    .help("name a build, sync or combine (`build.base`), or write a folder as `./build.base`"),
                ),
            }
        }
    }
}

/// Each builder's nodes, and mirrors that cannot reach a `docker` builder.
fn check_builders(plan: &Plan, diagnostics: &mut Vec<Diagnostic>) {
    for builder in &plan.builders {
        check_nodes(builder, diagnostics);
        if builder.driver == Driver::Docker && builder.mirrors && !plan.mirrors.is_empty() {
            diagnostics.push(
                Diagnostic::warning(
                    "plan::mirrors-not-applied",
                    format!("the plan's mirrors do not reach `docker` builder `{}`", builder.name.value),
                )
                .label(builder.name.at, "driver: docker")
                .help("a `docker` builder pulls through its engine, which uses the daemon's own `registry-mirrors` (daemon.json); set `mirrors: false` on this builder to acknowledge, or use `driver: docker-container`"),
            );
        }
    }
}

/// Builders by name, for the jobs that name one.
struct BuilderIndex(HashMap<String, usize>);

impl BuilderIndex {
    fn of(plan: &Plan) -> Self {
        Self(
            plan.builders
                .iter()
                .enumerate()
                .map(|(i, b)| (b.name.value.clone(), i))
                .collect(),
        )
    }

    /// The builder `name` names; a diagnostic (with a suggestion) when none.
    fn find(&self, name: &At<String>, diagnostics: &mut Vec<Diagnostic>) -> Option<usize> {
        let builders = &self.0;
        let found = builders.get(&name.value).copied();
        if found.is_none() {
            let mut help = "define it under `builders:`".to_owned();
            if let Some(close) = did_you_mean(&name.value, builders.keys().map(String::as_str)) {
                help = format!("did you mean `{close}`? Otherwise {help}");
            }
            diagnostics.push(
                Diagnostic::error(
                    "plan::unknown-builder",
                    format!("builder `{}` is not defined", name.value),
                )
                .label(name.at, "unknown builder")
                .help(help),
            );
        }
        found
    }
}

/// Each build's placement checked against its builders, and `strategy:
/// auto` settled (it depends on the builders).
fn settle_builds(plan: &mut Plan, builders: &BuilderIndex, diagnostics: &mut Vec<Diagnostic>) {
    let Plan {
        builds,
        builders: defined,
        ..
    } = plan;
    for build in builds.iter_mut() {
        match &build.builder {
            Placement::Default => {
                if build.strategy == Strategy::Auto {
                    build.strategy = Strategy::Multi;
                }
            }
            Placement::One(name) => {
                let Some(index) = builders.find(name, diagnostics) else {
                    continue;
                };
                let builder = &defined[index];
                for platform in &build.platforms {
                    check_offers(builder, platform, diagnostics);
                }
                let engine = builder.driver == Driver::Docker;
                match build.strategy {
                    Strategy::Auto if engine && build.platforms.len() > 1 => {
                        build.strategy = Strategy::Split
                    }
                    Strategy::Auto => build.strategy = Strategy::Multi,
                    // `multi` on a `docker` builder: only an engine with the
                    // containerd image store builds several platforms at once;
                    // that is the engine's to say (`state::capabilities`).
                    _ => {}
                }
            }
            Placement::PerPlatform(map) => {
                if build.strategy == Strategy::Multi {
                    diagnostics.push(
                        Diagnostic::error("plan::strategy", "a build with a builder per platform cannot use `strategy: multi`")
                            .label(build.name.at, "this build")
                            .help("remove `strategy` (a per-platform builder map always splits), or give one builder"),
                    );
                }
                build.strategy = Strategy::Split;
                for (platform, name) in map {
                    if let Some(index) = builders.find(name, diagnostics) {
                        check_offers(&defined[index], platform, diagnostics);
                    }
                    if !build.platforms.iter().any(|p| p.value == platform.value) {
                        diagnostics.push(
                            Diagnostic::error(
                                "plan::platform-not-built",
                                format!(
                                    "`{}` has a builder but is not among the build's platforms",
                                    platform.value
                                ),
                            )
                            .label(platform.at, "not in `platforms`")
                            .help(format!(
                                "add `{}` to `platforms`, or remove it from `builder`",
                                platform.value
                            )),
                        );
                    }
                }
                for platform in &build.platforms {
                    if !map.iter().any(|(p, _)| p.value == platform.value) {
                        diagnostics.push(
                            Diagnostic::error(
                                "plan::platform-without-builder",
                                format!("no builder is given for platform `{}`", platform.value),
                            )
                            .label(platform.at, "no builder for this platform")
                            .help(format!(
                                "add `{}: BUILDER` to the build's `builder` map",
                                platform.value
                            )),
                        );
                    }
                }
            }
        }
    }
}

/// `via: builder` names a builder (and only it uses one); only `via:
/// registry` reads an OCI layout.
fn check_copies_via(plan: &Plan, builders: &BuilderIndex, diagnostics: &mut Vec<Diagnostic>) {
    let via_builder = plan
        .syncs
        .iter()
        .map(|s| {
            (
                JobKind::Sync,
                &s.name,
                s.via,
                s.builder.as_ref(),
                vec![&s.from],
            )
        })
        .chain(plan.combines.iter().map(|c| {
            (
                JobKind::Combine,
                &c.name,
                c.via,
                c.builder.as_ref(),
                c.from.iter().map(|s| &s.image).collect(),
            )
        }));
    for (kind, name, via, builder, sources) in via_builder {
        match (via, builder) {
            (Via::Builder, None) => diagnostics.push(
                Diagnostic::error(
                    "plan::via-builder-without-builder",
                    format!(
                        "{} `{}` runs `via: builder` but names no builder",
                        kind.prefix(),
                        name.value
                    ),
                )
                .label(name.at, "no `builder`")
                .help("add `builder: NAME` (one of `builders:`), or use `via: registry`"),
            ),
            (Via::Builder, Some(b)) => {
                builders.find(b, diagnostics);
            }
            (_, Some(b)) => diagnostics.push(
                Diagnostic::warning(
                    "plan::builder-unused",
                    format!(
                        "`builder` has no effect on {} `{}` without `via: builder`",
                        kind.prefix(),
                        name.value
                    ),
                )
                .label(b.at, "not used")
                .help("add `via: builder`, or remove `builder`"),
            ),
            (Via::Registry, None) => {}
            (Via::Imagetools, None) => {}
        }
        if via != Via::Registry {
            for source in sources
                .iter()
                .filter(|s| matches!(s.value, ImageRef::Layout(_)))
            {
                diagnostics.push(
                    Diagnostic::error(
                        "plan::layout-needs-registry",
                        "an OCI layout on disk can only be read by `via: registry`",
                    )
                    .label(source.at, "an `oci:` layout")
                    .help("use `via: registry` (the default) for `oci:` sources"),
                );
            }
        }
    }
}

fn check_syncs_onto_themselves(plan: &Plan, diagnostics: &mut Vec<Diagnostic>) {
    for sync in &plan.syncs {
        for target in sync.to.iter().filter(|t| t.value == sync.from.value) {
            diagnostics.push(
                Diagnostic::error(
                    "plan::sync-onto-itself",
                    format!(
                        "sync `{}` copies `{}` onto itself",
                        sync.name.value, target.value
                    ),
                )
                .label(target.at, "same as `from`")
                .help("name a different target"),
            );
        }
    }
}

/// A combine has one source per platform.
fn check_combine_platforms(plan: &Plan, diagnostics: &mut Vec<Diagnostic>) {
    for combine in &plan.combines {
        let mut seen: HashMap<&Platform, Origin> = HashMap::new();
        for source in &combine.from {
            if let Some(first) = seen.insert(&source.platform.value, source.platform.at) {
                diagnostics.push(
                    Diagnostic::error(
                        "plan::duplicate-platform",
                        format!(
                            "combine `{}` has two sources for `{}`",
                            combine.name.value, source.platform.value
                        ),
                    )
                    .label(source.platform.at, "second source")
                    .label(first, "first source")
                    .help("an index holds one image per platform: remove one of the two"),
                );
            }
        }
    }
}

fn check_nodes(builder: &Builder, diagnostics: &mut Vec<Diagnostic>) {
    let mut names: HashMap<&str, Origin> = HashMap::new();
    let mut endpoints: HashMap<String, Origin> = HashMap::new();
    for node in &builder.nodes {
        if let Some(first) = names.insert(&node.name.value, node.name.at) {
            diagnostics.push(
                Diagnostic::error(
                    "plan::duplicate-node",
                    format!(
                        "builder `{}` has two nodes named `{}`",
                        builder.name.value, node.name.value
                    ),
                )
                .label(node.name.at, "second node")
                .label(first, "first node")
                .help("give each node its own name"),
            );
        }
        if let Some(first) =
            endpoints.insert(format!("{:?}", node.endpoint.value), node.endpoint.at)
        {
            diagnostics.push(
                Diagnostic::error(
                    "plan::duplicate-node",
                    format!(
                        "builder `{}` has two nodes on the same engine",
                        builder.name.value
                    ),
                )
                .label(node.endpoint.at, "same endpoint again")
                .label(first, "first used here")
                .help("one engine is one node: merge their `platforms` into one node"),
            );
        }
    }
}

fn check_offers(builder: &Builder, platform: &At<Platform>, diagnostics: &mut Vec<Diagnostic>) {
    let offered: Vec<String> = builder.platforms().map(|p| p.value.to_string()).collect();
    if offered.is_empty() || builder.platforms().any(|p| p.value == platform.value) {
        return;
    }
    diagnostics.push(
        Diagnostic::error(
            "plan::platform-not-offered",
            format!(
                "no node of builder `{}` builds `{}`",
                builder.name.value, platform.value
            ),
        )
        .label(platform.at, "not offered by the builder")
        .label(builder.name.at, format!("offers {}", offered.join(", ")))
        .help(format!(
            "add a node with `platforms: [{}]` to `{}`, or build on another builder",
            platform.value, builder.name.value
        )),
    );
}

/// Two jobs writing the same reference would race; each target has one writer.
fn check_targets(plan: &Plan, diagnostics: &mut Vec<Diagnostic>) {
    let mut writers: HashMap<String, (Address, Origin)> = HashMap::new();
    let outputs = plan
        .builds
        .iter()
        .map(|b| (Address::new(JobKind::Build, b.name.value.clone()), &b.tags))
        .chain(
            plan.syncs
                .iter()
                .map(|s| (Address::new(JobKind::Sync, s.name.value.clone()), &s.to)),
        )
        .chain(
            plan.combines
                .iter()
                .map(|c| (Address::new(JobKind::Combine, c.name.value.clone()), &c.to)),
        );
    for (address, targets) in outputs {
        let mut own: HashSet<String> = HashSet::new();
        for target in targets {
            let key = target.value.to_string();
            if !own.insert(key.clone()) {
                continue;
            }
            if let Some((first, at)) = writers.get(&key) {
                diagnostics.push(
                    Diagnostic::error("plan::same-target", format!("`{address}` and `{first}` both write `{key}`"))
                        .label(target.at, format!("written by {address}"))
                        .label(*at, format!("written by {first}"))
                        .help("give each job its own target, or make one job depend on the other's output instead"),
                );
            } else {
                writers.insert(key, (address.clone(), target.at));
            }
        }
    }
}

fn check_needs(plan: &Plan, diagnostics: &mut Vec<Diagnostic>) {
    let known: HashSet<String> = plan
        .builders
        .iter()
        .map(|b| format!("builder.{}", b.name.value))
        .chain(
            plan.builds
                .iter()
                .map(|b| format!("build.{}", b.name.value)),
        )
        .chain(plan.syncs.iter().map(|s| format!("sync.{}", s.name.value)))
        .chain(
            plan.combines
                .iter()
                .map(|c| format!("combine.{}", c.name.value)),
        )
        .collect();
    let needs = plan
        .builds
        .iter()
        .flat_map(|b| &b.needs)
        .chain(plan.syncs.iter().flat_map(|s| &s.needs))
        .chain(plan.combines.iter().flat_map(|c| &c.needs));
    for need in needs {
        if known.contains(&need.value) {
            continue;
        }
        let help = if Address::parse(&need.value).is_none() {
            "write an address as `KIND.NAME`, where KIND is builder, build, sync or combine"
                .to_owned()
        } else if let Some(close) = did_you_mean(&need.value, known.iter().map(String::as_str)) {
            format!("did you mean `{close}`?")
        } else {
            "name a job defined in the plan".to_owned()
        };
        diagnostics.push(
            Diagnostic::error(
                "plan::unknown-need",
                format!(
                    "`needs` names `{}`, which is not a job of this plan",
                    need.value
                ),
            )
            .label(need.at, "unknown job")
            .help(help),
        );
    }
}
