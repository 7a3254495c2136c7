//! The accounts of a run: each entered once (one AssumeRole, shared by all the account's Regions
//! and by every pass), and, for `probe --as-role`, the role entered in each, once. Also the run's
//! clock, from the SDK's time source (virtual in simulations).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

use crate::aws::clients::{Clients, Regional, RoleBook, RuleBook};
use crate::aws::error::ApiError;
use crate::data::target::{CheckedAt, Target};
use crate::engine::credentials::Access;

/// An account's configuration, or why it could not be entered, made once per run.
type AccountCell = OnceCell<Result<SdkConfig, ApiError>>;

/// The accounts entered in a run, and how to enter them.
pub(super) struct Accounts {
    pub(super) clients: Clients,
    sts: aws_sdk_sts::Client,
    pub(super) access: Access,
    /// One entry per account, filled on first use: the run's only AssumeRole into it.
    entered: Mutex<HashMap<String, Arc<AccountCell>>>,
    /// `probe --as-role`: the role entered in each account, once per run.
    consumers: Mutex<HashMap<String, Arc<AccountCell>>>,
    /// The clients of each (account, Region) while its upstreams' targets are worked on in a
    /// pass, with how many of them are still to take them: one set of clients, and one read of
    /// the registry's rules, for all of them. Emptied when a pass starts.
    shared: Mutex<HashMap<(String, String), (Regional, usize)>>,
    /// Targets of one (account, Region) in a pass: the rollout's upstreams.
    upstreams: usize,
    /// Each account's roles as read in this run (an ECR upstream's), shared by its Regions.
    roles: Mutex<HashMap<String, RoleBook>>,
}

impl Accounts {
    pub(super) fn new(clients: Clients, access: Access, upstreams: usize) -> Self {
        Accounts {
            sts: clients.sts(),
            clients,
            access,
            entered: Mutex::default(),
            consumers: Mutex::default(),
            shared: Mutex::default(),
            upstreams,
            roles: Mutex::default(),
        }
    }

    /// A pass starts: what the last one read is not this one's.
    pub(super) fn new_pass(&self) {
        self.shared.lock().expect("not poisoned").clear();
    }

    fn cell(&self, account_id: &str) -> Arc<AccountCell> {
        let mut accounts = self.entered.lock().expect("not poisoned");
        // Looked up for every target: allocate the key only for an account's first.
        if let Some(cell) = accounts.get(account_id) {
            return cell.clone();
        }
        accounts.entry(account_id.to_owned()).or_default().clone()
    }

    /// Enters the account once per run (later callers wait for the first).
    pub(super) async fn enter(&self, account_id: &str) -> Result<SdkConfig, ApiError> {
        self.cell(account_id)
            .get_or_init(|| self.access.enter(&self.clients, &self.sts, account_id))
            .await
            .clone()
    }

    pub(super) fn is_entered(&self, account_id: &str) -> bool {
        self.cell(account_id).initialized()
    }

    /// The target's Region's clients, in its account.
    pub(super) async fn regional(&self, t: &Target) -> Result<Regional, ApiError> {
        let config = self.enter(&t.account_id).await?;
        let roles = self.roles_of(&t.account_id);
        let made = || {
            let mut c = Clients::regional(&config, &t.account_id, &t.region);
            c.roles = Some(roles.clone());
            c
        };
        if self.upstreams <= 1 {
            return Ok(made());
        }
        let mut shared = self.shared.lock().expect("not poisoned");
        let key = (t.account_id.clone(), t.region.clone());
        // The targets of one (account, Region) are next to each other in the stream, so an
        // entry lives about as long as one target's work.
        Ok(match shared.get_mut(&key) {
            Some((c, left)) => {
                let c = c.clone();
                *left -= 1;
                if *left == 0 {
                    shared.remove(&key);
                }
                c
            }
            None => {
                let mut c = made();
                c.rules = Some(RuleBook::default());
                shared.insert(key, (c.clone(), self.upstreams - 1));
                c
            }
        })
    }

    /// The account's roles as read in this run.
    fn roles_of(&self, account_id: &str) -> RoleBook {
        let mut roles = self.roles.lock().expect("not poisoned");
        if let Some(book) = roles.get(account_id) {
            return book.clone();
        }
        roles.entry(account_id.to_owned()).or_default().clone()
    }

    /// Enters `role` in the target's account, once per account and run, from the member role.
    pub(super) async fn enter_as(&self, t: &Target, role: &str) -> Result<SdkConfig, ApiError> {
        let config = self.enter(&t.account_id).await?;
        let cell: Arc<AccountCell> = self
            .consumers
            .lock()
            .expect("not poisoned")
            .entry(t.account_id.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| {
            self.access
                .enter_as(&self.clients, &config, &t.account_id, role)
        })
        .await
        .clone()
    }

    /// Now, from the SDK's time source (virtual in simulations).
    pub(super) fn now(&self) -> CheckedAt {
        let now = self
            .clients
            .base()
            .time_source()
            .map(|t| t.now())
            .unwrap_or_else(std::time::SystemTime::now);
        CheckedAt::from_system(now)
    }
}
