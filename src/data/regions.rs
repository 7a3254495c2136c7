//! The tool's built-in list of AWS Regions, so a typo in the rollout file is refused before any
//! AWS call instead of failing in every account. `allow_unknown_regions` bypasses it for Regions
//! newer than this list, as Terraform's `skip_region_validation` does. A Region's partition is
//! what ARNs name, so the few ARN helpers the tool needs live here too.

/// Regions in which ECR pull through cache and Secrets Manager are offered, by partition.
pub const KNOWN_REGIONS: &[&str] = &[
    // aws
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    // aws-us-gov
    "us-gov-east-1",
    "us-gov-west-1",
    // aws-cn
    "cn-north-1",
    "cn-northwest-1",
];

/// Regions that an account must opt in to before use (AWS lists them as "not enabled by default").
pub const OPT_IN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// Whether `name` is a Region of the built-in list.
pub fn is_known(name: &str) -> bool {
    KNOWN_REGIONS.contains(&name)
}

/// The ARN partition a Region belongs to: what ARNs built for a target must name.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// The ARN of the IAM role `name` (after any path) in an account, or in every account for `*`.
pub(crate) fn role_arn(partition: &str, account_id: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account_id}:role/{name}")
}

/// The partition of an ARN (`arn:PARTITION:...`), if `arn` is one.
pub(crate) fn arn_partition(arn: &str) -> Option<&str> {
    arn_field(arn, 0)
}

/// The account of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`), if `arn` has one.
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
    arn_field(arn, 3)
}

/// The `index`th field after `arn:`, split at colons as every ARN is.
fn arn_field(arn: &str, index: usize) -> Option<&str> {
    arn.strip_prefix("arn:")?.split(':').nth(index)
}

/// Whether `name` has the shape of a Region code (`xx-name-N`, optionally with a partition infix
/// such as `us-gov-west-1`), used when unknown Regions are allowed.
pub(crate) fn is_well_formed(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_regions_are_well_formed() {
        for r in KNOWN_REGIONS {
            assert!(is_well_formed(r), "{r}");
        }
        for r in OPT_IN_REGIONS {
            assert!(is_known(r), "{r}");
        }
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("cn-north-1"), "aws-cn");
    }

    #[test]
    fn arns_are_made_and_read() {
        let arn = role_arn("aws-cn", "111111111111", "ci/runner");
        assert_eq!(arn, "arn:aws-cn:iam::111111111111:role/ci/runner");
        assert_eq!(arn_partition(&arn), Some("aws-cn"));
        assert_eq!(arn_account(&arn), Some("111111111111"));
        assert_eq!(arn_account("arn:aws:s3:::bucket"), Some(""));
        assert_eq!(arn_partition("aws:iam::1:role/x"), None);
        assert_eq!(arn_account("arn:aws:iam"), None);
    }

    #[test]
    fn malformed_regions_are_refused() {
        for r in [
            "",
            "us-east",
            "US-EAST-1",
            "us_east_1",
            "us-east-1a",
            "-east-1",
            "us--1",
        ] {
            assert!(!is_well_formed(r), "{r}");
        }
    }
}
