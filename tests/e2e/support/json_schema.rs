//! Validates a command's JSON output against the schema the repository ships (schemas/), with
//! check-jsonschema (tests/requirements.txt, installed by scripts/emulator-env.sh).

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// Panics unless `text` is valid against `schemas/<schema>` (e.g. `report.schema.json`).
pub fn assert_valid(schema: &str, text: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let instance = dir.path().join("output.json");
    std::fs::write(&instance, text).unwrap();
    let (status, log) = check_jsonschema(|c| {
        c.arg("--schemafile")
            .arg(root.join("schemas").join(schema))
            .arg(&instance);
    });
    assert!(
        status.success(),
        "output does not validate against schemas/{schema}:\n{log}\n{text}"
    );
}

/// Runs `python -m check_jsonschema` with the arguments `args` adds (from the crate's root) and
/// returns its exit status and output; panics when the package is missing.
pub fn check_jsonschema(args: impl FnOnce(&mut Command)) -> (ExitStatus, String) {
    let python = super::python();
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "check_jsonschema"]);
    args(&mut cmd);
    let out = cmd
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
    (out.status, log)
}
