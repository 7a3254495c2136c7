//! Who and where: the endpoints the SDK calls, and AssumeRole's credentials acting in their
//! account.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

use super::services::{quiet, SECRET};
use super::*;

#[derive(Debug, Clone)]
struct Recording {
    inner: SharedHttpConnector,
    seen: Arc<Mutex<Vec<String>>>,
}

impl HttpConnector for Recording {
    fn call(&self, req: HttpRequest) -> HttpConnectorFuture {
        let host = req.uri().split('/').nth(2).unwrap_or_default().to_owned();
        self.seen.lock().unwrap().push(host);
        self.inner.call(req)
    }
}

#[tokio::test(start_paused = true)]
async fn the_sdk_calls_the_real_endpoints() {
    let sim = Sim::new(SimConfig {
        member_accounts: 2,
        ..quiet()
    });
    let rec = Recording {
        inner: sim.http_connector(),
        seen: Arc::default(),
    };
    let client = rec.clone();
    let overrides = Overrides {
        http_client: Some(http_client_fn(move |_, _| {
            SharedHttpConnector::new(client.clone())
        })),
        credentials: Some(sim.credentials()),
        region: Some("us-east-1".into()),
        ..Overrides::default()
    };
    let c = Clients::load(overrides, &Tuning::default()).await;
    Caller::identify(&c.sts(), "sim").await.unwrap();
    let org = c
        .organizations()
        .describe_organization()
        .send()
        .await
        .unwrap();
    assert_eq!(org.organization().unwrap().master_account_id(), Some(MGMT));
    let r = caller_regional(&c, "eu-central-1");
    let _ = r.secrets.describe_secret().secret_id(SECRET).send().await;
    let _ = r
        .ecr
        .describe_pull_through_cache_rules()
        .send()
        .await
        .unwrap();
    let seen = rec.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "sts.us-east-1.amazonaws.com",
            "organizations.us-east-1.amazonaws.com",
            "secretsmanager.eu-central-1.amazonaws.com",
            "api.ecr.eu-central-1.amazonaws.com"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn assumed_credentials_act_in_their_account_and_expire_from_the_request_date() {
    let sim = Sim::new(SimConfig {
        member_accounts: 3,
        ..quiet()
    });
    let c = clients(&sim, &Tuning::default()).await;
    let out = c
        .sts()
        .assume_role()
        .role_arn("arn:aws:iam::200000000001:role/OrganizationAccountAccessRole")
        .role_session_name("ptc-rollout-1")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let creds = out.credentials().unwrap();
    assert_eq!(creds.access_key_id(), "ASIA200000000001SIMK");
    let left = std::time::SystemTime::try_from(*creds.expiration())
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(880) && left <= Duration::from_secs(900),
        "{left:?}"
    );
    let access = Access {
        caller: Caller::identify(&c.sts(), "sim").await.unwrap(),
        role_name: "OrganizationAccountAccessRole".into(),
        // At least 2 characters: STS's model refuses shorter ones.
        external_id: Some("xy".into()),
        duration: Duration::from_secs(3600),
        session_name: "ptc-rollout-1".into(),
    };
    let cfg = access.enter(&c, &c.sts(), "200000000002").await.unwrap();
    let who = aws_sdk_sts::Client::new(&cfg)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some("200000000002"));
    let r = Clients::regional(&cfg, "200000000002", "us-west-2");
    let made = r
        .secrets
        .create_secret()
        .name(SECRET)
        .secret_string("{}")
        .send()
        .await
        .unwrap();
    assert!(made
        .arn()
        .unwrap()
        .contains(":us-west-2:200000000002:secret:"));
    // Organizations answers only the management account.
    let denied = aws_sdk_organizations::Client::new(&cfg)
        .list_accounts()
        .send()
        .await;
    assert_eq!(code(&denied).as_deref(), Some("AccessDeniedException"));
}
