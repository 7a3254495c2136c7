//! The commands' input checks, all made before the first AWS call, and the terminal prompt.

use std::path::Path;

use crate::cli::args::TargetArgs;
use crate::cli::error::CommandError;
use crate::cli::output::printer::Printer;
use crate::config::secrets::{GitlabToken, TokenSource};
use crate::config::{Problem, Rollout};

/// Loads the rollout file and applies the narrowing flags.
pub(crate) fn load_rollout(args: &TargetArgs) -> Result<Rollout, CommandError> {
    let mut rollout = Rollout::load(&args.config)?;
    rollout
        .narrow(args.regions.as_deref(), args.accounts.as_deref())
        .map_err(CommandError::Refused)?;
    Ok(rollout)
}

/// The rollout file's Regions, in its order, before `--regions` narrowed them.
pub(crate) fn file_regions(
    args: &TargetArgs,
    narrowed: &Rollout,
) -> Result<Vec<String>, CommandError> {
    Ok(match args.regions {
        // Read once more: narrowing keeps only the chosen Regions.
        Some(_) => Rollout::load(&args.config)?.regions,
        None => narrowed.regions.clone(),
    })
}

/// Refuses an output path whose directory does not exist, before any AWS call.
pub(crate) fn check_output_path(flag: &str, path: Option<&Path>) -> Result<(), Problem> {
    let Some(path) = path.filter(|p| *p != Path::new("-")) else {
        return Ok(());
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Problem::new(
            flag,
            format!("directory {} does not exist", dir.display()),
            "create it or choose another path",
        ));
    }
    if path.is_dir() {
        return Err(Problem::new(
            flag,
            format!("{} is a directory", path.display()),
            "name a file",
        ));
    }
    Ok(())
}

/// `--junit`: a file whose directory exists; never standard output, which carries the
/// command's own output, nor the file of the command's other output (`other`: its flag and
/// path), which one would overwrite with the other.
pub(crate) fn check_junit_path(
    path: Option<&Path>,
    other: (&str, Option<&Path>),
) -> Result<(), Problem> {
    if path == Some(Path::new("-")) {
        return Err(Problem::new(
            "--junit",
            "the JUnit XML cannot go to standard output (the command's own output goes there)",
            "name a file, e.g. --junit junit.xml",
        ));
    }
    check_output_path("--junit", path)?;
    let (flag, other_path) = other;
    if let (Some(junit), Some(o)) = (path, other_path) {
        if same_file(junit, o) {
            return Err(Problem::new(
                "--junit",
                format!("--junit and {flag} both name {}", junit.display()),
                format!("give --junit and {flag} different files"),
            ));
        }
    }
    Ok(())
}

/// Whether two paths name one file: compared with their directories resolved (the files need
/// not exist yet; `./r.xml`, `d/../r.xml` and a symlinked directory all count).
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        // An existing file may itself be a symlink to the other.
        let file = p.canonicalize().ok();
        (dir.join(p.file_name().unwrap_or_default()), file)
    };
    let ((a_path, a_file), (b_path, b_file)) = (resolve(a), resolve(b));
    a_path == b_path || (a_file.is_some() && a_file == b_file)
}

/// Asks on the terminal, as Terraform does: only "yes" proceeds.
pub(crate) async fn confirm(printer: Printer, question: &str) -> bool {
    printer.ask(format_args!("{question} Only 'yes' will be accepted: "));
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).is_ok() && line.trim() == "yes"
    })
    .await
    .unwrap_or(false)
}

/// A command that changes things refuses to start without `--yes` when it cannot ask.
pub(crate) fn confirmation_possible(yes: bool, fix: &str) -> Option<Problem> {
    use std::io::IsTerminal;
    (!yes && !std::io::stdin().is_terminal()).then(|| {
        Problem::new(
            "--yes",
            "standard input is not a terminal, so the command cannot ask for confirmation",
            fix,
        )
    })
}

/// Reads the registry token (`--token-file`, else `upstream.token_env`); a problem is noted,
/// never its content.
pub(crate) fn read_token(
    rollout: &Rollout,
    token_file: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<GitlabToken> {
    TokenSource::choose(token_file, &rollout.token_env)
        .read()
        .map_err(|p| problems.push(p))
        .ok()
}

/// The input checks of the commands that write the token (`apply`, `rotate`): the token, the
/// report path and whether confirmation is possible. All problems at once.
pub(crate) fn token_inputs(
    rollout: &Rollout,
    token_file: Option<&Path>,
    report: Option<&Path>,
    yes: bool,
    fix: &str,
) -> (Option<GitlabToken>, Vec<Problem>) {
    let mut problems = Vec::new();
    let token = read_token(rollout, token_file, &mut problems);
    if let Err(p) = check_output_path("--report", report) {
        problems.push(p);
    }
    problems.extend(confirmation_possible(yes, fix));
    (token, problems)
}
