//! The HTTP layer the SDK calls: which API and account a request is, its latency, its quota,
//! injected failures, then the service's answer.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorFuture};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use tokio::time::Instant;

use super::model::Api;
use super::state::{Ctx, State};
use super::wire::{self, Proto, Reply};
use super::{account, ecr, model_check, org, secrets, Fault, Inner, CALLER_ACCESS_KEY};

/// Which service a call is for, from its target prefix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Service {
    Organizations,
    Sts,
    Account,
    Secrets,
    Ecr,
}

fn service_of(api: Api) -> Option<Service> {
    Some(match api {
        Api::ListAccounts
        | Api::ListAccountsForParent
        | Api::ListChildren
        | Api::DescribeOrganization => Service::Organizations,
        Api::GetCallerIdentity | Api::AssumeRole => Service::Sts,
        Api::GetRegionOptStatus => Service::Account,
        Api::DescribeSecret
        | Api::GetSecretValue
        | Api::ListSecretVersionIds
        | Api::CreateSecret
        | Api::PutSecretValue
        | Api::UpdateSecret
        | Api::UpdateSecretVersionStage
        | Api::RestoreSecret
        | Api::DeleteSecret => Service::Secrets,
        Api::DescribePullThroughCacheRules
        | Api::CreatePullThroughCacheRule
        | Api::UpdatePullThroughCacheRule
        | Api::DeletePullThroughCacheRule
        | Api::ValidatePullThroughCacheRule
        | Api::CreateRepositoryCreationTemplate
        | Api::UpdateRepositoryCreationTemplate
        | Api::DescribeRepositoryCreationTemplates
        | Api::DeleteRepositoryCreationTemplate => Service::Ecr,
        Api::Unknown => return None,
    })
}

/// The API and protocol of a request.
pub(crate) fn identify(req: &HttpRequest) -> (Api, Proto) {
    if let Some(target) = req.headers().get("x-amz-target") {
        let (service, action) = target.split_once('.').unwrap_or(("", target));
        let expected = match service {
            "AWSOrganizationsV20161128" => Service::Organizations,
            "secretsmanager" => Service::Secrets,
            "AmazonEC2ContainerRegistry_V20150921" => Service::Ecr,
            _ => return (Api::Unknown, Proto::Json),
        };
        let api = Api::from_name(action);
        let api = if service_of(api) == Some(expected) {
            api
        } else {
            Api::Unknown
        };
        return (api, Proto::Json);
    }
    if req.uri().ends_with("/getRegionOptStatus") {
        return (Api::GetRegionOptStatus, Proto::RestJson);
    }
    let body = std::str::from_utf8(req.body().bytes().unwrap_or_default()).unwrap_or_default();
    let api = match wire::form_value(body, "Action").as_deref() {
        Some("AssumeRole") => Api::AssumeRole,
        Some("GetCallerIdentity") => Api::GetCallerIdentity,
        _ => Api::Unknown,
    };
    (api, Proto::Xml)
}

#[derive(Clone)]
pub(crate) struct Connector(pub(crate) Arc<Inner>);

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimConnector")
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.0.clone();
        let (api, proto) = identify(&request);
        let delay = inner.config.latency.sample(api, &inner.rng);
        HttpConnectorFuture::new(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if inner.hangs(api, &request) {
                std::future::pending::<()>().await;
            }
            Ok(inner.respond(api, proto, &request))
        })
    }
}

impl Inner {
    /// Whether the call is an ECR or Secrets Manager call in an account set to hang.
    fn hangs(&self, api: Api, req: &HttpRequest) -> bool {
        if !api.is_regional() {
            return false;
        }
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.faults.is_empty() {
            return false;
        }
        let account = req
            .headers()
            .get("authorization")
            .and_then(wire::credential_scope)
            .and_then(|(akid, _, _)| org::account_of_key(&st, CALLER_ACCESS_KEY, akid));
        account.is_some_and(|a| st.faults.get(&a) == Some(&Fault::Hang))
    }

    pub(crate) fn respond(&self, api: Api, proto: Proto, req: &HttpRequest) -> HttpResponse {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.counters.calls[api as usize] += 1;
        let request_id = st.counters.calls.iter().sum::<u64>();
        let reply = self.answer(&mut st, api, proto, req);
        drop(st);
        reply.into_response(proto, request_id)
    }

    fn answer(&self, st: &mut State, api: Api, proto: Proto, req: &HttpRequest) -> Reply {
        let scope = req
            .headers()
            .get("authorization")
            .and_then(wire::credential_scope);
        let Some((akid, region, _service)) = scope else {
            return Reply::error(
                proto,
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            );
        };
        let Some(account) = org::account_of_key(st, CALLER_ACCESS_KEY, akid) else {
            return invalid_token(proto);
        };
        let Some(region_index) = st.region(region) else {
            return Reply::error(proto, 400, "InvalidRegion", "Too many Regions");
        };
        let elapsed = Instant::now().saturating_duration_since(self.start);
        let region_name = st.regions[region_index as usize].clone();
        let ctx = Ctx {
            account,
            account_id: st.org.account_id(account as usize),
            region: region_index,
            region_name: &region_name,
            now_secs: self.epoch_start + elapsed.as_secs_f64(),
            now_nanos: elapsed.as_nanos() as u64,
        };
        if api.is_regional() && st.faults.get(&account) == Some(&Fault::Deny) {
            return Reply::json_error(
                400,
                "AccessDeniedException",
                "denied by the simulation (Sim::set_fault)",
            );
        }
        // An opt-in Region the account has not enabled does not know its credentials.
        if matches!(service_of(api), Some(Service::Secrets | Service::Ecr))
            && !st.region_enabled(account, region_index)
        {
            return invalid_token(proto);
        }
        // AWS's front end refuses what the service model does before the service sees it
        // (also for calls the simulation does not serve, as the emulator does).
        if let Some(refused) = model_check::refusal(req) {
            return refused;
        }
        let Some(service) = service_of(api) else {
            return Reply::error(
                proto,
                400,
                "UnknownOperationException",
                "The action is not implemented by the simulation.",
            );
        };
        if !take_token(st, api, &ctx) {
            st.counters.throttled += 1;
            return match service {
                Service::Organizations => Reply::json_error(
                    400,
                    "TooManyRequestsException",
                    "You have sent too many requests in too short a period of time.",
                ),
                Service::Sts => Reply::xml_error(400, "Throttling", "Rate exceeded"),
                Service::Account => {
                    Reply::json_error(429, "TooManyRequestsException", "Rate exceeded")
                }
                Service::Secrets | Service::Ecr => {
                    Reply::json_error(400, "ThrottlingException", "Rate exceeded")
                }
            };
        }
        if api.is_regional()
            && self.config.failure_rate > 0.0
            && self.rng.next_f64() < self.config.failure_rate
        {
            st.counters.failed_injected += 1;
            return Reply::json_error(
                500,
                "InternalFailure",
                "We encountered an internal error. Please try again.",
            );
        }
        let body = req.body().bytes().unwrap_or_default();
        match service {
            Service::Organizations => org::organizations(st, &ctx, api, body),
            Service::Sts => {
                let sent_at = req
                    .headers()
                    .get("x-amz-date")
                    .and_then(wire::amz_date_secs);
                org::sts(
                    st,
                    &ctx,
                    api,
                    std::str::from_utf8(body).unwrap_or_default(),
                    sent_at,
                )
            }
            Service::Account => {
                let caller = org::caller_arn(st, &ctx);
                account::get_region_opt_status(st, &ctx, &caller, body)
            }
            Service::Secrets => secrets::handle(st, &ctx, api, body, &self.rng),
            Service::Ecr => ecr::handle(st, &ctx, api, body, self.valid_tokens.as_ref()),
        }
    }
}

/// What AWS answers keys it does not know (or keys used in an opt-in Region the account has
/// not enabled): HTTP 400 from JSON services, 403 InvalidClientTokenId from STS.
fn invalid_token(proto: Proto) -> Reply {
    const MESSAGE: &str = "The security token included in the request is invalid.";
    match proto {
        Proto::Xml => Reply::xml_error(403, "InvalidClientTokenId", MESSAGE),
        Proto::Json | Proto::RestJson => {
            Reply::json_error(400, "UnrecognizedClientException", MESSAGE)
        }
    }
}

/// Takes a token from the call's quota bucket, if it has one; false when throttled.
fn take_token(st: &mut State, api: Api, ctx: &Ctx) -> bool {
    let now = ctx.now_nanos;
    let State {
        quotas,
        targets,
        org_bucket,
        assume_buckets,
        ..
    } = st;
    let (quota, bucket) = match api {
        Api::ListAccounts | Api::ListAccountsForParent | Api::ListChildren => {
            (&quotas.organizations, org_bucket)
        }
        Api::AssumeRole => (
            &quotas.assume_role,
            assume_buckets.entry(ctx.account).or_default(),
        ),
        Api::CreateSecret
        | Api::PutSecretValue
        | Api::UpdateSecret
        | Api::UpdateSecretVersionStage
        | Api::RestoreSecret => (
            &quotas.secret_writes,
            &mut targets.entry((ctx.account, ctx.region)).or_default().writes,
        ),
        Api::DescribeSecret | Api::GetSecretValue => (
            &quotas.secret_reads,
            &mut targets.entry((ctx.account, ctx.region)).or_default().reads,
        ),
        _ => return true,
    };
    let Some(quota) = quota else {
        return true;
    };
    bucket.take(quota, now)
}
