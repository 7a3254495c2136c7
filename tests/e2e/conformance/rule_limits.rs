//! ECR's own rules for pull through cache rules, which the simulation and the emulator each
//! encode: the prefix pattern, the table of supported upstreams and which of them need a
//! credential, one rule per prefix, the cap of 50 rules per registry and Region, and the
//! answer for a prefix without a rule.

use super::*;

/// Every upstream of ECR's table, by URL, and whether it needs a credential.
const UPSTREAMS: &[(&str, bool)] = &[
    ("public.ecr.aws", false),
    ("quay.io", false),
    ("registry.k8s.io", false),
    ("registry-1.docker.io", true),
    ("ghcr.io", true),
    ("registry.gitlab.com", true),
    ("cgr.dev", true),
];

/// What AWS documents for the steps of [`rule_limits`], in order.
pub(crate) const DOCUMENTED: &[&str] = &[
    "limits: create, prefix in upper case => InvalidParameterException 400",
    "limits: create, prefix of one character => InvalidParameterException 400",
    "limits: create, an upstream ECR does not support => UnsupportedUpstreamRegistryException 400",
    // Which upstreams need a credential: the user guide's list. ECR's answer when one is
    // missing is not documented; this is the one a user saw (aws-controllers-k8s/community#2589).
    "limits: create without a credential, each upstream => ok public.ecr.aws=ok quay.io=ok \
     registry.k8s.io=ok registry-1.docker.io=UnsupportedUpstreamRegistryException \
     ghcr.io=UnsupportedUpstreamRegistryException \
     registry.gitlab.com=UnsupportedUpstreamRegistryException \
     cgr.dev=UnsupportedUpstreamRegistryException",
    "limits: create, a prefix that has a rule => PullThroughCacheRuleAlreadyExistsException 400",
    "limits: create up to the cap => ok 50 rules",
    "limits: create past the cap => LimitExceededException 400",
    "limits: validate, a prefix without a rule => PullThroughCacheRuleNotFoundException 400",
    "limits: describe, a prefix without a rule => PullThroughCacheRuleNotFoundException 400",
];

/// Creates rules in a Region of its own (the other scenarios' rules do not count to the cap).
pub(crate) async fn rule_limits(b: &impl Backend, t: &mut Transcript) {
    t.section = "limits";
    let r = caller(b, "eu-west-1");
    let create = |prefix: &str, url: &str| {
        let call = r.ecr.create_pull_through_cache_rule();
        call.ecr_repository_prefix(prefix)
            .upstream_registry_url(url)
            .send()
    };
    let upper = create("Upper", "public.ecr.aws").await.status();
    t.refused("create, prefix in upper case", upper);
    let short = create("a", "public.ecr.aws").await.status();
    t.refused("create, prefix of one character", short);
    let unknown = create("elsewhere", "registry.example.com").await.status();
    t.step("create, an upstream ECR does not support", unknown);
    let mut each = Vec::new();
    for (i, (url, _)) in UPSTREAMS.iter().enumerate() {
        let answer = create(&format!("upstream-{i}"), url).await.class();
        let answer = answer.split(' ').next().unwrap_or_default().to_owned();
        each.push(format!("{url}={answer}"));
    }
    t.step(
        "create without a credential, each upstream",
        format!("ok {}", each.join(" ")),
    );
    let again = create("upstream-0", "public.ecr.aws").await.status();
    t.step("create, a prefix that has a rule", again);
    let have = UPSTREAMS.iter().filter(|(_, needs)| !needs).count();
    let mut cap = String::from("ok 50 rules");
    for i in have..50 {
        let answer = create(&format!("cap-{i:02}"), "quay.io").await.class();
        if answer != "ok" {
            cap = format!("rule {} of 50: {answer}", i + 1);
            break;
        }
    }
    t.step("create up to the cap", cap);
    let past = create("cap-past", "quay.io").await.status();
    t.step("create past the cap", past);
    let validate = r.ecr.validate_pull_through_cache_rule();
    let validate = validate.ecr_repository_prefix("no-rule-here").send().await;
    t.step("validate, a prefix without a rule", validate.status());
    let describe = r.ecr.describe_pull_through_cache_rules();
    let describe = describe
        .ecr_repository_prefixes("no-rule-here")
        .send()
        .await;
    t.step("describe, a prefix without a rule", describe.status());
}
