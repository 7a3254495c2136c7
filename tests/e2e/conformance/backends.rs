//! The two backends a scenario runs on (the simulation and the emulator), the clients they
//! hand out, and the transcript of what each step answered.

use std::rc::Rc;

use super::*;

/// What a scenario needs from a simulated AWS: the caller's clients, the Organization's
/// accounts, and the knobs that set up a situation.
pub(crate) trait Backend {
    /// The caller's clients (the management account).
    fn clients(&self) -> &Clients;
    fn management(&self) -> &str;
    /// Two ACTIVE member accounts.
    fn members(&self) -> [&str; 2];
    /// Enables or disables an opt-in Region for an account.
    fn set_region_opt(&self, account: &str, region: &str, enabled: bool);
    /// Every role's MaxSessionDuration.
    fn set_max_session_duration(&self, seconds: u32);
    /// How long a name stays taken after a forced deletion.
    fn set_force_delete_delay(&self, delay: Duration);
    /// What takes the calls the service-model check refused since it last did; `None` where
    /// they are not recorded (the simulation).
    fn model_refusals(&self) -> Option<TakeRefusals>;
}

/// Takes the calls the service-model check refused since it was last called.
pub(crate) type TakeRefusals = Box<dyn Fn() -> Vec<String>>;

pub(crate) struct Simulated {
    pub(crate) sim: Sim,
    pub(crate) clients: Clients,
    pub(crate) members: [String; 2],
}

impl Backend for Simulated {
    fn clients(&self) -> &Clients {
        &self.clients
    }
    fn management(&self) -> &str {
        "100000000000"
    }
    fn members(&self) -> [&str; 2] {
        [&self.members[0], &self.members[1]]
    }
    fn set_region_opt(&self, account: &str, region: &str, enabled: bool) {
        self.sim.set_region_opt(account, region, enabled);
    }
    fn set_max_session_duration(&self, seconds: u32) {
        self.sim.set_max_session_duration(seconds);
    }
    fn set_force_delete_delay(&self, delay: Duration) {
        self.sim.set_force_delete_delay(delay);
    }
    fn model_refusals(&self) -> Option<TakeRefusals> {
        None
    }
}

pub(crate) struct Emulated {
    pub(crate) emu: Rc<Emulator>,
    pub(crate) clients: Clients,
    pub(crate) members: [String; 2],
}

impl Backend for Emulated {
    fn clients(&self) -> &Clients {
        &self.clients
    }
    fn management(&self) -> &str {
        support::MANAGEMENT
    }
    fn members(&self) -> [&str; 2] {
        [&self.members[0], &self.members[1]]
    }
    fn set_region_opt(&self, account: &str, region: &str, enabled: bool) {
        let status = if enabled { "ENABLED" } else { "DISABLED" };
        let body = json!({"account": account, "region": region, "status": status});
        self.emu.post("/_ptc/region_opt", body);
    }
    fn set_max_session_duration(&self, seconds: u32) {
        let body = json!({ "seconds": seconds });
        self.emu.post("/_ptc/max_session_duration", body);
    }
    fn set_force_delete_delay(&self, delay: Duration) {
        let body = json!({ "ms": delay.as_millis() as u64 });
        self.emu.post("/_ptc/force_delete_delay", body);
    }
    fn model_refusals(&self) -> Option<TakeRefusals> {
        let emu = self.emu.clone();
        Some(Box::new(move || emu.take_model_refusals()))
    }
}

/// Each step's name (`scenario: step`) and the backend's answer, and the steps whose calls the
/// service-model check refused other than as the step meant.
#[derive(Default)]
pub(crate) struct Transcript {
    pub(crate) section: &'static str,
    pub(crate) steps: Vec<(String, String)>,
    pub(crate) unexpected_refusals: Vec<String>,
    take_refusals: Option<TakeRefusals>,
}

impl Transcript {
    pub(crate) fn new(b: &impl Backend) -> Self {
        Transcript {
            take_refusals: b.model_refusals(),
            ..Transcript::default()
        }
    }

    /// A step whose calls the service models take.
    pub(crate) fn step(&mut self, name: &str, answer: String) {
        self.record(name, answer, 0);
    }

    /// A step that sends a value the service model refuses, on purpose: its one call is the
    /// one refused (any other refusal would go unseen behind it).
    pub(crate) fn refused(&mut self, name: &str, answer: String) {
        self.record(name, answer, 1);
    }

    fn record(&mut self, name: &str, answer: String, refusals: usize) {
        let name = format!("{}: {name}", self.section);
        if let Some(refused) = self.take_refusals.as_ref().map(|take| take()) {
            if refused.len() != refusals {
                self.unexpected_refusals.push(format!(
                    "{name}: {} refused call(s), {refusals} meant:\n  {}",
                    refused.len(),
                    refused.join("\n  ")
                ));
            }
        }
        self.steps.push((name, answer));
    }
}

/// An answer as a step records it: `ok[ what it showed]`, or the error code with the HTTP
/// status class (`4xx`), the exact status, or the exact status and the message.
pub(crate) trait Answer<T>: Sized {
    fn shows(self, status: bool, message: bool, ok: impl FnOnce(T) -> String) -> String;

    fn class(self) -> String {
        self.shows(false, false, |_| String::new())
    }
    fn status(self) -> String {
        self.shows(true, false, |_| String::new())
    }
    fn message(self) -> String {
        self.shows(true, true, |_| String::new())
    }
}

impl<T, E> Answer<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + Error + 'static,
{
    fn shows(self, exact: bool, message: bool, ok: impl FnOnce(T) -> String) -> String {
        let e = match self {
            Ok(v) => return format!("ok {}", ok(v)).trim_end().to_owned(),
            Err(e) => e,
        };
        let Some(status) = e.raw_response().map(|r| r.status().as_u16()) else {
            return format!("no answer: {}", DisplayErrorContext(&e));
        };
        let code = e.code().unwrap_or("(no code)");
        match (exact, message) {
            (false, _) => format!("{code} {}xx", status / 100),
            (true, false) => format!("{code} {status}"),
            (true, true) => format!("{code} {status}: {}", e.message().unwrap_or_default()),
        }
    }
}

/// A member account's configuration through AssumeRole with `sts`, or the refusal.
pub(crate) async fn enter(
    b: &impl Backend,
    sts: &aws_sdk_sts::Client,
    account: &str,
    seconds: i32,
) -> Result<SdkConfig, String> {
    let role = format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole");
    let call = sts
        .assume_role()
        .role_arn(role)
        .role_session_name("conformance");
    let out = call.duration_seconds(seconds).send().await;
    let out = out.map_err(|e| Err::<(), _>(e).message())?;
    let k = out.credentials().expect("credentials");
    let session = Some(k.session_token().to_owned());
    let keys = Credentials::new(k.access_key_id(), k.secret_access_key(), session, None, "c");
    Ok(b.clients()
        .for_account(SharedCredentialsProvider::new(keys)))
}

pub(crate) fn entered(r: Result<SdkConfig, String>) -> String {
    r.map_or_else(|e| e, |_| "ok".to_owned())
}

pub(crate) fn caller(b: &impl Backend, region: &str) -> Regional {
    Clients::regional(&b.clients().for_caller(), b.management(), region)
}

/// A secret's versions and stages, `A=AWSCURRENT B=AWSPREVIOUS` (the two tokens named A, B).
pub(crate) async fn stages(r: &Regional, id: &str) -> String {
    let out = r.secrets.describe_secret().secret_id(id).send().await;
    out.shows(false, false, |d| {
        let versions = d.version_ids_to_stages().cloned().unwrap_or_default();
        let mut v: Vec<String> = versions
            .into_iter()
            .map(|(id, mut s)| {
                s.sort();
                let id = id.replace(TOKEN_A, "A").replace(TOKEN_B, "B");
                format!("{id}={}", s.join(","))
            })
            .collect();
        v.sort();
        v.join(" ")
    })
}

pub(crate) async fn current_value(r: &Regional, id: &str) -> String {
    let out = r.secrets.get_secret_value().secret_id(id).send().await;
    out.shows(false, false, |v| {
        v.secret_string().unwrap_or_default().to_owned()
    })
}
