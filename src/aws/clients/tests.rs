//! Retry and timeout behaviour of the clients built here, in virtual time: tokio's paused clock
//! lets backoff and timeouts elapse instantly while still being measured. The HTTP layer is a
//! scripted connector, so the real SDK (signing, retry strategy, classifiers) is exercised.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use tokio::time::Instant;

use super::*;

#[derive(Debug, Clone, Copy)]
enum Answer {
    Ok(&'static str),
    Error(u16, &'static str),
    Hang,
}

const THROTTLED: Answer = Answer::Error(400, "ThrottlingException");

/// Answers from a script per registry id (the `registryId` in the request body), then `Ok`.
#[derive(Debug, Clone, Default)]
struct Scripted {
    scripts: Arc<Mutex<HashMap<&'static str, VecDeque<Answer>>>>,
    repeat: Arc<Mutex<HashMap<&'static str, Answer>>>,
    calls: Arc<Mutex<HashMap<&'static str, usize>>>,
}

impl Scripted {
    fn script(&self, registry: &'static str, answers: &[Answer]) {
        self.scripts
            .lock()
            .unwrap()
            .insert(registry, answers.iter().copied().collect());
    }

    fn always(&self, registry: &'static str, answer: Answer) {
        self.repeat.lock().unwrap().insert(registry, answer);
    }

    fn calls(&self, registry: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .get(registry)
            .copied()
            .unwrap_or(0)
    }
}

impl HttpConnector for Scripted {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body =
            std::str::from_utf8(request.body().bytes().unwrap_or_default()).unwrap_or_default();
        let registry = ["111111111111", "222222222222"]
            .into_iter()
            .find(|r| body.contains(r))
            .unwrap_or("");
        *self.calls.lock().unwrap().entry(registry).or_default() += 1;
        let scripted = self
            .scripts
            .lock()
            .unwrap()
            .get_mut(registry)
            .and_then(VecDeque::pop_front);
        let answer = scripted
            .or_else(|| self.repeat.lock().unwrap().get(registry).copied())
            .unwrap_or(Answer::Ok("{}"));
        let response = |status: u16, body: String| {
            let mut r = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
            r.headers_mut()
                .insert("content-type", "application/x-amz-json-1.1");
            r
        };
        match answer {
            Answer::Ok(body) => HttpConnectorFuture::ready(Ok(response(200, body.to_owned()))),
            Answer::Error(status, code) => HttpConnectorFuture::ready(Ok(response(
                status,
                format!(r#"{{"__type":"{code}","message":"scripted {code}"}}"#),
            ))),
            Answer::Hang => HttpConnectorFuture::new(futures::future::pending()),
        }
    }
}

async fn clients(scripted: &Scripted) -> Clients {
    let connector = scripted.clone();
    let overrides = Overrides {
        http_client: Some(http_client_fn(move |_, _| {
            SharedHttpConnector::new(connector.clone())
        })),
        credentials: Some(SharedCredentialsProvider::new(Credentials::new(
            "AKID", "SECRET", None, None, "test",
        ))),
        region: Some("us-east-1".into()),
        ..Overrides::default()
    };
    Clients::load(overrides, &Tuning::default()).await
}

fn ecr(clients: &Clients, account: &str) -> aws_sdk_ecr::Client {
    Clients::regional(clients.base(), account, "us-east-1").ecr
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_with_backoff() {
    let s = Scripted::default();
    s.script("111111111111", &[THROTTLED, THROTTLED, THROTTLED]);
    let c = clients(&s).await;
    let start = Instant::now();
    ecr(&c, "111111111111")
        .describe_pull_through_cache_rules()
        .registry_id("111111111111")
        .send()
        .await
        .unwrap();
    assert_eq!(s.calls("111111111111"), 4);
    // Full-jitter backoff from a 1 s base: some virtual time passes, well under the cap.
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn the_rule_cap_fails_at_once() {
    let s = Scripted::default();
    s.always("111111111111", Answer::Error(400, "LimitExceededException"));
    let c = clients(&s).await;
    let err = ecr(&c, "111111111111")
        .create_pull_through_cache_rule()
        .registry_id("111111111111")
        .ecr_repository_prefix("gitlab")
        .upstream_registry_url("registry.gitlab.com")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_limit_exceeded_exception());
    assert_eq!(
        s.calls("111111111111"),
        1,
        "LimitExceededException is not retried"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_attempt_times_out_and_is_retried() {
    let s = Scripted::default();
    s.script("111111111111", &[Answer::Hang]);
    let c = clients(&s).await;
    let start = Instant::now();
    ecr(&c, "111111111111")
        .describe_pull_through_cache_rules()
        .registry_id("111111111111")
        .send()
        .await
        .unwrap();
    assert_eq!(s.calls("111111111111"), 2);
    let elapsed = start.elapsed();
    let attempt = Tuning::default().attempt_timeout;
    assert!(elapsed >= attempt && elapsed < attempt * 2, "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn hanging_for_ever_is_bounded_by_the_timeouts() {
    let s = Scripted::default();
    s.always("111111111111", Answer::Hang);
    let c = clients(&s).await;
    let start = Instant::now();
    let err = ecr(&c, "111111111111")
        .describe_pull_through_cache_rules()
        .registry_id("111111111111")
        .send()
        .await;
    assert!(err.is_err());
    let t = Tuning::default();
    assert!(
        start.elapsed() <= t.operation_timeout + Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(s.calls("111111111111") > 1 && s.calls("111111111111") as u32 <= t.max_attempts);
}

#[tokio::test(start_paused = true)]
async fn a_throttling_storm_in_one_account_leaves_another_its_retries() {
    let s = Scripted::default();
    s.always("111111111111", THROTTLED);
    let c = clients(&s).await;
    // Enough failing calls in account 1 to drain a 500-token retry bucket many times over.
    let stormy = ecr(&c, "111111111111");
    for _ in 0..40 {
        let _ = stormy
            .describe_pull_through_cache_rules()
            .registry_id("111111111111")
            .send()
            .await;
    }
    let storm_calls = s.calls("111111111111");
    assert!(
        storm_calls < 40 * 8,
        "the storm's own bucket ran dry and stopped its retries: {storm_calls}"
    );
    // Account 2, same service and Region, still retries its throttled call.
    s.script("222222222222", &[THROTTLED, THROTTLED]);
    ecr(&c, "222222222222")
        .describe_pull_through_cache_rules()
        .registry_id("222222222222")
        .send()
        .await
        .unwrap();
    assert_eq!(s.calls("222222222222"), 3);
}

/// Records each request's URI and answers NoSuchEntity (IAM's query protocol, XML).
#[derive(Debug, Clone, Default)]
struct Uris(Arc<Mutex<Vec<String>>>);

impl HttpConnector for Uris {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.0.lock().unwrap().push(request.uri().to_owned());
        let body = "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>none</Message></Error></ErrorResponse>";
        let r = Response::new(StatusCode::try_from(404).unwrap(), SdkBody::from(body));
        HttpConnectorFuture::ready(Ok(r))
    }
}

/// IAM is global: whatever the target's Region, GetRole goes to its partition's one endpoint
/// (the SDK's endpoint rules), through the injected HTTP client.
#[tokio::test]
async fn iam_goes_to_the_partitions_global_endpoint() {
    let seen = Uris::default();
    for region in ["eu-west-1", "us-gov-west-1", "cn-north-1"] {
        let connector = seen.clone();
        let overrides = Overrides {
            http_client: Some(http_client_fn(move |_, _| {
                SharedHttpConnector::new(connector.clone())
            })),
            credentials: Some(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "SECRET", None, None, "test",
            ))),
            region: Some(region.into()),
            ..Overrides::default()
        };
        let c = Clients::load(overrides, &Tuning::default()).await;
        let iam = Clients::regional(c.base(), "111111111111", region).iam();
        let e = iam.get_role().role_name("r").send().await.unwrap_err();
        assert!(e.into_service_error().is_no_such_entity_exception());
    }
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            "https://iam.amazonaws.com/",
            "https://iam.us-gov.amazonaws.com/",
            "https://iam.cn-north-1.amazonaws.com.cn/"
        ]
    );
}
