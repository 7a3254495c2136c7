//! The command line a recipe's `ptc-rollout` commands are checked against: clap's own definition
//! (src/cli/args.rs), so the two cannot drift apart.

use clap::CommandFactory;

/// The subcommand's definition, with the top-level command's global flags; the top level alone
/// for `None`. A nested subcommand is its path, words separated by spaces: `token status`.
pub fn command_line(sub: Option<&str>) -> Option<(clap::Command, clap::Command)> {
    let root = ptc_rollout::Cli::command();
    let mut own = root.clone();
    for word in sub.into_iter().flat_map(|s| s.split(' ')) {
        own = own.find_subcommand(word)?.clone();
    }
    Some((root, own))
}

/// The names of the subcommands `sub` takes (none for a command that runs by itself).
pub fn subcommands(sub: &str) -> Vec<String> {
    command_line(Some(sub))
        .map(|(_, own)| {
            own.get_subcommands()
                .map(|c| c.get_name().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The argument `flag` names (`--long`, an alias, or `-s`) among `args`.
pub fn find_arg<'a>(
    args: impl Iterator<Item = &'a clap::Arg>,
    flag: &str,
) -> Option<&'a clap::Arg> {
    args.into_iter().find(|a| {
        let long = |name: &str| flag.strip_prefix("--") == Some(name);
        a.get_long().is_some_and(long)
            || a.get_all_aliases()
                .unwrap_or_default()
                .into_iter()
                .any(long)
            || a.get_short()
                .is_some_and(|c| flag.strip_prefix('-') == Some(c.to_string().as_str()))
    })
}

/// Values `--format` accepts for a subcommand.
pub fn formats(sub: &str) -> Vec<String> {
    command_line(Some(sub))
        .and_then(|(_, own)| {
            find_arg(own.get_arguments(), "--format").map(|a| {
                a.get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_owned())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// One checked `ptc-rollout` command: its subcommand (None for `--version`/`--help` alone; a
/// nested one as its path, `token status`) and flags with their values, in order.
#[derive(Debug)]
pub struct Invocation {
    pub subcommand: Option<String>,
    pub flags: Vec<(String, Option<String>)>,
}

impl Invocation {
    pub fn value(&self, flag: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(f, _)| f == flag)
            .and_then(|(_, v)| v.as_deref())
    }
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|(f, _)| f == flag)
    }
}

/// Whether `flag` exists for the subcommand (or the top level), and whether it takes a value.
pub fn flag_spec(sub: Option<&str>, flag: &str) -> Option<bool> {
    if ["--help", "-h"].contains(&flag) || (sub.is_none() && ["--version", "-V"].contains(&flag)) {
        return Some(false);
    }
    let (root, own) = command_line(sub)?;
    let globals = root.get_arguments().filter(|a| a.is_global_set());
    find_arg(own.get_arguments().chain(globals), flag).map(|a| a.get_action().takes_values())
}

/// Checks one command's arguments against the lists above.
pub fn parse_invocation(args: &[String]) -> Result<Invocation, String> {
    let mut sub: Option<String> = None;
    let mut flags = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.starts_with('-') && arg.len() > 1 {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            // -vv, -vvv: repeated -v.
            let name =
                if name.len() > 2 && !name.starts_with("--") && name[1..].chars().all(|c| c == 'v')
                {
                    "-v".to_owned()
                } else {
                    name
                };
            if sub.is_none() && matches!(name.as_str(), "--version" | "-V" | "--help" | "-h") {
                flags.push((name, None));
                i += 1;
                continue;
            }
            let takes_value = flag_spec(sub.as_deref(), &name).ok_or_else(|| match &sub {
                Some(s) => format!("`{s}` has no flag {name}"),
                None => format!("{name} is not a global flag (is it before the subcommand?)"),
            })?;
            let value = match (takes_value, inline) {
                (true, Some(v)) => Some(v),
                (true, None) => {
                    i += 1;
                    match args.get(i) {
                        Some(v) if !(v.starts_with("--") && v.len() > 2) => Some(v.clone()),
                        _ => return Err(format!("{name} needs a value")),
                    }
                }
                (false, Some(_)) => return Err(format!("{name} takes no value")),
                (false, None) => None,
            };
            flags.push((name, value));
        } else {
            sub = Some(subcommand_word(sub.as_deref(), arg)?);
        }
        i += 1;
    }
    if let Some(s) = &sub {
        let nested = subcommands(s);
        if !nested.is_empty() {
            return Err(format!("`{s}` needs a subcommand: one of {nested:?}"));
        }
    }
    let inv = Invocation {
        subcommand: sub,
        flags,
    };
    match inv.subcommand.as_deref() {
        None if inv
            .flags
            .iter()
            .all(|(f, _)| ["--version", "-V", "--help", "-h"].contains(&f.as_str()))
            && !inv.flags.is_empty() => {}
        None => return Err("no subcommand".into()),
        Some(sub) => {
            if !inv.has("--config") && !inv.has("-c") {
                return Err(format!("`{sub}` needs --config FILE"));
            }
            if let Some(format) = inv.value("--format") {
                let allowed = formats(sub);
                if !format.starts_with('$') && !allowed.iter().any(|f| f == format) {
                    return Err(format!(
                        "`{sub} --format` takes one of {allowed:?}, not {format}"
                    ));
                }
            }
            if let Some(n) = inv.value("--max-failures") {
                let digits = n.strip_suffix('%').unwrap_or(n);
                if !n.starts_with('$')
                    && (digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()))
                {
                    return Err(format!("--max-failures takes N or N%, not {n}"));
                }
            }
            for f in [
                "--concurrency",
                "--expiry-warning-days",
                "--recovery-days",
                "--due-within-days",
                "--expires-in-days",
            ] {
                if let Some(n) = inv.value(f) {
                    if !n.starts_with('$')
                        && (n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()))
                    {
                        return Err(format!("{f} takes a number, not {n}"));
                    }
                }
            }
        }
    }
    Ok(inv)
}

/// The subcommand path after a word that is not a flag: the word names a subcommand of the
/// top level, or of the subcommand so far (`token` then `status`); no subcommand takes any other
/// word.
fn subcommand_word(sub: Option<&str>, word: &str) -> Result<String, String> {
    let path = match sub {
        None => word.to_owned(),
        Some(s) if !subcommands(s).is_empty() => format!("{s} {word}"),
        Some(_) => {
            return Err(format!(
                "unexpected argument `{word}`: no subcommand takes one"
            ))
        }
    };
    if word.is_empty() || word.contains(char::is_whitespace) || command_line(Some(&path)).is_none()
    {
        return Err(match sub {
            None => format!("no subcommand `{word}`"),
            Some(s) => format!("`{s}` has no subcommand `{word}`"),
        });
    }
    Ok(path)
}
