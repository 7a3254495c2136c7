//! Scale benchmark: the real runner, the real AWS SDK and the real per-target logic against a
//! simulated AWS (`ptc_sim`, the crate in `sim/`, which replaces only the SDK's HTTP layer), on
//! tokio's paused clock, so a rollout over 100,000 targets takes seconds of wall time while
//! virtual time measures its makespan.
//!
//! `cargo bench --bench scale -- --accounts 5000 --regions 20 [--concurrency N] [--ous K]
//! [--upstreams N]`
//!
//! For each phase (a fresh `apply --yes`, a converged re-apply, a `validate`) it prints one line:
//! `scale: phase=... targets=... makespan_s=... lower_bound_s=... ratio=... calls_per_target=...
//! assume_role_calls=... throttled_pct=... wall_s=... peak_rss_mib=...`, where a target is one
//! (account, Region, upstream) unit; with `--upstreams` above 1 it adds the calls per (account,
//! Region) and the DescribePullThroughCacheRules calls per (account, Region).

use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use futures::StreamExt;
use ptc_rollout::data::regions::KNOWN_REGIONS;
use ptc_rollout::data::target::{Outcome, TargetResult};
use ptc_rollout::Printer;
use ptc_rollout::Rollout;
use ptc_rollout::{Access, Caller};
use ptc_rollout::{Clients, Overrides, Tuning};
use ptc_rollout::{GitlabToken, Tokens};
use ptc_rollout::{Job, Limits, Pass, Runner, Setup, DEFAULT_CONCURRENCY};
use ptc_sim::{Api, Sim, SimConfig};
use tokio::sync::{mpsc, watch};

// The same allocator as the binary, so the CPU cost measured is the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    accounts: usize,
    regions: usize,
    concurrency: usize,
    ous: usize,
    /// Diagnosis: no simulated latency, to separate CPU cost from timer cost.
    no_latency: bool,
    /// How many of [`UPSTREAMS`] the rollout has (1: the single `[upstream]` form).
    upstreams: usize,
}

/// The upstreams `--upstreams N` takes, first N in this order: (name and prefix, registry,
/// url, has a secret). Secret ones and secret-less ones mixed as an Organization would have
/// them; the first is the single form's GitLab rule. No `ecr` upstream: the simulation models
/// no IAM roles (see sim/src/ecr.rs).
const UPSTREAMS: [(&str, &str, Option<&str>, bool); 8] = [
    ("gitlab", "gitlab-container-registry", None, true),
    ("docker-hub", "docker-hub", None, true),
    ("ecr-public", "ecr-public", None, false),
    ("ghcr", "github-container-registry", None, true),
    (
        "azure",
        "azure-container-registry",
        Some("benchacr.azurecr.io"),
        true,
    ),
    ("chainguard", "chainguard", None, true),
    ("quay", "quay", None, false),
    ("k8s", "k8s", None, false),
];

fn args() -> Args {
    let mut a = Args {
        accounts: 5000,
        regions: 20,
        concurrency: DEFAULT_CONCURRENCY,
        ous: 0,
        no_latency: false,
        upstreams: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match flag.as_str() {
            "--accounts" => a.accounts = value("--accounts").max(1),
            "--regions" => a.regions = value("--regions").clamp(1, KNOWN_REGIONS.len()),
            "--concurrency" => a.concurrency = value("--concurrency").max(1),
            "--ous" => a.ous = value("--ous"),
            "--no-latency" => a.no_latency = true,
            "--upstreams" => a.upstreams = value("--upstreams").clamp(1, UPSTREAMS.len()),
            // cargo passes --bench to harness-less benchmarks.
            _ => {}
        }
    }
    a
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Apply,
    Reapply,
    Validate,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Apply => "apply",
            Phase::Reapply => "reapply",
            Phase::Validate => "validate",
        }
    }
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(bench(args));
}

async fn bench(args: Args) {
    let sim = Sim::new(SimConfig {
        member_accounts: args.accounts - 1,
        organizational_units: args.ous,
        latency: if args.no_latency {
            ptc_sim::LatencyModel::zero()
        } else {
            Default::default()
        },
        // Every account has enabled every opt-in Region: the benchmark measures a full matrix.
        opt_in_enabled: vec![("*".into(), "*".into())],
        ..SimConfig::default()
    });
    let overrides = Overrides {
        http_client: Some(sim.http_client()),
        credentials: Some(sim.credentials()),
        region: Some("us-east-1".into()),
        ..Overrides::default()
    };
    // Commercial-partition Regions only: one partition per run, as in a real Organization.
    let regions: Vec<&str> = KNOWN_REGIONS
        .iter()
        .copied()
        .filter(|r| !r.starts_with("us-gov-") && !r.starts_with("cn-"))
        .take(args.regions)
        .collect();
    let ous = if args.ous > 0 {
        format!("organizational_units = [\"{}\"]", sim.root_id())
    } else {
        String::new()
    };
    let targets = format!(
        "[targets]\nregions = {regions:?}\nrole_name = \"OrganizationAccountAccessRole\"\n{ous}\n"
    );
    let rollout =
        Rollout::parse(&(targets + &upstreams_toml(args.upstreams))).expect("bench rollout file");
    let rollout = Arc::new(rollout);
    let clients = Clients::load(overrides, &Tuning::default()).await;
    let caller = Caller::identify(&clients.sts(), "sim")
        .await
        .expect("caller");
    let upstreams = if args.upstreams > 1 {
        format!(", upstreams {}", args.upstreams)
    } else {
        String::new()
    };
    println!(
        "scale: {} accounts x {} Regions{upstreams}, concurrency {}, OUs {} (simulated AWS, virtual time)",
        args.accounts,
        regions.len(),
        args.concurrency,
        args.ous
    );
    for phase in [Phase::Apply, Phase::Reapply, Phase::Validate] {
        run_phase(phase, &sim, &clients, &caller, &rollout, &args).await;
    }
    // The simulation checks a rule against its secret; a secret-less rule is checked by its
    // rows (created, then unchanged).
    for (name, ..) in UPSTREAMS[..args.upstreams].iter().filter(|u| u.3) {
        sim.check_converged(&regions, name, &format!("ecr-pullthroughcache/{name}"))
            .expect("converged");
    }
}

/// The rollout file's upstreams: for one, the single form exactly as before `--upstreams`
/// existed; for more, one `[[upstreams]]` entry each, prefix and secret named after it.
fn upstreams_toml(n: usize) -> String {
    if n == 1 {
        return "[upstream]\nregistry = \"gitlab-container-registry\"\nusername = \"bench\"\ntoken_env = \"UNUSED\"\n\
                [rule]\necr_repository_prefix = \"gitlab\"\nsecret_name = \"ecr-pullthroughcache/gitlab\"\n"
            .to_owned();
    }
    let mut toml = String::new();
    for &(name, registry, url, secret) in &UPSTREAMS[..n] {
        toml += &format!(
            "[[upstreams]]\nname = \"{name}\"\nregistry = \"{registry}\"\necr_repository_prefix = \"{name}\"\n"
        );
        if let Some(url) = url {
            toml += &format!("url = \"{url}\"\n");
        }
        if secret {
            toml += &format!(
                "username = \"bench\"\ntoken_env = \"UNUSED\"\nsecret_name = \"ecr-pullthroughcache/{name}\"\n"
            );
        }
    }
    toml
}

/// A token for every upstream with a secret.
fn tokens(n: usize) -> Tokens {
    let mut tokens = Tokens::default();
    for (name, ..) in UPSTREAMS[..n].iter().filter(|u| u.3) {
        let raw = match *name {
            "gitlab" => "glpat-bench-token".to_owned(),
            other => format!("bench-token-{other}"),
        };
        let token = GitlabToken::new(raw).expect("token");
        tokens.insert(name, token);
    }
    tokens
}

async fn run_phase(
    phase: Phase,
    sim: &Sim,
    clients: &Clients,
    caller: &Caller,
    rollout: &Arc<Rollout>,
    args: &Args,
) {
    sim.reset_metrics();
    // Each phase is a new run: its own runner, so its own AssumeRole per member account.
    let (_interrupt_tx, interrupt) = watch::channel(false);
    let runner = Runner::new(Setup {
        clients: clients.clone(),
        access: Access {
            caller: caller.clone(),
            role_name: rollout.role_name.clone(),
            external_id: None,
            duration: Duration::from_secs(3600),
            session_name: "ptc-rollout-bench".into(),
        },
        rollout: rollout.clone(),
        concurrency: args.concurrency,
        limits: Limits {
            max_failures: None,
            canary: phase == Phase::Apply,
            adopt_rules: false,
        },
        interrupt,
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let reporter = tokio::spawn(ptc_rollout::consume(
        Printer {
            no_progress: true,
            quiet: true,
            verbose: false,
        },
        rx,
    ));
    let wall = WallInstant::now();
    let start = tokio::time::Instant::now();
    let (targets, listing) = ptc_rollout::stream_targets(clients.organizations(), rollout.clone());
    let pass = match phase {
        Phase::Apply | Phase::Reapply => Pass::Apply(Arc::new(tokens(args.upstreams))),
        Phase::Validate => Pass::Validate(None),
    };
    let stop = runner.run(pass, targets.map(Job::fresh), &tx).await;
    drop(tx);
    let results = reporter.await.expect("reporter");
    let makespan = start.elapsed().as_secs_f64();
    let wall_s = wall.elapsed().as_secs_f64();
    listing.await.expect("listing task").expect("listing");
    assert!(
        stop.is_none(),
        "{phase:?} stopped early",
        phase = phase.name()
    );
    check(phase, &results);

    let m = sim.metrics();
    let targets = results.len();
    let members = (args.accounts - 1) as f64;
    let groups = targets / args.upstreams;
    let rule_reads = m
        .calls
        .get("DescribePullThroughCacheRules")
        .copied()
        .unwrap_or(0);
    // Which of the two read patterns the code has (src/engine/resources/rule.rs, read_rule):
    // one DescribePullThroughCacheRules per (account, Region) for all its upstreams, or one per
    // unit. Anything else is neither, and the bound would not describe it (checked once printed).
    let shared_rule_read = args.upstreams > 1 && rule_reads as usize == groups;
    let bound = lower_bound(phase, sim, args, groups as f64, members, shared_rule_read);
    let throttled_pct = 100.0 * m.throttled as f64 / m.total_calls.max(1) as f64;
    if phase != Phase::Apply {
        assert_eq!(
            m.mutating_calls,
            0,
            "{}: a converged run made mutating calls",
            phase.name()
        );
    }
    let per_group = if args.upstreams > 1 {
        format!(
            " calls_per_account_region={:.2} rule_reads_per_account_region={:.2}",
            m.regional_calls as f64 / groups.max(1) as f64,
            rule_reads as f64 / groups.max(1) as f64,
        )
    } else {
        String::new()
    };
    println!(
        "scale: phase={} targets={targets} makespan_s={makespan:.1} lower_bound_s={bound:.1} ratio={:.3} \
         calls_per_target={:.2}{per_group} assume_role_calls={} throttled_pct={throttled_pct:.3} wall_s={wall_s:.1} peak_rss_mib={}",
        phase.name(),
        makespan / bound,
        m.regional_calls as f64 / targets.max(1) as f64,
        m.assume_role_calls,
        peak_rss_mib(),
    );
    if phase != Phase::Validate {
        assert!(
            rule_reads as usize == groups || rule_reads as usize == targets,
            "{}: {rule_reads} DescribePullThroughCacheRules calls for {groups} (account, Region) pairs and {targets} units",
            phase.name()
        );
    }
}

/// Every row must have succeeded the way the phase expects.
fn check(phase: Phase, results: &[Box<TargetResult>]) {
    let expected = match phase {
        Phase::Apply => Outcome::Created,
        Phase::Reapply | Phase::Validate => Outcome::Unchanged,
    };
    let bad: Vec<_> = results
        .iter()
        .filter(|r| r.outcome != expected || r.is_failure())
        .take(3)
        .collect();
    assert!(
        bad.is_empty(),
        "{}: unexpected rows, e.g. {bad:?}",
        phase.name()
    );
}

/// The least makespan the model allows, whichever of these binds. A target is one (account,
/// Region, upstream) unit, scheduled on its own; `groups` counts the (account, Region) pairs.
///
/// - **The listing chain.** Accounts arrive 20 to a page, and each page needs the previous
///   page's NextToken, so `pages` calls run one after another: at least `pages x E[list]`, and,
///   with the Organizations bucket (rate `r`, burst `b`), at least `(calls - b) / r` for all the
///   listing calls (with `--ous`, the OU walk's calls: the root's two, then each OU's pages and
///   its ListChildren). The last
///   account's targets cannot start earlier, and then still need that account's AssumeRole and
///   one whole per-unit chain (the longest, a unit with a secret): `listing + E[AssumeRole] +
///   chain`.
/// - **The per-unit chain** of dependent calls (E = mean latency, log-normal mean =
///   median x exp(sigma^2 / 2)), from `observe` and `converge`: a unit with a secret reads it
///   and its rule at once, `reads = max(E[DescribeSecret], E[DescribePullThroughCacheRules])`;
///   a unit without one (ECR Public, Quay, k8s) reads only its rule, and has no CreateSecret.
///   Apply = reads + [E[CreateSecret]] + E[CreatePullThroughCacheRule] + E[Validate]; re-apply
///   = reads + E[Validate]; validate = E[Validate]. With `shared_rule_read` (the calls say
///   which), a unit without a secret may find its (account, Region)'s rules already read, so
///   its chain counts no read, and a unit with one still waits for its DescribeSecret.
/// - **Concurrency.** Each unit holds one of `C` slots for at least its chain:
///   `groups x (sum of one (account, Region)'s unit chains) / C`. (Accounts are entered
///   outside the slots.)
/// - **Quotas.** AssumeRole at `r_assume` per second for the caller: `members / r_assume`.
///   Secret writes (50/s per account and Region) allow 50 units a second in each (account,
///   Region), and each holds at most 8 units (the 5 secret upstreams), so they never bind here.
fn lower_bound(
    phase: Phase,
    sim: &Sim,
    args: &Args,
    groups: f64,
    members: f64,
    shared_rule_read: bool,
) -> f64 {
    let model = sim.config();
    let e = |api: Api| model.latency.mean(api).as_secs_f64();
    let validate = e(Api::ValidatePullThroughCacheRule);
    let writes = |secret: bool| match phase {
        Phase::Apply if secret => e(Api::CreateSecret) + e(Api::CreatePullThroughCacheRule),
        Phase::Apply => e(Api::CreatePullThroughCacheRule),
        Phase::Reapply | Phase::Validate => 0.0,
    };
    let reads = |secret: bool| match (phase, secret) {
        (Phase::Validate, _) => 0.0,
        (_, true) if shared_rule_read => e(Api::DescribeSecret),
        (_, true) => e(Api::DescribeSecret).max(e(Api::DescribePullThroughCacheRules)),
        (_, false) if shared_rule_read => 0.0,
        (_, false) => e(Api::DescribePullThroughCacheRules),
    };
    let unit_chain = |secret: bool| reads(secret) + writes(secret) + validate;
    let units = &UPSTREAMS[..args.upstreams];
    let group_slot_time: f64 = units.iter().map(|u| unit_chain(u.3)).sum();
    // The last (account, Region) still reads its rules before deciding, shared or not.
    let chain = units
        .iter()
        .map(|u| {
            let rule_read = match phase {
                Phase::Validate => 0.0,
                _ => e(Api::DescribePullThroughCacheRules),
            };
            unit_chain(u.3).max(rule_read + writes(u.3) + validate)
        })
        .fold(0.0, f64::max);
    let list_api = if args.ous > 0 {
        Api::ListAccountsForParent
    } else {
        Api::ListAccounts
    };
    let accounts_per_listing_chain = if args.ous > 0 {
        (args.accounts as f64 / args.ous as f64).ceil()
    } else {
        args.accounts as f64
    };
    let pages = (accounts_per_listing_chain / 20.0).ceil();
    let mut listing = pages * e(list_api);
    if let Some(q) = model.quotas.organizations {
        // With OUs, every call of the walk shares the one Organizations bucket: the root's
        // ListAccountsForParent and ListChildren, then each OU's account pages and its
        // (empty) ListChildren page.
        let all_pages = if args.ous > 0 {
            2.0 + args.ous as f64 * (pages + 1.0)
        } else {
            pages
        };
        listing = listing.max((all_pages - q.burst).max(0.0) / q.rate_per_sec);
    }
    let critical = listing + e(Api::AssumeRole) + chain;
    let slots = groups * group_slot_time / args.concurrency as f64;
    let assume = model
        .quotas
        .assume_role
        .map_or(0.0, |q| (members - q.burst).max(0.0) / q.rate_per_sec);
    critical.max(slots).max(assume)
}

/// The process's peak resident set (VmHWM), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
