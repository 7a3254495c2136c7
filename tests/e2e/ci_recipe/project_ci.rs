//! The project's own CI, .gitlab-ci.yml (not the users' recipe): GitLab's published CI schema,
//! a job that runs .ci/run, and a job that builds and tests on the image of Cargo.toml's
//! rust-version, so raising one without the other fails here.

use super::*;

const PROJECT_CI: &str = ".gitlab-ci.yml";

fn project_ci() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PROJECT_CI);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{PROJECT_CI} is not valid YAML: {e}"))
}

/// `rust-version` of the manifest at `dir` (relative to the crate's root).
fn rust_version(dir: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["package"]["rust-version"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no [package] rust-version", path.display()))
        .to_owned()
}

/// The shell words of every script line of every job GitLab runs, by job.
fn job_words(doc: &Value) -> BTreeMap<String, (Mapping, Vec<Vec<String>>)> {
    jobs(doc)
        .into_iter()
        .filter(|(name, _)| !name.starts_with('.'))
        .map(|(name, job)| {
            let words = all_scripts(&job)
                .iter()
                .map(|line| {
                    shlex::split(line)
                        .unwrap_or_else(|| panic!("{PROJECT_CI}, job {name}: bad quoting: {line}"))
                })
                .collect();
            (name, (job, words))
        })
        .collect()
}

#[test]
fn the_projects_ci_passes_gitlabs_ci_schema() {
    let (status, log) = support::json_schema::check_jsonschema(|c| {
        c.args(["--builtin-schema", "vendor.gitlab-ci", PROJECT_CI]);
    });
    assert!(
        status.success(),
        "{PROJECT_CI} does not pass GitLab's CI schema (exit {:?}):\n{log}",
        status.code()
    );
}

#[test]
fn the_projects_ci_runs_ci_run_and_builds_with_the_declared_rust_version() {
    let doc = project_ci();
    let jobs = job_words(&doc);
    assert!(
        jobs.values()
            .any(|(_, lines)| lines.iter().flatten().any(|w| w.ends_with(".ci/run"))),
        "{PROJECT_CI}: no job runs .ci/run"
    );

    let declared = rust_version(".");
    assert_eq!(
        rust_version("sim"),
        declared,
        "sim/Cargo.toml and Cargo.toml declare different rust-versions"
    );
    let image = format!("rust:{declared}-");
    let msrv: Vec<&String> = jobs
        .iter()
        .filter(|(_, (job, lines))| {
            job.get("image")
                .and_then(Value::as_str)
                .is_some_and(|i| i.starts_with(&image))
                && lines.iter().any(|w| {
                    w.starts_with(&["cargo".to_owned(), "build".to_owned()])
                        && ["--workspace", "--all-targets", "--locked"]
                            .iter()
                            .all(|f| w.iter().any(|x| x == f))
                })
        })
        .map(|(name, _)| name)
        .collect();
    assert!(
        !msrv.is_empty(),
        "{PROJECT_CI}: no job runs `cargo build --workspace --all-targets --locked` on an \
         image {image}... (Cargo.toml's rust-version {declared})"
    );
}
