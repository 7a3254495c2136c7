//! How `iam-policy` reads: the policies as one JSON document on stdout, and a note for each
//! placeholder the user has to replace.

use crate::cli::exit;
use crate::cli::output::printer::Printer;

/// A flag not given (`--caller-role-arn`, `--org-id`): its value in the trust policy is a
/// placeholder. Said as the flag is found missing, before any refusal of the others.
pub(crate) fn placeholder(printer: Printer, flag: &str) {
    printer.note(format_args!(
        "no {flag}: the trust policy names a placeholder to replace"
    ));
}

/// The policies' document on stdout; always 0.
pub(crate) fn render(printer: Printer, doc: &serde_json::Value) -> i32 {
    printer.data_line(serde_json::to_string_pretty(doc).expect("serialisable"));
    exit::SUCCESS
}
