//! The shell words of a CI script, close enough to bash to find the commands it runs.

#[derive(Debug, PartialEq)]
pub enum Tok {
    /// A word after quote removal (variables are left as written).
    Word(String),
    /// A control operator: | || & && ; ;; ( ) and newlines (as ";").
    Op(String),
}

/// Splits a script entry into shell words and control operators, close enough to bash for
/// finding commands: quotes, backslashes, comments, line continuations, `$(...)` kept inside
/// one word, and redirections (`> f`, `2>&1`, `>>f`) dropped with their targets.
pub fn shell_tokens(src: &str) -> Vec<Tok> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut in_word = false; // a word has started (even if empty, as with "")
    let mut skip_next_word = false; // the next word is a redirection target
    let mut i = 0;
    macro_rules! end_word {
        () => {
            if in_word {
                if skip_next_word {
                    skip_next_word = false;
                } else {
                    toks.push(Tok::Word(std::mem::take(&mut word)));
                }
                word.clear();
                in_word = false;
            }
        };
    }
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => end_word!(),
            '\n' => {
                end_word!();
                toks.push(Tok::Op(";".into()));
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    i += 2;
                    continue;
                }
                if let Some(&n) = chars.get(i + 1) {
                    word.push(n);
                    in_word = true;
                    i += 1;
                }
            }
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    word.push(chars[i]);
                    i += 1;
                }
            }
            '"' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`'))
                    {
                        i += 1;
                    }
                    word.push(chars[i]);
                    i += 1;
                }
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                // Command substitution: kept whole inside the current word.
                in_word = true;
                let mut depth = 0;
                while i < chars.len() {
                    word.push(chars[i]);
                    match chars[i] {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            '>' | '<' if word.chars().all(|d| d.is_ascii_digit()) => {
                // A redirection, with an optional file descriptor before it (2>, 1>>).
                word.clear();
                in_word = false;
                i += 1;
                while i < chars.len() && matches!(chars[i], '>' | '<' | '|') {
                    i += 1;
                }
                if chars.get(i) == Some(&'&') {
                    i += 1;
                    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-') {
                        i += 1;
                    }
                } else {
                    skip_next_word = true;
                }
                continue;
            }
            '&' if chars.get(i + 1) == Some(&'>') && !in_word => {
                i += 2;
                if chars.get(i) == Some(&'>') {
                    i += 1;
                }
                skip_next_word = true;
                continue;
            }
            '|' | '&' | ';' | '(' | ')' => {
                end_word!();
                let mut op = c.to_string();
                if matches!(chars.get(i + 1), Some(&n) if n == c && c != '(' && c != ')') {
                    op.push(c);
                    i += 1;
                }
                toks.push(Tok::Op(op));
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
        i += 1;
    }
    if in_word && !skip_next_word {
        toks.push(Tok::Word(word));
    }
    toks
}

/// Words that leave the next word in command position.
pub const COMMAND_PREFIXES: &[&str] = &[
    "!", "time", "exec", "command", "nohup", "then", "do", "else", "elif", "if", "while", "until",
    "{",
];

pub fn is_assignment(w: &str) -> bool {
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
    let toks = shell_tokens(src);
    let mut out = Vec::new();
    let mut command_position = true;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Op(_) => command_position = true,
            Tok::Word(w) if command_position => {
                if is_assignment(w) || COMMAND_PREFIXES.contains(&w.as_str()) {
                    // still in command position
                } else {
                    command_position = false;
                    if w == "ptc-rollout" || w.ends_with("/ptc-rollout") {
                        let mut args = Vec::new();
                        while let Some(Tok::Word(a)) = toks.get(i + 1) {
                            args.push(a.clone());
                            i += 1;
                        }
                        out.push(args);
                    }
                }
            }
            Tok::Word(_) => {}
        }
        i += 1;
    }
    out
}
