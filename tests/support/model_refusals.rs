//! The emulator's model check (emulator/model_check.py) in every test: a call the AWS service
//! models refuse fails the test that sent it, unless the test sends such values on purpose.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use super::Emulator;

impl Emulator {
    /// Declares that this test sends values the AWS service models refuse on purpose; else
    /// dropping the emulator fails the test if any call was refused by the model check
    /// (emulator/model_check.py), since real AWS would refuse it too.
    pub fn expect_model_refusals(&self) {
        self.model_refusals_expected.set(true);
    }

    /// The calls the model check refused, as `service action: message` (none when the
    /// emulator no longer answers).
    pub(super) fn refused_calls(&self) -> Vec<String> {
        let Ok(mut s) = TcpStream::connect(&self.addr) else {
            return Vec::new();
        };
        let ask = format!(
            "GET /_ptc/calls HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        let mut resp = String::new();
        if s.write_all(ask.as_bytes()).is_err() || s.read_to_string(&mut resp).is_err() {
            return Vec::new();
        }
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let log: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        log["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let why = c["model_refusal"].as_str()?;
                Some(format!(
                    "{} {}: {why}",
                    text(&c["service"]),
                    text(&c["action"])
                ))
            })
            .collect()
    }

    /// The refusals of this emulator's calls, unless the test declared it expects them.
    pub(super) fn unexpected_model_refusals(&self) -> Vec<String> {
        let mut refused = Vec::new();
        if !self.model_refusals_expected.get() {
            refused = self.model_refusals.take();
            refused.extend(self.refused_calls());
        }
        refused
    }
}

/// Fails the test if `refused` names a call; only prints when the test failed already.
pub(super) fn report(refused: Vec<String>) {
    if std::thread::panicking() {
        // The test failed already: a second panic would abort; a hint is enough.
        if !refused.is_empty() {
            eprintln!("AWS would also refuse these calls:\n{}", refused.join("\n"));
        }
        return;
    }
    assert!(
        refused.is_empty(),
        "AWS would refuse these calls (the service models' constraints, emulator/model_check.py); \
         fix the request, or call expect_model_refusals() in a test that sends them on purpose:\n{}",
        refused.join("\n")
    );
}
