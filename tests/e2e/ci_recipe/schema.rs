//! The recipe against GitLab's published CI schema, as check-jsonschema bundles it
//! (vendor.gitlab-ci): known keywords, and the shapes of rules, needs, artifacts, scripts and
//! the rest. It runs with the tests' Python (tests/requirements.txt, installed by
//! scripts/emulator-env.sh).

use super::*;

#[test]
fn the_recipe_passes_gitlabs_ci_schema() {
    let (status, log) = support::json_schema::check_jsonschema(|c| {
        c.args(["--builtin-schema", "vendor.gitlab-ci", RECIPE]);
    });
    assert!(
        status.success(),
        "{RECIPE} does not pass GitLab's CI schema (exit {:?}):\n{log}",
        status.code()
    );
}
