//! The commands a CI script runs, read as bash would closely enough to check them: shlex splits
//! the shell words (quotes, escapes, comments); what is left here is what shlex does not do:
//! joining continued lines, cutting at control operators and dropping redirections.

/// Whether the shell text `before` leaves the next character plain: not quoted, not escaped,
/// not in a comment. shlex refuses an open quote, joins the probe's space to a trailing
/// backslash, and drops the probe in a comment.
fn plain(before: &str) -> bool {
    const PROBE: &str = "\u{E000}";
    shlex::split(&format!("{before} {PROBE}"))
        .is_some_and(|words| words.last().is_some_and(|w| w == PROBE))
}

/// The script with its line continuations (a plain backslash before a newline) joined, as bash
/// reads them: shlex would leave an empty word where each one was.
fn join_continued_lines(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(at) = rest.find("\\\n") {
        out.push_str(&rest[..at]);
        if !plain(&out) {
            out.push_str("\\\n");
        }
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}

/// The target of a redirection word (`>`, `2>&1`, `>>log`, `&>f`, `<in`): what follows the
/// operator, empty when the target is the next word; None for any other word.
fn redirection(word: &str) -> Option<&str> {
    let op = word.trim_start_matches(|c: char| c.is_ascii_digit());
    ["&>>", "&>", ">>", ">&", ">|", "<&", "<>", ">", "<"]
        .iter()
        .find_map(|p| op.strip_prefix(p))
}

/// One simple command's words, redirections and their targets dropped (a quoted `>` reads as
/// one too: shlex leaves no trace of quotes; no CI script passes one as an argument).
fn words(piece: &str) -> Vec<String> {
    let all = shlex::split(piece)
        .unwrap_or_else(|| panic!("an unclosed quote or a trailing backslash in:\n{piece}"));
    let mut out = Vec::new();
    let mut all = all.into_iter();
    while let Some(w) = all.next() {
        match redirection(&w) {
            Some("") => {
                all.next();
            }
            Some(_) => {}
            None => out.push(w),
        }
    }
    out
}

/// The simple commands of a script entry, as word lists: cut at plain newlines and at the
/// control operators ; & | ( ) (not at the & and | of `2>&1`, `&>` and `>|`).
fn simple_commands(src: &str) -> Vec<Vec<String>> {
    let src = join_continued_lines(src);
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let before = &src[start..i];
        let redirecting = |prev: &[u8]| i > 0 && prev.contains(&bytes[i - 1]);
        let cut = match b {
            // A comment ends at the newline too: only quotes and escapes keep it.
            b'\n' => shlex::split(before).is_some(),
            b';' | b'(' | b')' => plain(before),
            b'&' => !redirecting(b"<>") && bytes.get(i + 1) != Some(&b'>') && plain(before),
            b'|' => !redirecting(b">") && plain(before),
            _ => false,
        };
        if cut {
            out.push(words(before));
            start = i + 1;
        }
    }
    out.push(words(&src[start..]));
    out.retain(|c| !c.is_empty());
    out
}

/// Words that leave the next word in command position.
const COMMAND_PREFIXES: &[&str] = &[
    "!", "time", "exec", "command", "nohup", "then", "do", "else", "elif", "if", "while", "until",
    "{",
];

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The argument lists of every `ptc-rollout` command (by name or by a path ending in
/// /ptc-rollout) in a script entry.
pub fn ptc_invocations(src: &str) -> Vec<Vec<String>> {
    assert!(
        !src.contains("$(ptc-rollout") && !src.contains("`ptc-rollout"),
        "call ptc-rollout directly, not in a command substitution, so its flags are checked:\n{src}"
    );
    simple_commands(src)
        .into_iter()
        .filter_map(|words| {
            let mut words = words
                .into_iter()
                .skip_while(|w| is_assignment(w) || COMMAND_PREFIXES.contains(&w.as_str()));
            let command = words.next()?;
            (command == "ptc-rollout" || command.ends_with("/ptc-rollout")).then(|| words.collect())
        })
        .collect()
}
