//! The emulator's model check (emulator/model_check.py) in every test: a call the AWS service
//! models refuse fails the test that sent it, unless the test sends such values on purpose.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Value};

use super::Emulator;

impl Emulator {
    /// Declares that this test sends values the AWS service models refuse on purpose; else
    /// dropping the emulator fails the test if any call was refused by the model check
    /// (emulator/model_check.py), since real AWS would refuse it too.
    #[allow(dead_code)] // documented in emulator/README.md; no test needs it today
    pub fn expect_model_refusals(&self) {
        self.model_refusals_expected.set(true);
    }

    /// The calls the model check refused since the emulator started or this was last called,
    /// which are then forgotten (the call log is cleared): for a test that sends refused values
    /// on purpose in some steps and keeps every other step, and the rest of the test, checked.
    pub fn take_model_refusals(&self) -> Vec<String> {
        let mut refused = self.model_refusals.take();
        refused.extend(self.refused_calls());
        self.post("/_ptc/calls/reset", json!({}));
        refused
    }

    /// The calls the model check refused, as `service action: message`. Panics when the call
    /// log cannot be read: the check would find no refusal and pass.
    pub(super) fn refused_calls(&self) -> Vec<String> {
        self.read_refused_calls().unwrap_or_else(|e| panic!("{e}"))
    }

    fn read_refused_calls(&self) -> Result<Vec<String>, String> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            format!(
                "the model check (emulator/model_check.py) cannot read the emulator's call log \
                 at {}: {what}: {e}",
                self.addr
            )
        };
        let mut s = TcpStream::connect(&self.addr).map_err(|e| failed("connect", &e))?;
        let ask = format!(
            "GET /_ptc/calls HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        let mut resp = String::new();
        s.write_all(ask.as_bytes())
            .and_then(|()| s.read_to_string(&mut resp).map(drop))
            .map_err(|e| failed("GET /_ptc/calls", &e))?;
        let (head, body) = resp
            .split_once("\r\n\r\n")
            .ok_or_else(|| failed("not an HTTP answer", &resp))?;
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            return Err(failed("answered", &head));
        }
        let log: Value = serde_json::from_str(body).map_err(|e| failed("not JSON", &e))?;
        let calls = log["calls"]
            .as_array()
            .ok_or_else(|| failed("no `calls` list", &body))?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Ok(calls
            .iter()
            .filter_map(|c| {
                let why = c["model_refusal"].as_str()?;
                Some(format!(
                    "{} {}: {why}",
                    text(&c["service"]),
                    text(&c["action"])
                ))
            })
            .collect())
    }

    /// The refusals of this emulator's calls, unless the test declared it expects them; `Err`
    /// when the call log cannot be read.
    pub(super) fn unexpected_model_refusals(&self) -> Result<Vec<String>, String> {
        if self.model_refusals_expected.get() {
            return Ok(Vec::new());
        }
        let mut refused = self.model_refusals.take();
        refused.extend(self.read_refused_calls()?);
        Ok(refused)
    }
}

/// Fails the test if `refused` names a call or could not be read; only prints when the test
/// failed already.
pub(super) fn report(refused: Result<Vec<String>, String>) {
    if std::thread::panicking() {
        // The test failed already: a second panic would abort; a hint is enough.
        match refused {
            Ok(r) if !r.is_empty() => {
                eprintln!("AWS would also refuse these calls:\n{}", r.join("\n"))
            }
            Err(e) => eprintln!("{e}"),
            Ok(_) => {}
        }
        return;
    }
    let refused = refused.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        refused.is_empty(),
        "AWS would refuse these calls (the service models' constraints, emulator/model_check.py); \
         fix the request, or, where a step sends such a value on purpose, take its refusal \
         with take_model_refusals() and check it:\n{}",
        refused.join("\n")
    );
}
