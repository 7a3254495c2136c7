//! `iam-policy`: the least-privilege policies for this rollout, as JSON on stdout. No AWS call.

use crate::cli::args::IamPolicyArgs;
use crate::cli::error::CommandError;
use crate::cli::output::printer::Printer;
use crate::cli::output::{policies, Finished};
use crate::config::{is_role_name, Problem, Rollout};
use crate::outputs::iam_policy::Policies;

pub(crate) fn run(args: IamPolicyArgs, output: Printer) -> Result<Finished, CommandError> {
    let rollout = Rollout::load(&args.config)?;
    let caller = args.caller_role_arn.unwrap_or_else(|| {
        policies::placeholder(output, "--caller-role-arn");
        "arn:aws:iam::MANAGEMENT_ACCOUNT_ID:role/ROLLOUT_CALLER_ROLE".to_owned()
    });
    let org = args.org_id.unwrap_or_else(|| {
        policies::placeholder(output, "--org-id");
        "o-EXAMPLE".to_owned()
    });
    // As lenient as ever: the second field, if it names a partition.
    let partition = caller
        .split(':')
        .nth(1)
        .filter(|p| p.starts_with("aws"))
        .unwrap_or("aws");
    if let Some(role) = args.probe_as_role.as_deref().filter(|r| !is_role_name(r)) {
        return Err(CommandError::Refused(vec![Problem::new(
            "--probe-as-role",
            format!("{role:?} is not an IAM role name"),
            "give the role's name (not its ARN)",
        )]));
    }
    let policies = Policies::for_rollout(
        &rollout,
        partition,
        &caller,
        &org,
        args.probe_as_role.as_deref(),
    );
    Ok(Finished::Policies(policies.to_json()))
}
