//! Secrets Manager as AWS documents it: versions and staging labels, and asynchronous forced
//! deletion.

use super::aws_rules::{status, VALUE_A};
use super::services::{quiet, SECRET};
use super::*;
use aws_sdk_secretsmanager::operation::create_secret::builders::CreateSecretFluentBuilder;
use aws_sdk_secretsmanager::operation::delete_secret::builders::DeleteSecretFluentBuilder;

const TOKEN_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TOKEN_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const VALUE_B: &str = r#"{"username":"u","accessToken":"b"}"#;

/// (version id, its stages) of a secret, sorted by id.
async fn stages(r: &Regional, id: &str) -> Vec<(String, Vec<String>)> {
    let d = r.secrets.describe_secret().secret_id(id).send();
    let mut v: Vec<_> = d
        .await
        .unwrap()
        .version_ids_to_stages()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v.sort();
    v
}

/// CreateSecret of SECRET holding VALUE_A.
fn create(r: &Regional) -> CreateSecretFluentBuilder {
    r.secrets
        .create_secret()
        .name(SECRET)
        .secret_string(VALUE_A)
}

/// DeleteSecret of SECRET without a recovery window.
fn force_delete(r: &Regional) -> DeleteSecretFluentBuilder {
    r.secrets
        .delete_secret()
        .secret_id(SECRET)
        .force_delete_without_recovery(true)
}

fn pair(id: &str, s: &[&str]) -> (String, Vec<String>) {
    (id.to_owned(), s.iter().map(|x| x.to_string()).collect())
}

#[tokio::test(start_paused = true)]
async fn secret_versions_keep_their_stages() {
    let sim = Sim::new(quiet());
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    r.secrets
        .create_secret()
        .name(SECRET)
        .secret_string(VALUE_A)
        .client_request_token(TOKEN_A)
        .send()
        .await
        .unwrap();
    assert_eq!(stages(&r, SECRET).await, [pair(TOKEN_A, &["AWSCURRENT"])]);
    let put = |token: &'static str, value: &'static str| {
        r.secrets
            .put_secret_value()
            .secret_id(SECRET)
            .secret_string(value)
            .client_request_token(token)
            .send()
    };
    let b = put(TOKEN_B, VALUE_B).await.unwrap();
    assert_eq!(b.version_stages(), ["AWSCURRENT"]);
    assert_eq!(
        stages(&r, SECRET).await,
        [
            pair(TOKEN_A, &["AWSPREVIOUS"]),
            pair(TOKEN_B, &["AWSCURRENT"])
        ]
    );
    // A's token and value again: succeeds and does nothing; AWSCURRENT stays on B.
    let again = put(TOKEN_A, VALUE_A).await.unwrap();
    assert_eq!(
        (again.version_id(), again.version_stages()),
        (Some(TOKEN_A), &["AWSPREVIOUS".to_owned()][..])
    );
    let current = r.secrets.get_secret_value().secret_id(SECRET).send();
    assert_eq!(current.await.unwrap().secret_string(), Some(VALUE_B));
    // The same token with another value is refused.
    let changed = put(TOKEN_A, r#"{"other":1}"#).await;
    assert_eq!(code(&changed).as_deref(), Some("ResourceExistsException"));
    assert_eq!(status(&changed), Some(400));

    // Moving AWSCURRENT needs the version it leaves; AWSPREVIOUS follows.
    let stage = |to: Option<&str>, from: Option<&str>| {
        r.secrets
            .update_secret_version_stage()
            .secret_id(SECRET)
            .version_stage("AWSCURRENT")
            .set_move_to_version_id(to.map(str::to_owned))
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
    };
    let blind = stage(Some(TOKEN_A), None).await;
    assert_eq!(code(&blind).as_deref(), Some("InvalidParameterException"));
    let wrong = stage(Some(TOKEN_A), Some(TOKEN_A)).await;
    assert_eq!(code(&wrong).as_deref(), Some("InvalidParameterException"));
    stage(Some(TOKEN_A), Some(TOKEN_B)).await.unwrap();
    assert_eq!(
        stages(&r, SECRET).await,
        [
            pair(TOKEN_A, &["AWSCURRENT"]),
            pair(TOKEN_B, &["AWSPREVIOUS"])
        ]
    );
    let value = r.secrets.get_secret_value().secret_id(SECRET).send();
    let value = value.await.unwrap();
    assert_eq!(
        (value.secret_string(), value.version_id()),
        (Some(VALUE_A), Some(TOKEN_A))
    );
    let previous = r
        .secrets
        .get_secret_value()
        .secret_id(SECRET)
        .version_stage("AWSPREVIOUS")
        .send();
    assert_eq!(previous.await.unwrap().secret_string(), Some(VALUE_B));

    // Custom labels; ListSecretVersionIds shows every labelled version.
    r.secrets
        .update_secret_version_stage()
        .secret_id(SECRET)
        .version_stage("blue")
        .move_to_version_id(TOKEN_B)
        .send()
        .await
        .unwrap();
    let listed = r.secrets.list_secret_version_ids().secret_id(SECRET).send();
    let listed = listed.await.unwrap();
    let mut seen: Vec<_> = listed
        .versions()
        .iter()
        .map(|v| {
            let mut s = v.version_stages().to_vec();
            s.sort();
            (v.version_id().unwrap().to_owned(), s)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            pair(TOKEN_A, &["AWSCURRENT"]),
            pair(TOKEN_B, &["AWSPREVIOUS", "blue"])
        ]
    );
    // Under the model's 32 characters: refused by AWS's front end (the emulator's code).
    let short = put("too-short", VALUE_B).await;
    assert_eq!(code(&short).as_deref(), Some("ValidationException"));

    // Old versions without labels go beyond 100; labelled ones stay.
    for i in 0..110 {
        let token = format!("{i:08}-0000-4000-8000-000000000000");
        let value = format!(r#"{{"n":{i}}}"#);
        let out = r
            .secrets
            .put_secret_value()
            .secret_id(SECRET)
            .secret_string(value)
            .client_request_token(token)
            .send();
        out.await.unwrap();
    }
    let all = r
        .secrets
        .list_secret_version_ids()
        .secret_id(SECRET)
        .include_deprecated(true)
        .max_results(100)
        .send();
    let all = all.await.unwrap();
    assert_eq!(all.versions().len(), 100);
    assert!(all.next_token().is_none());
    let blue = stages(&r, SECRET).await;
    assert!(blue.contains(&pair(TOKEN_B, &["blue"])), "{blue:?}");
}

#[tokio::test(start_paused = true)]
async fn forced_deletion_frees_the_name_after_a_delay() {
    let sim = Sim::new(SimConfig {
        force_delete_delay: Duration::from_secs(5),
        ..quiet()
    });
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    let delete = |force: bool| {
        let d = if force {
            force_delete(&r)
        } else {
            let d = r.secrets.delete_secret().secret_id(SECRET);
            d.recovery_window_in_days(7)
        };
        d.send()
    };
    let describe = || r.secrets.describe_secret().secret_id(SECRET).send();
    create(&r).send().await.unwrap();
    delete(false).await.unwrap();
    let scheduled = create(&r).send().await;
    assert_eq!(code(&scheduled).as_deref(), Some("InvalidRequestException"));
    assert_eq!(
        code(&delete(false).await).as_deref(),
        Some("InvalidRequestException")
    );
    // Forced deletion purges a secret already scheduled for deletion, in the background.
    delete(true).await.unwrap();
    let start = Instant::now();
    let taken = create(&r).send().await;
    assert_eq!(code(&taken).as_deref(), Some("InvalidRequestException"));
    let message = taken.unwrap_err().into_service_error();
    assert_eq!(
        message.meta().message(),
        Some("You can't create this secret because a secret with this name is already scheduled for deletion.")
    );
    assert_eq!(
        code(&describe().await).as_deref(),
        Some("ResourceNotFoundException")
    );
    // Forcing the deletion of an absent secret is not an error.
    delete(true).await.unwrap();
    tokio::time::sleep_until(start + Duration::from_secs(5)).await;
    create(&r).send().await.unwrap();

    // Without a delay, the name is free at once.
    sim.set_force_delete_delay(Duration::ZERO);
    delete(true).await.unwrap();
    create(&r).send().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_secret_being_purged_is_shown_deleted_and_cannot_be_restored() {
    let sim = Sim::new(SimConfig {
        force_delete_delay: Duration::from_secs(5),
        force_delete_visible: true,
        ..quiet()
    });
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    let arn = create(&r).send().await.unwrap().arn().unwrap().to_owned();
    force_delete(&r).send().await.unwrap();
    let start = Instant::now();
    let shown = r.secrets.describe_secret().secret_id(SECRET).send().await;
    assert!(shown.unwrap().deleted_date().is_some());
    let restored = r.secrets.restore_secret().secret_id(&arn).send().await;
    assert_eq!(code(&restored).as_deref(), Some("InvalidRequestException"));
    assert_eq!(
        code(&create(&r).send().await).as_deref(),
        Some("InvalidRequestException")
    );
    tokio::time::sleep_until(start + Duration::from_secs(6)).await;
    let gone = r.secrets.describe_secret().secret_id(SECRET).send().await;
    assert_eq!(code(&gone).as_deref(), Some("ResourceNotFoundException"));
    assert_ne!(create(&r).send().await.unwrap().arn(), Some(arn.as_str()));
}

/// The tool against it: RestoreSecret is refused, the secret is created anew once the name is
/// free, and the rule follows the new ARN.
#[tokio::test(start_paused = true)]
async fn apply_creates_anew_a_secret_being_purged() {
    let sim = Sim::new(SimConfig {
        force_delete_delay: Duration::from_secs(5),
        force_delete_visible: true,
        valid_tokens: Some(vec![GOOD.into()]),
        ..quiet()
    });
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    let rollout = rollout("");
    let t = caller_target();
    let token = GitlabToken::new(GOOD.into()).unwrap();
    roll_out(&r, &t, &rollout, &token).await;
    force_delete(&r).send().await.unwrap();
    let o = ptc_rollout::observe(&r, &t, &rollout).await.unwrap();
    let planned = ptc_rollout::decide(&o, &rollout, false);
    assert_eq!(
        planned.actions(),
        [ptc_rollout::data::target::Action::RestoreSecret]
    );
    let (taken, _) = ptc_rollout::converge(&r, &t, &rollout, &o, planned.actions(), Some(&token))
        .await
        .unwrap();
    use ptc_rollout::data::target::Action::{CreateSecret, UpdateRuleCredential};
    assert_eq!(taken, [CreateSecret, UpdateRuleCredential]);
    let v = ptc_rollout::validate(&r, &t, &rollout).await.unwrap();
    assert!(v.is_valid, "{:?}", v.failure);
    let after = ptc_rollout::observe(&r, &t, &rollout).await.unwrap();
    assert_eq!(ptc_rollout::decide(&after, &rollout, false).actions(), []);
}

/// A role allowed DescribeSecret only on `NAME-??????` is refused a secret that does not exist
/// yet: the tool's error names the permission that covers it.
#[tokio::test(start_paused = true)]
async fn describing_an_absent_secret_by_name_only_is_denied_and_named() {
    let sim = Sim::new(SimConfig {
        describe_secret_by_arn_only: true,
        ..quiet()
    });
    let c = clients(&sim, &no_retries()).await;
    let r = caller_regional(&c, "us-east-1");
    let rollout = rollout("");
    let t = caller_target();
    let e = ptc_rollout::observe(&r, &t, &rollout).await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("AccessDeniedException"));
    assert!(
        e.to_string().contains(
            "secretsmanager:DescribeSecret on arn:aws:secretsmanager:*:*:secret:ecr-pullthroughcache/gitlab* (statement DescribeSecretBeforeItExists"
        ),
        "{e}"
    );
    // Once it exists, its ARN matches.
    r.secrets
        .create_secret()
        .name("ecr-pullthroughcache/gitlab")
        .secret_string(VALUE_A)
        .send()
        .await
        .unwrap();
    assert!(ptc_rollout::observe(&r, &t, &rollout).await.is_ok());
}
