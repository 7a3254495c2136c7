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
