//! Plain data every tier shares: a target and what happened there, the waves of a run, the
//! Regions and their partitions, the retries and timeouts. It depends on nothing else in the
//! crate.

pub mod regions;
pub mod target;
pub mod tuning;
pub mod waves;
