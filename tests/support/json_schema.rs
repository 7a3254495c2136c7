//! Validates a command's JSON output against the schema the repository ships (schemas/), with
//! check-jsonschema (tests/requirements.txt, installed by scripts/emulator-env.sh).

use std::path::Path;
use std::process::{Command, Stdio};

/// Panics unless `text` is valid against `schemas/<schema>` (e.g. `report.schema.json`).
pub fn assert_valid(schema: &str, text: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let instance = dir.path().join("output.json");
    std::fs::write(&instance, text).unwrap();
    let python = super::python();
    let out = Command::new(&python)
        .args(["-m", "check_jsonschema", "--schemafile"])
        .arg(root.join("schemas").join(schema))
        .arg(&instance)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A missing package is a broken setup, never a pass.
    assert!(
        !log.contains("No module named check_jsonschema"),
        "check-jsonschema is not installed for {}: `source scripts/emulator-env.sh`\n{log}",
        python.display()
    );
    assert!(
        out.status.success(),
        "output does not validate against schemas/{schema}:\n{log}\n{text}"
    );
}
