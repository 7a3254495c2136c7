//! The end-to-end tests: the built binary against the emulator (moto server plus emulator/*.py,
//! started by `support`). One test binary, one module per topic, so the crate and its
//! dependencies link once; run a topic with `cargo test --test e2e TOPIC::`.

mod support;

mod aws_gaps;
mod breaker;
mod ci_recipe;
mod conformance;
mod credential_sources;
mod day_two;
mod docs_links;
mod ecr_upstream;
mod faults;
mod html_report;
mod input;
mod json_outputs;
mod junit;
mod model_rules;
mod one_truth;
mod policy_race;
mod probe_upstreams;
mod pull;
mod pullable;
mod registry_policy_limit;
mod restore;
mod rollout;
mod snapshots;
mod token_life;
mod upstream_outputs;
mod upstreams;
mod waves;
