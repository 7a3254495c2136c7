//! The refusal, in the protocol and wording of the service that was called.

use super::*;

pub(super) fn answer(op: &Op, found: &[Violation]) -> Reply {
    let first = &found[0];
    let detail: Vec<String> = found.iter().map(Violation::text).collect();
    let n = found.len();
    let plural = if n > 1 { "s" } else { "" };
    let message = format!(
        "{n} validation error{plural} detected: {}",
        detail.join("; ")
    );
    match op.service {
        Service::Sts => Reply::xml_error(400, "ValidationError", message),
        Service::Organizations => {
            let (reason, text) = organizations_reason(first.broken);
            let body = format!(
                r#"{{"__type":"InvalidInputException","message":"{text}","Reason":"{reason}"}}"#
            );
            Reply {
                status: 400,
                body,
                error: Some("InvalidInputException"),
            }
        }
        Service::Account => {
            let mut fields = String::new();
            for (i, v) in found.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                let (name, text) = (Json(v.member), v.text());
                let _ = write!(
                    fields,
                    r#"{sep}{{"name":"{name}","message":"{}"}}"#,
                    Json(&text)
                );
            }
            let body = format!(
                r#"{{"__type":"ValidationException","message":"{}","reason":"fieldValidationFailed","fieldList":[{fields}]}}"#,
                Json(&message)
            );
            Reply {
                status: 400,
                body,
                error: Some("ValidationException"),
            }
        }
        Service::Ecr if ECR_PREFIX_MEMBERS.contains(&first.member) || !op.lists_validation => {
            let text = format!(
                "Invalid parameter at '{}' failed to satisfy constraint: '{}'",
                first.path, first.constraint
            );
            Reply::json_error(400, "InvalidParameterException", text)
        }
        Service::Ecr | Service::Secrets | Service::Kms => {
            Reply::json_error(400, "ValidationException", message)
        }
    }
}

/// The model's InvalidInputExceptionReason and AWS's message for the broken constraint.
fn organizations_reason(broken: Broken) -> (&'static str, &'static str) {
    match broken {
        Broken::Required => (
            "INPUT_REQUIRED",
            "You must provide a value for all required parameters.",
        ),
        Broken::MinLength => (
            "MIN_LENGTH_EXCEEDED",
            "You provided a string parameter that is shorter than allowed.",
        ),
        Broken::MaxLength => (
            "MAX_LENGTH_EXCEEDED",
            "You provided a string parameter that is longer than allowed.",
        ),
        Broken::Pattern => (
            "INVALID_PATTERN",
            "You provided a value that does not match the required pattern.",
        ),
        Broken::Enum => ("INVALID_ENUM", "You specified an invalid value."),
        Broken::MinValue => (
            "MIN_VALUE_EXCEEDED",
            "You provided a numeric parameter that has a smaller value than allowed.",
        ),
        Broken::MaxValue => (
            "MAX_VALUE_EXCEEDED",
            "You provided a numeric parameter that has a larger value than allowed.",
        ),
    }
}
