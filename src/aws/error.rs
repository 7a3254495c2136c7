//! The error every AWS call is turned into where it is made: which account, which Region, which
//! API call, and what AWS said. The command layer prints one line per failure from it.

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// A failed AWS call. `Display` gives `call: message`; account and Region are fields so a report
/// can put them in their own columns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call}: {message}")]
pub struct ApiError {
    pub(crate) account_id: String,
    pub(crate) region: String,
    /// `service:Operation`, as IAM names it.
    pub(crate) call: &'static str,
    /// The AWS error code, when AWS answered with one.
    pub code: Option<String>,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(
        account_id: &str,
        region: &str,
        call: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            call,
            code: None,
            message: message.into(),
        }
    }

    /// From an SDK error: the service's code and message when it answered, otherwise the whole
    /// chain of causes (timeouts, connection errors, credential failures).
    pub(crate) fn from_sdk<E, R>(
        account_id: &str,
        region: &str,
        call: &'static str,
        err: SdkError<E, R>,
    ) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: Debug + Send + Sync + 'static,
    {
        let (code, message) = match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().map(str::to_owned);
                let text = e.message().unwrap_or("no message");
                let message = match &code {
                    Some(c) => format!("{c}: {text}"),
                    None => causes(&err),
                };
                (code, message)
            }
            _ => (None, causes(&err)),
        };
        Self {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            call,
            code,
            message,
        }
    }
}

/// An error and its causes, each by its `Display`, on one line: what `DisplayErrorContext`
/// says, without the `Debug` dump it appends.
pub(crate) fn causes(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
