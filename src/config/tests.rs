use super::*;

const GOOD: &str = r#"
[targets]
regions = ["us-east-1", "eu-west-1"]
role_name = "OrganizationAccountAccessRole"

[upstream]
registry = "gitlab-container-registry"
username = "ptc-bot"
token_env = "GITLAB_REGISTRY_TOKEN"

[rule]
ecr_repository_prefix = "gitlab"
secret_name = "ecr-pullthroughcache/gitlab"
"#;

fn problems(text: &str) -> Vec<Problem> {
    Rollout::parse(text).expect_err("should be refused")
}

fn fields(text: &str) -> Vec<String> {
    problems(text).into_iter().map(|p| p.field).collect()
}

#[test]
fn the_issue_example_parses() {
    let r = Rollout::parse(GOOD).unwrap();
    assert_eq!(r.regions, ["us-east-1", "eu-west-1"]);
    assert_eq!(r.session_duration_seconds, 3600);
    assert!(r.accounts.is_none());
}

#[test]
fn unknown_keys_are_named_with_their_table() {
    let p = problems(&GOOD.replace("role_name", "colour = \"red\"\nrole_name"));
    assert_eq!(p.len(), 1);
    assert!(p[0].message.contains("unknown field `colour`"), "{}", p[0]);
    assert!(p[0].field.contains("[targets]"), "{}", p[0]);
}

#[test]
fn type_errors_do_not_echo_values() {
    let p = problems(&GOOD.replace("\"ptc-bot\"", "[\"glpat-secretsecretsecret\"]"));
    assert!(!p[0].to_string().contains("glpat"), "{}", p[0]);
}

#[test]
fn bad_prefixes_are_refused() {
    for prefix in ["g", "GitLab", "gitlab-", "a".repeat(31).as_str(), "git lab"] {
        let text = GOOD.replace("\"gitlab\"", &format!("{prefix:?}"));
        assert_eq!(fields(&text), ["rule.ecr_repository_prefix"], "{prefix}");
    }
    for prefix in ["gl", "gitlab/cache", "a.b_c-d", "ROOT"] {
        let text = GOOD.replace("\"gitlab\"", &format!("{prefix:?}"));
        Rollout::parse(&text).unwrap();
    }
}

#[test]
fn bad_secret_names_are_refused() {
    for name in [
        "gitlab",
        "ecr-pullthroughcache/",
        "ecr-pullthroughcache/a b",
        "ecr-pullthroughcache/gitlab-abc123",
    ] {
        let text = GOOD.replace("\"ecr-pullthroughcache/gitlab\"", &format!("{name:?}"));
        assert_eq!(fields(&text), ["rule.secret_name"], "{name}");
    }
}

#[test]
fn regions_are_checked() {
    assert_eq!(
        fields(&GOOD.replace("\"eu-west-1\"", "\"eu-west-9\"")),
        ["targets.regions[1]"]
    );
    assert_eq!(
        fields(&GOOD.replace("\"eu-west-1\"", "\"EU_WEST\"")),
        ["targets.regions[1]"]
    );
    assert_eq!(
        fields(&GOOD.replace("\"us-east-1\", \"eu-west-1\"", "")),
        ["targets.regions"]
    );
    let allowed = GOOD
        .replace("\"eu-west-1\"", "\"eu-west-9\"")
        .replace("role_name =", "allow_unknown_regions = true\nrole_name =");
    Rollout::parse(&allowed).unwrap();
}

#[test]
fn ids_are_checked() {
    let text = GOOD.replace(
        "role_name =",
        "accounts = [\"12345\"]\nexclude_accounts = [\"abc\"]\norganizational_units = [\"ou-1\"]\nrole_name =",
    );
    assert_eq!(
        fields(&text),
        [
            "targets.accounts[0]",
            "targets.exclude_accounts[0]",
            "targets.organizational_units[0]"
        ]
    );
}

#[test]
fn upstream_is_checked_without_echoing_the_token_env() {
    let text = GOOD
        .replace("\"ptc-bot\"", "\"  \"")
        .replace("\"GITLAB_REGISTRY_TOKEN\"", "\"glpat-abcdefabcdef\"");
    let p = problems(&text);
    assert_eq!(
        p.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(),
        ["upstream.username", "upstream.token_env"]
    );
    assert!(!p.iter().any(|p| p.to_string().contains("glpat")));
}

#[test]
fn narrowing_only_selects_from_the_file() {
    let mut r = Rollout::parse(GOOD).unwrap();
    r.narrow(Some(&["eu-west-1".into()]), Some(&["111111111111".into()]))
        .unwrap();
    assert_eq!(r.regions, ["eu-west-1"]);
    assert_eq!(r.accounts.unwrap().len(), 1);
    let mut r = Rollout::parse(GOOD).unwrap();
    let p = r.narrow(Some(&["ap-south-1".into()]), None).unwrap_err();
    assert_eq!(p[0].field, "--regions");
}

#[test]
fn shipped_rollout_files_parse() {
    for file in ["plans/gitlab.toml", "plans/demo.toml", "plans/org.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        Rollout::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn external_ids_are_checked_by_stss_rules() {
    let with =
        |id: &str| GOOD.replace("role_name =", &format!("external_id = {id:?}\nrole_name ="));
    let r = Rollout::parse(&with("ptc-rollout:o-abc/prod@x=1,y.z_+")).unwrap();
    assert_eq!(
        r.external_id.as_deref(),
        Some("ptc-rollout:o-abc/prod@x=1,y.z_+")
    );
    assert!(Rollout::parse(&with(&"a".repeat(1224))).is_ok());
    for bad in ["a", "has space", "é-unicode", &"a".repeat(1225)] {
        assert_eq!(fields(&with(bad)), ["targets.external_id"], "{bad}");
    }
}

const WAVES: &str = r#"
[[waves]]
name = "sandbox"
organizational_units = ["ou-ab12-sandbox1"]
accounts = ["111111111111"]

[[waves]]
name = "rest"
"#;

#[test]
fn waves_parse_in_order() {
    let r = Rollout::parse(&format!("{GOOD}{WAVES}")).unwrap();
    let names: Vec<&str> = r.waves.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["sandbox", "rest"]);
    assert_eq!(r.waves[0].organizational_units, ["ou-ab12-sandbox1"]);
    assert!(r.waves[1].takes_the_rest());
    assert!(Rollout::parse(GOOD).unwrap().waves.is_empty());
}

#[test]
fn bad_waves_are_refused_naming_the_field() {
    let cases = [
        (WAVES.replace("name = \"rest\"", ""), "waves[1].name"),
        (WAVES.replace("\"rest\"", "\"sandbox\""), "waves[1].name"),
        (WAVES.replace("\"rest\"", "\"rest of it\""), "waves[1].name"),
        (
            format!("{WAVES}organizational_units = [\"ou-ab12-sandbox1\"]\n"),
            "waves[1].organizational_units[0]",
        ),
        (
            format!("{WAVES}accounts = [\"111111111111\"]\n"),
            "waves[1].accounts[0]",
        ),
        (
            WAVES.replace("[\"ou-ab12-sandbox1\"]", "[\"sandbox\"]"),
            "waves[0].organizational_units[0]",
        ),
        (
            WAVES.replace("[\"ou-ab12-sandbox1\"]", "[]"),
            "waves[0].organizational_units",
        ),
        (
            WAVES.replace("[\"111111111111\"]", "[\"1111\"]"),
            "waves[0].accounts[0]",
        ),
        (
            format!("{WAVES}\n[[waves]]\nname = \"late\"\naccounts = [\"222222222222\"]\n"),
            "waves[1]",
        ),
    ];
    for (waves, field) in cases {
        assert_eq!(fields(&format!("{GOOD}{waves}")), [field], "{waves}");
    }
}

#[test]
fn a_waves_account_must_be_a_target() {
    let allow = GOOD.replace("role_name =", "accounts = [\"222222222222\"]\nrole_name =");
    assert_eq!(fields(&format!("{allow}{WAVES}")), ["waves[0].accounts[0]"]);
    let exclude = GOOD.replace(
        "role_name =",
        "exclude_accounts = [\"111111111111\"]\nrole_name =",
    );
    let p = problems(&format!("{exclude}{WAVES}"));
    assert!(p[0].message.contains("exclude_accounts"), "{}", p[0]);
}
