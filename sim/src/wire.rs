//! The wire: reading what the SDK sends (SigV4 credential scope, form fields, dates) and writing
//! what it parses (awsJson 1.1 bodies and errors, STS's query-protocol XML).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// The body protocol of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    /// awsJson 1.1 (`X-Amz-Target`).
    Json,
    /// REST-JSON (Account Management): the same error bodies, another content type.
    RestJson,
    /// The query protocol's XML (STS).
    Xml,
}

/// One answer before it becomes an HTTP response.
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
    /// The error code (for `x-amzn-errortype`), when this is an error.
    pub error: Option<&'static str>,
}

impl Reply {
    pub(crate) fn ok(body: String) -> Self {
        Reply {
            status: 200,
            body,
            error: None,
        }
    }

    pub(crate) fn json_error(status: u16, code: &'static str, message: impl fmt::Display) -> Self {
        Reply {
            status,
            body: format!(
                r#"{{"__type":"{code}","message":"{}"}}"#,
                Json(&message.to_string())
            ),
            error: Some(code),
        }
    }

    pub(crate) fn xml_error(status: u16, code: &'static str, message: impl fmt::Display) -> Self {
        let kind = if status >= 500 { "Receiver" } else { "Sender" };
        Reply {
            status,
            body: format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{kind}</Type>\
                 <Code>{code}</Code><Message>{}</Message></Error><RequestId>{{RID}}</RequestId></ErrorResponse>",
                Xml(&message.to_string())
            ),
            error: Some(code),
        }
    }

    pub(crate) fn error(proto: Proto, status: u16, code: &'static str, message: &str) -> Self {
        match proto {
            Proto::Json | Proto::RestJson => Reply::json_error(status, code, message),
            Proto::Xml => Reply::xml_error(status, code, message),
        }
    }

    pub(crate) fn into_response(self, proto: Proto, request_id: u64) -> HttpResponse {
        let rid = RequestId(request_id).to_string();
        let body = match proto {
            // STS bodies carry the request id; they are rare enough for one replace.
            Proto::Xml => self.body.replace("{RID}", &rid),
            Proto::Json | Proto::RestJson => self.body,
        };
        let status = StatusCode::try_from(self.status).expect("valid status");
        let mut r = HttpResponse::new(status, SdkBody::from(body));
        let h = r.headers_mut();
        h.insert(
            "content-type",
            match proto {
                Proto::Json => "application/x-amz-json-1.1",
                Proto::RestJson => "application/json",
                Proto::Xml => "text/xml",
            },
        );
        h.insert("x-amzn-requestid", rid);
        if let Some(code) = self.error {
            h.insert("x-amzn-errortype", code);
        }
        r
    }
}

/// A UUID-shaped request id from a counter.
struct RequestId(u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        write!(f, "5e1a0000-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff)
    }
}

/// Writes a string escaped for a JSON string literal.
pub(crate) struct Json<'a>(pub &'a str);

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            let esc = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            f.write_str(&s[start..i])?;
            if esc.is_empty() {
                write!(f, "\\u{:04x}", b)?;
            } else {
                f.write_str(esc)?;
            }
            start = i + 1;
        }
        f.write_str(&s[start..])
    }
}

/// Writes a string escaped for XML text.
pub(crate) struct Xml<'a>(pub &'a str);

impl fmt::Display for Xml<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '&' => f.write_str("&amp;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&apos;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The access key id and credential scope (Region, service) of a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
pub(crate) fn credential_scope(auth: &str) -> Option<(&str, &str, &str)> {
    let start = auth.find("Credential=")? + "Credential=".len();
    let scope = auth[start..].split([',', ' ']).next()?;
    let mut parts = scope.split('/');
    let akid = parts.next()?;
    let _date = parts.next()?;
    let region = parts.next()?;
    let service = parts.next()?;
    Some((akid, region, service))
}

/// A field of a form-encoded (query protocol) body, decoded.
pub(crate) fn form_value<'a>(body: &'a str, key: &str) -> Option<Cow<'a, str>> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

pub(crate) fn percent_decode(v: &str) -> Cow<'_, str> {
    if !v.contains(['%', '+']) {
        return Cow::Borrowed(v);
    }
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Epoch seconds of an `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`).
pub(crate) fn amz_date_secs(d: &str) -> Option<i64> {
    let b = d.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| d.get(r)?.parse::<i64>().ok();
    let (y, m, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}
