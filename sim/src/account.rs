//! Account Management (REST-JSON): GetRegionOptStatus, `POST /getRegionOptStatus` with
//! `{"AccountId"?, "RegionName"}`.

use std::borrow::Cow;

use serde::Deserialize;

use super::regions::{is_commercial, OPT_IN_REGIONS};
use super::state::{Ctx, State};
use super::wire::Reply;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct In<'a> {
    #[serde(borrow)]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    region_name: Cow<'a, str>,
}

fn invalid(message: impl std::fmt::Display) -> Reply {
    Reply::json_error(400, "ValidationException", message)
}

/// The opt-in status of a Region for the caller's account, or (management account only) for a
/// member account named by AccountId: ENABLED or DISABLED for an opt-in Region,
/// ENABLED_BY_DEFAULT for any other. Checks in the emulator's order: the model's constraints,
/// then who may ask, then whether the Region exists.
pub(crate) fn get_region_opt_status(
    st: &mut State,
    ctx: &Ctx,
    caller_arn: &str,
    body: &[u8],
) -> Reply {
    let input: In = if body.is_empty() {
        In::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(i) => i,
            Err(e) => return Reply::json_error(400, "SerializationException", e),
        }
    };
    // The model check (model_check.rs) has refused an AccountId other than 12 digits and a
    // RegionName outside 1..=50 characters.
    let id = input
        .account_id
        .as_deref()
        .and_then(|id| id.parse::<u64>().ok());
    let region = &*input.region_name;
    let account = match id {
        None => ctx.account,
        // Organizations context: the management account only, for a member (not itself).
        Some(n) => match st.account_index.get(&n).copied() {
            Some(i) if i != 0 && ctx.account == 0 => i,
            _ => {
                return Reply::json_error(
                    403,
                    "AccessDeniedException",
                    format!(
                        "User: {caller_arn} is not authorized to perform: account:GetRegionOptStatus on resource: arn:aws:account::{:012}:account/{n:012}",
                        st.org.management
                    ),
                )
            }
        },
    };
    if !is_commercial(region) {
        return invalid(format!(
            "Invalid Region name '{region}': not a Region of the aws partition"
        ));
    }
    let status = if !OPT_IN_REGIONS.contains(&region) {
        "ENABLED_BY_DEFAULT"
    } else {
        match st.region(region) {
            Some(r) if st.region_enabled(account, r) => "ENABLED",
            _ => "DISABLED",
        }
    };
    Reply::ok(format!(
        r#"{{"RegionName":"{region}","RegionOptStatus":"{status}"}}"#
    ))
}
