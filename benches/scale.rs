//! Scale benchmark: the real runner, the real AWS SDK and the real per-target logic against a
//! simulated AWS (`ptc_sim`, the crate in `sim/`, which replaces only the SDK's HTTP layer), on
//! tokio's paused clock, so a rollout over 100,000 targets takes seconds of wall time while
//! virtual time measures its makespan.
//!
//! `cargo bench --bench scale -- --accounts 5000 --regions 20 [--concurrency N] [--ous K]`
//!
//! For each phase (a fresh `apply --yes`, a converged re-apply, a `validate`) it prints one line:
//! `scale: phase=... targets=... makespan_s=... lower_bound_s=... ratio=... calls_per_target=...
//! assume_role_calls=... throttled_pct=... wall_s=... peak_rss_mib=...`

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
}

fn args() -> Args {
    let mut a = Args {
        accounts: 5000,
        regions: 20,
        concurrency: DEFAULT_CONCURRENCY,
        ous: 0,
        no_latency: false,
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
    let rollout = Rollout::parse(&format!(
        "[targets]\nregions = {regions:?}\nrole_name = \"OrganizationAccountAccessRole\"\n{ous}\n\
         [upstream]\nregistry = \"gitlab-container-registry\"\nusername = \"bench\"\ntoken_env = \"UNUSED\"\n\
         [rule]\necr_repository_prefix = \"gitlab\"\nsecret_name = \"ecr-pullthroughcache/gitlab\"\n"
    ))
    .expect("bench rollout file");
    let rollout = Arc::new(rollout);
    let clients = Clients::load(overrides, &Tuning::default()).await;
    let caller = Caller::identify(&clients.sts(), "sim")
        .await
        .expect("caller");
    println!(
        "scale: {} accounts x {} Regions, concurrency {}, OUs {} (simulated AWS, virtual time)",
        args.accounts,
        regions.len(),
        args.concurrency,
        args.ous
    );
    for phase in [Phase::Apply, Phase::Reapply, Phase::Validate] {
        run_phase(phase, &sim, &clients, &caller, &rollout, &args).await;
    }
    sim.check_converged(&regions, "gitlab", "ecr-pullthroughcache/gitlab")
        .expect("converged");
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
    let token = GitlabToken::new("glpat-bench-token".into()).expect("token");
    let pass = match phase {
        Phase::Apply | Phase::Reapply => Pass::Apply(Arc::new(Tokens::one("gitlab", token))),
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
    let bound = lower_bound(phase, sim, args, targets as f64, members);
    let throttled_pct = 100.0 * m.throttled as f64 / m.total_calls.max(1) as f64;
    if phase != Phase::Apply {
        assert_eq!(
            m.mutating_calls,
            0,
            "{}: a converged run made mutating calls",
            phase.name()
        );
    }
    println!(
        "scale: phase={} targets={targets} makespan_s={makespan:.1} lower_bound_s={bound:.1} ratio={:.3} \
         calls_per_target={:.2} assume_role_calls={} throttled_pct={throttled_pct:.3} wall_s={wall_s:.1} peak_rss_mib={}",
        phase.name(),
        makespan / bound,
        m.regional_calls as f64 / targets.max(1) as f64,
        m.assume_role_calls,
        peak_rss_mib(),
    );
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

/// The least makespan the model allows, whichever of these binds:
///
/// - **The listing chain.** Accounts arrive 20 to a page, and each page needs the previous
///   page's NextToken, so `pages` calls run one after another: at least `pages x E[list]`, and,
///   with the Organizations bucket (rate `r`, burst `b`), at least `(calls - b) / r` for all the
///   listing calls (with `--ous`, the OU walk's calls: the root's two, then each OU's pages and
///   its ListChildren). The last
///   account's targets cannot start earlier, and then still need that account's AssumeRole and
///   one whole per-target chain: `listing + E[AssumeRole] + chain`.
/// - **The per-target chain** of dependent calls (E = mean latency, log-normal mean =
///   median x exp(sigma^2 / 2)): apply = max(E[DescribeSecret], E[DescribePullThroughCacheRules])
///   (read at once) + E[CreateSecret] + E[CreatePullThroughCacheRule] + E[Validate]; re-apply =
///   the reads + E[Validate]; validate = E[Validate].
/// - **Concurrency.** Each target holds one of `C` slots for at least its chain:
///   `targets x chain / C`. (Accounts are entered outside the slots.)
/// - **Quotas.** AssumeRole at `r_assume` per second for the caller: `members / r_assume`.
///   Secret writes (50/s per account and Region) allow 50 targets a second in each (account,
///   Region), and each holds one target, so they never bind here.
fn lower_bound(phase: Phase, sim: &Sim, args: &Args, targets: f64, members: f64) -> f64 {
    let model = sim.config();
    let e = |api: Api| model.latency.mean(api).as_secs_f64();
    let reads = e(Api::DescribeSecret).max(e(Api::DescribePullThroughCacheRules));
    let chain = match phase {
        Phase::Apply => {
            reads
                + e(Api::CreateSecret)
                + e(Api::CreatePullThroughCacheRule)
                + e(Api::ValidatePullThroughCacheRule)
        }
        Phase::Reapply => reads + e(Api::ValidatePullThroughCacheRule),
        Phase::Validate => e(Api::ValidatePullThroughCacheRule),
    };
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
    let slots = targets * chain / args.concurrency as f64;
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
