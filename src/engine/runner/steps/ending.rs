//! How every row ends on an AWS error: failed, with the error; or skipped, for an opt-in Region
//! that Account Management confirms the account has not enabled (AWS does not recognise an
//! account's credentials in a Region it has not enabled); otherwise the row says what else it
//! can be.

use super::Cx;
use crate::aws::clients::Clients;
use crate::aws::error::ApiError;
use crate::data::regions;
use crate::data::target::{Outcome, Target, TargetResult};

/// Whether AWS did not recognise the account's credentials in an opt-in Region: the Region may
/// be disabled for the account, or the credentials may be valid only in Regions enabled by
/// default (from the global STS endpoint). Only Account Management can tell which.
fn unrecognised_in_opt_in_region(t: &Target, e: &ApiError) -> bool {
    regions::OPT_IN_REGIONS.contains(&t.region.as_str())
        && matches!(
            e.code.as_deref(),
            Some("UnrecognizedClientException" | "InvalidClientTokenId" | "AuthFailure")
        )
}

/// Ends a row on an error: skipped for a Region that Account Management confirms the
/// account has not enabled, else failed (with a hint when the Region is enabled).
pub(super) async fn end_with(cx: &Cx<'_>, mut r: TargetResult, e: ApiError) -> TargetResult {
    match opt_in_verdict(cx, &r.target, &e).await {
        Some(Ok(skipped)) => {
            r.outcome = Outcome::Skipped;
            r.error = Some(skipped);
        }
        Some(Err(hint)) => {
            r.outcome = Outcome::Failed;
            r.error = Some(format!("{e}; {hint}"));
        }
        None => {
            r.outcome = Outcome::Failed;
            r.error = Some(e.to_string());
        }
    }
    r.checked_at = cx.now();
    r
}

/// For credentials AWS did not recognise in an opt-in Region: why the target is skipped,
/// when Account Management says the Region is disabled for the account; otherwise what
/// else it can be. `None` for any other error.
pub(super) async fn opt_in_verdict(
    cx: &Cx<'_>,
    t: &Target,
    e: &ApiError,
) -> Option<Result<String, String>> {
    if !unrecognised_in_opt_in_region(t, e) {
        return None;
    }
    Some(match region_opt_status(cx, t).await {
        Ok(status) if status == "DISABLED" || status == "DISABLING" => Ok(format!(
            "skipped: {} is an opt-in Region this account has not enabled (GetRegionOptStatus: {status})",
            t.region
        )),
        Ok(status) if status == "ENABLING" => Err(format!(
            "{} is being enabled for this account (GetRegionOptStatus: ENABLING): wait until it is enabled, then run again",
            t.region
        )),
        Ok(status) if t.account_id == cx.accounts.access.caller.account_id => Err(format!(
            "{} is enabled for this account (GetRegionOptStatus: {status}), yet AWS did not recognise the caller's own credentials there: credentials from the global STS endpoint (sts.amazonaws.com) are valid only in Regions enabled by default; get them from a regional endpoint (AWS_STS_REGIONAL_ENDPOINTS=regional, or sts.REGION.amazonaws.com)",
            t.region
        )),
        Ok(status) => Err(format!(
            "{} is enabled for this account (GetRegionOptStatus: {status}), yet AWS did not recognise the credentials there: credentials from the global STS endpoint are valid only in Regions enabled by default (ptc-rollout assumes roles through the regional endpoint of AWS_REGION: check that AWS_REGION names a Region)",
            t.region
        )),
        Err(check) => Err(format!(
            "could not confirm that {} is disabled for this account ({check}): enable the Region, or allow account:GetRegionOptStatus to let ptc-rollout skip it",
            t.region
        )),
    })
}

/// What Account Management says of the target's Region for its account, asked with the
/// account's own credentials.
async fn region_opt_status(cx: &Cx<'_>, t: &Target) -> Result<String, ApiError> {
    let config = cx.accounts.enter(&t.account_id).await?;
    let out = Clients::account(&config)
        .get_region_opt_status()
        .region_name(&t.region)
        .send()
        .await
        .map_err(|e| {
            ApiError::from_sdk(&t.account_id, &t.region, "account:GetRegionOptStatus", e)
        })?;
    Ok(out
        .region_opt_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_opt_in_regions_are_recognised() {
        let t = |region: &str| Target {
            account_id: "1".into(),
            account_name: "a".into(),
            region: region.into(),
            upstream: "gitlab".into(),
            ou: None,
        };
        let mut e = ApiError::new("1", "af-south-1", "secretsmanager:DescribeSecret", "x");
        e.code = Some("UnrecognizedClientException".into());
        assert!(unrecognised_in_opt_in_region(&t("af-south-1"), &e));
        assert!(
            !unrecognised_in_opt_in_region(&t("us-east-1"), &e),
            "only opt-in Regions can be disabled"
        );
    }
}
