//! One file per command: each checks all of its input before the first AWS or GitLab call,
//! runs its passes and returns what happened (an [`output::Finished`](crate::cli::output::Finished))
//! for the output module to render. What must be said mid-command (a plan before its question,
//! the token's role before a pass) goes through a named function of the output module.

pub(crate) mod accounts;
pub(crate) mod apply;
pub(crate) mod destroy;
pub(crate) mod iam_policy;
pub(crate) mod plan;
pub(crate) mod probe;
pub(crate) mod report;
pub(crate) mod rotate;
pub(crate) mod token;
pub(crate) mod validate;

#[cfg(test)]
mod tests {
    /// The Printer's writing methods, as a command would call them.
    const WRITES: [&str; 10] = [
        ".data(",
        ".data_line(",
        ".write_data(",
        ".status(",
        ".status_line(",
        ".note(",
        ".warning(",
        ".always(",
        ".error(",
        ".ask(",
    ];

    /// Commands return data: every line they cause is written by the output module.
    #[test]
    fn commands_do_not_print() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli/commands");
        let mut found = Vec::new();
        let mut dirs = vec![dir];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).expect("readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("readable");
                for (n, line) in text.lines().enumerate() {
                    let called =
                        |on: &str| WRITES.iter().any(|w| line.contains(&format!("{on}{w}")));
                    if called("output") || called("printer") {
                        found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "Printer calls in commands/:\n{}",
            found.join("\n")
        );
    }
}
