//! The commands' input checks, all made before the first AWS call, and the terminal prompt.

use std::path::Path;

use crate::cli::args::TargetArgs;
use crate::cli::error::CommandError;
use crate::cli::output::printer::Printer;
use crate::config::secrets::{GitlabToken, TokenSource, Tokens};
use crate::config::{Problem, Rollout, Upstream, GITLAB_REGISTRY};

/// Loads the rollout file and applies the narrowing flags.
pub(crate) fn load_rollout(args: &TargetArgs) -> Result<Rollout, CommandError> {
    let mut rollout = Rollout::load(&args.config)?;
    let mut problems = rollout
        .narrow(args.regions.as_deref(), args.accounts.as_deref())
        .err()
        .unwrap_or_default();
    if let Some(name) = &args.upstream {
        problems.extend(rollout.only_upstream(name).err());
    }
    if !problems.is_empty() {
        return Err(CommandError::Refused(problems));
    }
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

/// Reads the GitLab registry token (`--token-file`, else its upstream's `token_file` or
/// `token_env`; see [`Rollout::token_upstream`]); a problem is noted, never its content.
pub(crate) fn read_token(
    rollout: &Rollout,
    token_file: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<GitlabToken> {
    let u = rollout.token_upstream()?;
    read_one(u, false, token_file, problems)
}

/// Reads one upstream's token; a problem names the upstream's keys.
fn read_one(
    u: &Upstream,
    several: bool,
    token_file: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<GitlabToken> {
    let s = u.secret.as_ref()?;
    let source = match (token_file, &s.token_file) {
        (None, Some(file)) => TokenSource::File(file.clone()),
        (flag, _) => TokenSource::choose(flag, &s.token_env),
    };
    source
        .read()
        .map_err(|mut p| {
            if let Some(rest) = p.field.strip_prefix("upstream.") {
                p.field = format!("{}.{rest}", u.at);
            }
            // The source's words are GitLab's (the single form's); another upstream's token is
            // that upstream's, and with several tokens the file names each one's source.
            if u.kind.registry != GITLAB_REGISTRY {
                let label = format!("{} token", u.kind.label);
                p.fix = p
                    .fix
                    .replace("GitLab token", &label)
                    .replace(" (read_registry scope)", "");
            }
            if several {
                p.fix = p.fix.replace(
                    "or pass --token-file PATH (- for standard input)",
                    "or set the entry's token_file",
                );
            }
            problems.push(p)
        })
        .ok()
}

/// [`read_tokens`] for the tokens given: an upstream whose variable is unset and which has no
/// file is left out (`plan` then does not judge its secret's value).
pub(crate) fn read_tokens_given(
    rollout: &Rollout,
    token_file: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Tokens {
    let given = rollout.upstreams.iter().filter(|u| {
        u.secret.as_ref().is_some_and(|s| {
            token_file.is_some()
                || s.token_file.is_some()
                || std::env::var_os(&s.token_env).is_some()
        })
    });
    read_tokens_of(given.collect(), token_file, problems)
}

/// Reads the token of every upstream that takes one (`--token-file` only when one does).
pub(crate) fn read_tokens(
    rollout: &Rollout,
    token_file: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Tokens {
    let with_secret = rollout.upstreams.iter().filter(|u| u.secret.is_some());
    read_tokens_of(with_secret.collect(), token_file, problems)
}

/// Reads these upstreams' tokens.
fn read_tokens_of(
    with_secret: Vec<&Upstream>,
    token_file: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Tokens {
    let mut tokens = Tokens::default();
    if token_file.is_some() && with_secret.len() > 1 {
        problems.push(Problem::new(
            "--token-file",
            format!("{} upstreams take a token, and --token-file holds one", with_secret.len()),
            "set token_env or token_file in each [[upstreams]] entry, or narrow the run with --upstream NAME",
        ));
        return tokens;
    }
    let several = with_secret.len() > 1;
    for u in with_secret {
        if let Some(token) = read_one(u, several, token_file, problems) {
            tokens.insert(&u.name, token);
        }
    }
    tokens
}

/// The input checks of the commands that write the token (`apply`, `rotate`): the token, the
/// report path and whether confirmation is possible. All problems at once.
pub(crate) fn token_inputs(
    rollout: &Rollout,
    token_file: Option<&Path>,
    report: Option<&Path>,
    yes: bool,
    fix: &str,
) -> (Tokens, Vec<Problem>) {
    let mut problems = Vec::new();
    let token = read_tokens(rollout, token_file, &mut problems);
    if let Err(p) = check_output_path("--report", report) {
        problems.push(p);
    }
    problems.extend(confirmation_possible(yes, fix));
    (token, problems)
}
