//! Every relative link and `#anchor` in README.md and docs/*.md resolves: the file (or folder)
//! exists, and the anchor is the GitHub slug of a heading in the file it points at. No network:
//! links with a scheme (`https:`) are left alone. The README links to every docs page, and the
//! crate map lives in docs/design.md only.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages.insert(0, root().join("README.md"));
    pages
}

/// The lines outside fenced code blocks, with inline code spans emptied (a code span is text,
/// not a link; a link whose text is code keeps its target).
fn prose(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut out = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                out.push_str(part);
            }
        }
        lines.push(out);
    }
    lines
}

/// The targets of the inline links `[text](target)` of `text`.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

/// GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits, `-`, `_`
/// and spaces kept), spaces turned into `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (a repeated heading gets `-1`, `-2`, as GitHub
/// numbers them).
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in prose(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let mut anchor = base.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    seen
}

/// Why `target`, linked from the file `from` (whose text is `text`), does not resolve.
fn broken(from: &Path, text: &str, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        from.to_owned()
    } else {
        from.parent().unwrap().join(path)
    };
    if !file.exists() {
        return Some(format!("{target}: no {}", file.display()));
    }
    let anchor = anchor?;
    let heads = if path.is_empty() {
        anchors(text)
    } else {
        anchors(&std::fs::read_to_string(&file).unwrap_or_default())
    };
    (!heads.contains(anchor)).then(|| format!("{target}: no heading #{anchor} in {path}"))
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            checked += 1;
            if let Some(why) = broken(&page, &text, &target) {
                problems.push(format!("{}: {why}", page.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
    assert!(
        checked > 50,
        "only {checked} links found: is the parser still finding them?"
    );
}

#[test]
fn the_readme_links_to_every_docs_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let linked: HashSet<String> = links(&readme)
        .into_iter()
        .map(|t| t.split('#').next().unwrap().to_owned())
        .collect();
    for page in pages().into_iter().skip(1) {
        let name = format!("docs/{}", page.file_name().unwrap().to_string_lossy());
        assert!(linked.contains(&name), "README.md does not link to {name}");
    }
}

#[test]
fn one_crate_map_in_docs_design() {
    let map = "main.rs          thin: flags";
    let holding: Vec<String> = pages()
        .into_iter()
        .filter(|p| std::fs::read_to_string(p).unwrap().contains(map))
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(holding.len(), 1, "{holding:?}");
    assert!(holding[0].ends_with("docs/design.md"), "{holding:?}");
}

/// The checker itself: a missing file, a missing anchor and a code span are told apart.
#[test]
fn the_checker_finds_what_is_broken() {
    let from = root().join("docs/commands.md");
    let text = "# Commands\n\n## Exit codes\n\nSee `[not](a-link.md)` and [x](#exit-codes).\n";
    assert_eq!(links(text), ["#exit-codes"]);
    assert_eq!(broken(&from, text, "#exit-codes"), None);
    assert!(broken(&from, text, "#exit-code").is_some());
    assert_eq!(broken(&from, text, "../README.md"), None);
    assert!(broken(&from, text, "../READ.md").is_some());
    assert!(broken(&from, text, "../README.md#no-such-heading").is_some());
    assert_eq!(broken(&from, text, "https://example.com/x#y"), None);
    assert_eq!(
        slug("IAM permissions (least privilege)"),
        "iam-permissions-least-privilege"
    );
    assert_eq!(
        slug("`apply`, from `main` to the AWS calls and back"),
        "apply-from-main-to-the-aws-calls-and-back"
    );
    assert_eq!(
        slug("At 100,000 targets, in simulation"),
        "at-100000-targets-in-simulation"
    );
}
