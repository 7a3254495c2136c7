//! Credential refresh on a manual clock: one AssumeRole when an account is entered, none while
//! the credentials are fresh, and exactly one per refresh however many calls need it at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::date_time::{DateTime, Format};

use super::*;
use crate::aws::clients::Overrides;
use crate::data::tuning::Tuning;

#[derive(Debug, Clone)]
struct Clock(Arc<Mutex<SystemTime>>);

impl TimeSource for Clock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// STS answers AssumeRole with credentials valid 15 minutes from the clock's now; ECR answers
/// every call with an empty success.
#[derive(Debug, Clone)]
struct FakeAws {
    clock: Clock,
    assumes: Arc<AtomicUsize>,
}

impl HttpConnector for FakeAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body =
            std::str::from_utf8(request.body().bytes().unwrap_or_default()).unwrap_or_default();
        let (status, text) = if body.contains("Action=AssumeRole") {
            let n = self.assumes.fetch_add(1, Ordering::SeqCst);
            let expiry = DateTime::from(self.clock.now() + Duration::from_secs(900))
                .fmt(Format::DateTime)
                .unwrap();
            (200, format!(
                "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
                 <Credentials><AccessKeyId>ASIA{n}</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
                 <SessionToken>t</SessionToken><Expiration>{expiry}</Expiration></Credentials>\
                 <AssumedRoleUser><AssumedRoleId>AROA:x</AssumedRoleId><Arn>arn:aws:sts::222222222222:assumed-role/R/x</Arn></AssumedRoleUser>\
                 </AssumeRoleResult></AssumeRoleResponse>"
            ))
        } else {
            (200, "{}".to_owned())
        };
        HttpConnectorFuture::ready(Ok(Response::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(text),
        )))
    }
}

#[tokio::test]
async fn credentials_are_refreshed_once_before_they_expire() {
    let clock = Clock(Arc::new(Mutex::new(SystemTime::now())));
    let fake = FakeAws {
        clock: clock.clone(),
        assumes: Arc::default(),
    };
    let connector = fake.clone();
    let overrides = Overrides {
        http_client: Some(http_client_fn(move |_, _| {
            SharedHttpConnector::new(connector.clone())
        })),
        time_source: Some(SharedTimeSource::new(clock.clone())),
        credentials: Some(SharedCredentialsProvider::new(Credentials::new(
            "AKID", "S", None, None, "test",
        ))),
        region: Some("us-east-1".into()),
        ..Overrides::default()
    };
    let clients = Clients::load(overrides, &Tuning::default()).await;
    let access = Access {
        caller: Caller {
            account_id: "111111111111".into(),
            arn: "arn:aws:iam::111111111111:user/u".into(),
            partition: "aws".into(),
        },
        role_name: "R".into(),
        external_id: None,
        duration: Duration::from_secs(900),
        session_name: "ptc-rollout-test".into(),
    };
    let config = access
        .enter(&clients, &clients.sts(), "222222222222")
        .await
        .unwrap();
    assert_eq!(
        fake.assumes.load(Ordering::SeqCst),
        1,
        "entering the account assumes the role"
    );

    let ecr = |region: &str| Clients::regional(&config, "222222222222", region).ecr;
    for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
        ecr(region)
            .describe_pull_through_cache_rules()
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        fake.assumes.load(Ordering::SeqCst),
        1,
        "every Region shares the first credentials"
    );

    // One minute before expiry: inside the refresh buffer. Many calls at once, one refresh.
    *clock.0.lock().unwrap() += Duration::from_secs(14 * 60);
    let calls = (0..20).map(|i| {
        let client = ecr(if i % 2 == 0 { "us-east-1" } else { "eu-west-1" });
        async move { client.describe_pull_through_cache_rules().send().await }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(
        fake.assumes.load(Ordering::SeqCst),
        2,
        "exactly one AssumeRole per refresh"
    );
}
