//! The simulation's table of the service models' constraints (src/model_table.rs) is what the
//! models give: `scripts/model-table.py --check` regenerates it from the botocore models the
//! emulator's Python carries and compares.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The emulator's Python (PTC_EMULATOR_PYTHON, set by scripts/emulator-env.sh), else the
/// repository's `.venv`.
fn python(root: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os("PTC_EMULATOR_PYTHON") {
        return p.into();
    }
    let venv = root.join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with botocore: run `source scripts/emulator-env.sh` (it makes {} and sets \
         PTC_EMULATOR_PYTHON)",
        venv.display()
    );
    venv
}

#[test]
fn the_table_matches_the_service_models() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ is in the repository");
    let python = python(root);
    let out = Command::new(&python)
        .arg(root.join("scripts/model-table.py"))
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "sim/src/model_table.rs is not what the service models give (regenerate it with \
         `.venv/bin/python scripts/model-table.py`):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Java's `\w`, `\d`, `\s` and their negations are ASCII, in a class and out of one; both
/// doubles' translations of the models' patterns (scripts/model-table.py's `rust_pattern` for
/// Rust's regex crate, emulator/model_check.py's for Python's `regex`) match as Java does, on
/// the cases of emulator/selftest_model.py's `JAVA_CLASSES`.
#[test]
fn both_doubles_read_java_character_classes_as_java_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ is in the repository");
    let python = python(root);
    let script = r#"
import json, runpy, sys
root = sys.argv[1]
sys.path.insert(0, root + "/emulator")
from model_check import compiled_pattern
from selftest_model import JAVA_CLASSES
rust_pattern = runpy.run_path(root + "/scripts/model-table.py")["rust_pattern"]
print(json.dumps([[p, v, java, bool(compiled_pattern(p).fullmatch(v)), rust_pattern(p)]
                  for p, v, java in JAVA_CLASSES]))
"#;
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    type Case = (String, String, bool, bool, String);
    let cases: Vec<Case> = serde_json::from_slice(&out.stdout).expect("the cases, as JSON");
    assert!(!cases.is_empty());
    let mut wrong = Vec::new();
    for (java_pattern, value, java, emulator, rust) in &cases {
        let re = regex::Regex::new(rust).unwrap_or_else(|e| panic!("{rust}: {e}"));
        let sim = re.is_match(value);
        if (*emulator, sim) != (*java, *java) {
            wrong.push(format!(
                "{java_pattern} on {value:?}: Java {java}, emulator {emulator}, simulation {sim} ({rust})"
            ));
        }
    }
    assert!(wrong.is_empty(), "unlike Java:\n{}", wrong.join("\n"));
}
