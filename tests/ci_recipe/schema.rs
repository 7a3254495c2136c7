//! The recipe against GitLab's published CI schema, as check-jsonschema bundles it
//! (vendor.gitlab-ci): known keywords, and the shapes of rules, needs, artifacts, scripts and
//! the rest. It runs with the tests' Python (tests/requirements.txt, installed by
//! scripts/emulator-env.sh).

use super::*;

#[test]
fn the_recipe_passes_gitlabs_ci_schema() {
    let python = support::python();
    let out = Command::new(&python)
        .args([
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.gitlab-ci",
            RECIPE,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}: set PTC_EMULATOR_PYTHON, or run ./scripts/test",
                python.display()
            )
        });
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A missing package is a broken setup, never a pass or a skip.
    assert!(
        !log.contains("No module named check_jsonschema"),
        "check-jsonschema is not installed for {}: run ./scripts/test or \
         `source scripts/emulator-env.sh`, which install tests/requirements.txt\n{log}",
        python.display()
    );
    assert!(
        out.status.success(),
        "{RECIPE} does not pass GitLab's CI schema (exit {:?}):\n{log}",
        out.status.code()
    );
}
