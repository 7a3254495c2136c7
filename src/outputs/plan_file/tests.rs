use super::*;
use crate::outputs::test_rollouts::{single, two, two_with};

fn saved(rollout: &Rollout) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    PlanFile::new(rollout, "now".into(), Waves::default(), Vec::new())
        .save(&path)
        .unwrap();
    (dir, path)
}

#[test]
fn a_plan_records_every_upstream_and_loads_for_its_rollout() {
    let (_dir, path) = saved(&two());
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ups = doc["planned_for"]["upstreams"].as_array().unwrap();
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[1]["name"], "ecr-public");
    assert_eq!(ups[1]["url"], "public.ecr.aws");
    assert_eq!(ups[1]["secret_name"], serde_json::Value::Null);
    assert_eq!(ups[0]["username"], "u");
    PlanFile::load(&path, &two()).unwrap();
}

#[test]
fn a_plan_made_for_other_upstreams_is_refused() {
    let (_dir, path) = saved(&two());
    let other = PlanFile::load(&path, &two_with("public")).unwrap_err();
    assert!(
        other.to_string().contains("upstream \"ecr-public\""),
        "{other}"
    );
    let fewer = PlanFile::load(&path, &single()).unwrap_err();
    assert!(
        fewer
            .to_string()
            .contains("upstreams gitlab, ecr-public, not gitlab"),
        "{fewer}"
    );
    let mut narrowed = two();
    narrowed.only_upstream("gitlab").unwrap();
    assert!(PlanFile::load(&path, &narrowed).is_err());
}

#[test]
fn an_old_single_form_plan_still_loads_for_the_single_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.json");
    let old = r#"{"format_version":1,"tool_version":"0.1.0","created_at":"x",
        "planned_for":{"role_name":"R","username":"u","ecr_repository_prefix":"gitlab",
        "secret_name":"ecr-pullthroughcache/gitlab"},"targets":[]}"#;
    std::fs::write(&path, old).unwrap();
    PlanFile::load(&path, &single()).unwrap();
    // Not for a rollout of several upstreams, nor for another username.
    assert!(PlanFile::load(&path, &two()).is_err());
    std::fs::write(&path, old.replace(r#""username":"u""#, r#""username":"v""#)).unwrap();
    assert!(PlanFile::load(&path, &single()).is_err());
}
