//! `[[upstreams]]`: each kind's credential rule, and what entries must not share.

use crate::config::test_rollouts::{CENTRAL, DOCKER_HUB, ECR_PUBLIC, GITLAB, TARGETS};
use crate::config::{Problem, Rollout};

fn parse(entries: &[&str]) -> Result<Rollout, Vec<Problem>> {
    Rollout::parse(&format!("{TARGETS}{}", entries.concat()))
}

fn fields(entries: &[&str]) -> Vec<String> {
    let p = parse(entries).expect_err("should be refused");
    p.into_iter().map(|p| p.field).collect()
}

#[test]
fn every_kind_of_credential_parses_and_gets_its_url() {
    let r = parse(&[GITLAB, DOCKER_HUB, ECR_PUBLIC, CENTRAL]).unwrap();
    let urls: Vec<_> = r.upstreams.iter().map(|u| u.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "registry.gitlab.com",
            "registry-1.docker.io",
            "public.ecr.aws",
            "111111111111.dkr.ecr.us-east-1.amazonaws.com"
        ]
    );
    assert!(r.upstreams[2].secret.is_none());
    let central = &r.upstreams[3];
    assert_eq!(
        central.custom_role_arn("aws", "222222222222").as_deref(),
        Some("arn:aws:iam::222222222222:role/ecr-ptc")
    );
    assert_eq!(
        central.central_registry(),
        Some(("111111111111", "us-east-1"))
    );
    // A view is the whole file seen from one upstream.
    let views = r.views();
    assert_eq!(views.len(), 4);
    assert_eq!(views[1].secret_name(), "ecr-pullthroughcache/docker-hub");
    assert_eq!(views[2].secret_name(), "");
}

#[test]
fn a_credential_on_an_upstream_that_takes_none_is_refused_key_by_key() {
    let with_secret = ECR_PUBLIC.to_owned()
        + "username = \"x\"\ntoken_env = \"X\"\nsecret_name = \"ecr-pullthroughcache/x\"\n";
    assert_eq!(
        fields(&[&with_secret]),
        [
            "upstreams[0].username",
            "upstreams[0].token_env",
            "upstreams[0].secret_name"
        ]
    );
    let p = parse(&[&with_secret]).unwrap_err();
    assert!(
        p[0].message.contains("needing no authentication"),
        "{}",
        p[0]
    );
    // A role is only for an ECR upstream; a secret is not for it.
    let role = ECR_PUBLIC.to_owned() + "custom_role_name = \"r\"\n";
    assert_eq!(fields(&[&role]), ["upstreams[0].custom_role_name"]);
    let secret_on_ecr = CENTRAL.to_owned() + "secret_name = \"ecr-pullthroughcache/c\"\n";
    assert_eq!(fields(&[&secret_on_ecr]), ["upstreams[0].secret_name"]);
}

#[test]
fn a_missing_credential_where_one_is_required_is_refused() {
    let bare = DOCKER_HUB
        .lines()
        .filter(|l| {
            !l.starts_with("username")
                && !l.starts_with("token_env")
                && !l.starts_with("secret_name")
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        fields(&[&bare]),
        [
            "upstreams[0].username",
            "upstreams[0].token_env",
            "upstreams[0].secret_name"
        ]
    );
    let no_role = CENTRAL.replace("custom_role_name = \"ecr-ptc\"\n", "");
    assert_eq!(fields(&[&no_role]), ["upstreams[0].custom_role_name"]);
}

#[test]
fn two_upstreams_with_one_prefix_or_one_secret_or_one_name_are_refused() {
    let same_prefix = DOCKER_HUB.replace(
        "ecr_repository_prefix = \"docker-hub\"",
        "ecr_repository_prefix = \"gitlab\"",
    );
    assert_eq!(
        fields(&[GITLAB, &same_prefix]),
        ["upstreams[1].ecr_repository_prefix"]
    );
    let same_secret = DOCKER_HUB.replace(
        "ecr-pullthroughcache/docker-hub",
        "ecr-pullthroughcache/gitlab",
    );
    assert_eq!(
        fields(&[GITLAB, &same_secret]),
        ["upstreams[1].secret_name"]
    );
    let same_name = ECR_PUBLIC.replace("name = \"ecr-public\"", "name = \"gitlab\"");
    assert_eq!(fields(&[GITLAB, &same_name]), ["upstreams[1].name"]);
}

#[test]
fn urls_must_be_the_documented_one_or_of_the_registry_s_form() {
    let azure = |url: &str| {
        format!(
            "[[upstreams]]\nname = \"acr\"\nregistry = \"azure-container-registry\"\n{url}ecr_repository_prefix = \"acr\"\nusername = \"u\"\ntoken_env = \"ACR_TOKEN\"\nsecret_name = \"ecr-pullthroughcache/acr\"\n"
        )
    };
    parse(&[&azure("url = \"myregistry.azurecr.io\"\n")]).unwrap();
    for bad in [
        "url = \"myregistry.example.com\"\n",
        "url = \"https://myregistry.azurecr.io\"\n",
        "url = \"ab.azurecr.io\"\n",
        "",
    ] {
        assert_eq!(fields(&[&azure(bad)]), ["upstreams[0].url"], "{bad}");
    }
    let moved = DOCKER_HUB.to_owned() + "url = \"docker.io\"\n";
    assert_eq!(fields(&[&moved]), ["upstreams[0].url"]);
    let central = CENTRAL.replace(".dkr.ecr.", ".ecr.");
    assert_eq!(fields(&[&central]), ["upstreams[0].url"]);
    let unknown = ECR_PUBLIC.replace("registry = \"ecr-public\"", "registry = \"harbor\"");
    let p = parse(&[&unknown]).unwrap_err();
    assert_eq!(p[0].field, "upstreams[0].registry");
    assert!(p[0].fix.contains("docker-hub"), "{}", p[0]);
}

#[test]
fn the_single_form_and_upstreams_do_not_mix() {
    let single = "[upstream]\nregistry = \"gitlab-container-registry\"\nusername = \"u\"\ntoken_env = \"T\"\n[rule]\necr_repository_prefix = \"gitlab\"\nsecret_name = \"ecr-pullthroughcache/gitlab\"\n";
    assert_eq!(fields(&[single, ECR_PUBLIC]), ["upstreams"]);
}

#[test]
fn gitlab_names_one_gitlab_entry() {
    let gitlab_table = "[gitlab]\ngroup = \"my-group\"\n";
    let r = parse(&[GITLAB, DOCKER_HUB, gitlab_table]).unwrap();
    assert_eq!(r.token_upstream().map(|u| u.name.as_str()), Some("gitlab"));
    assert_eq!(fields(&[DOCKER_HUB, gitlab_table]), ["gitlab"]);
    let named = "[gitlab]\ngroup = \"my-group\"\nupstream = \"hub\"\n";
    assert_eq!(fields(&[GITLAB, DOCKER_HUB, named]), ["gitlab.upstream"]);
}

#[test]
fn narrowing_to_one_upstream_gives_it_the_registry_policy() {
    let mut r = parse(&[CENTRAL, GITLAB, ECR_PUBLIC]).unwrap();
    // An ECR upstream is skipped in the central registry itself: it does not own the statement.
    let owners: Vec<bool> = r.views().iter().map(|v| v.owns_registry_policy()).collect();
    assert_eq!(owners, [false, true, false]);
    assert!(!r.narrowed());
    r.only_upstream("ecr-public").unwrap();
    assert!(r.owns_registry_policy() && r.narrowed());
    assert_eq!(r.upstreams.len(), 1);
    let p = r.clone().only_upstream("nope").unwrap_err();
    assert_eq!(p.field, "--upstream");
}
