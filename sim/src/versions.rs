//! A secret's versions and staging labels, kept compact: most secrets hold one version under
//! the default key for ever, inline, and carry nothing else.

use std::fmt;
use std::sync::Arc;

use super::state::{Interner, Tags};

/// Staging labels AWS manages, as bits of [`Version::stages`]; any other label is kept in
/// [`Extra::labels`].
pub(crate) const AWSCURRENT: u8 = 1;
pub(crate) const AWSPREVIOUS: u8 = 2;
pub(crate) const AWSPENDING: u8 = 4;
pub(crate) const BUILTIN_LABELS: [(u8, &str); 3] = [
    (AWSCURRENT, "AWSCURRENT"),
    (AWSPREVIOUS, "AWSPREVIOUS"),
    (AWSPENDING, "AWSPENDING"),
];

/// Versions a secret keeps at most: AWS keeps 100 and removes versions without a staging label
/// beyond that.
pub(crate) const MAX_VERSIONS: usize = 100;

/// A version id (a ClientRequestToken, 32 to 64 characters). A lowercase UUID, what the SDKs
/// and ptc-rollout send, is kept in 16 bytes; anything else as text.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum VersionId {
    Uuid([u8; 16]),
    Other(Arc<str>),
}

impl VersionId {
    pub(crate) fn new(s: &str) -> Self {
        match parse_uuid(s) {
            Some(u) => VersionId::Uuid(u),
            None => VersionId::Other(Arc::from(s)),
        }
    }

    /// Whether this is the id `s` (without allocating).
    pub(crate) fn is(&self, s: &str) -> bool {
        match self {
            VersionId::Uuid(u) => parse_uuid(s).as_ref() == Some(u),
            VersionId::Other(o) => **o == *s,
        }
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionId::Uuid(u) => {
                for (i, b) in u.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_str("-")?;
                    }
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            VersionId::Other(o) => f.write_str(o),
        }
    }
}

/// The 16 bytes of a lowercase `8-4-4-4-12` UUID; `None` for anything else (which then keeps
/// its exact spelling).
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut i = 0;
    while i < 36 {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b[i] != b'-' {
                return None;
            }
            i += 1;
            continue;
        }
        let hex = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[n] = hex(b[i])? << 4 | hex(b[i + 1])?;
        n += 1;
        i += 2;
    }
    Some(out)
}

/// One version of a secret: its id, value, creation date and AWS staging labels.
pub(crate) struct Version {
    pub id: VersionId,
    pub value: Option<Arc<str>>,
    pub created: u32,
    /// [`AWSCURRENT`], [`AWSPREVIOUS`], [`AWSPENDING`] bits.
    pub stages: u8,
}

/// What few secrets need: more than one version, custom staging labels, a customer managed
/// key. Boxed, so a secret with one version under the default key carries none of it.
#[derive(Default)]
pub(crate) struct Extra {
    /// Versions after [`Secret::first`], oldest first.
    pub versions: Vec<Version>,
    /// Staging labels other than AWS's, each on one version.
    pub labels: Vec<(Arc<str>, VersionId)>,
    /// The KMS key, when it is not the default `aws/secretsmanager`.
    pub kms_key: Option<Arc<str>>,
    /// Hash of the ClientRequestToken of a CreateSecret without a value (its retry is the same
    /// request); with a value, the first version's id is the token.
    pub create_token: Option<u64>,
}

/// One secret. Dates are epoch seconds; `deleted` (when DeleteSecret was called) and
/// `purge_at` (when the recovery window ends) are 0 unless scheduled for deletion.
pub(crate) struct Secret {
    pub name: Arc<str>,
    pub description: Option<Arc<str>>,
    pub tags: Tags,
    /// The oldest version kept: most secrets hold exactly one, inline.
    pub first: Option<Version>,
    pub extra: Option<Box<Extra>>,
    pub created: u32,
    pub changed: u32,
    pub deleted: u32,
    pub purge_at: u32,
    pub suffix: [u8; 6],
}

impl Secret {
    pub(crate) fn versions(&self) -> impl Iterator<Item = &Version> {
        self.first
            .iter()
            .chain(self.extra.iter().flat_map(|e| e.versions.iter()))
    }

    fn versions_mut(&mut self) -> impl Iterator<Item = &mut Version> {
        self.first
            .iter_mut()
            .chain(self.extra.iter_mut().flat_map(|e| e.versions.iter_mut()))
    }

    pub(crate) fn version(&self, id: &str) -> Option<&Version> {
        self.versions().find(|v| v.id.is(id))
    }

    /// The version holding AWSCURRENT.
    pub(crate) fn current(&self) -> Option<&Version> {
        self.versions().find(|v| v.stages & AWSCURRENT != 0)
    }

    /// The current version's value.
    pub(crate) fn value(&self) -> Option<&Arc<str>> {
        self.current().and_then(|v| v.value.as_ref())
    }

    pub(crate) fn kms_key(&self) -> Option<&Arc<str>> {
        self.extra.as_ref().and_then(|e| e.kms_key.as_ref())
    }

    pub(crate) fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The custom labels of a version.
    pub(crate) fn custom_labels<'a>(&'a self, id: &'a VersionId) -> impl Iterator<Item = &'a str> {
        self.extra
            .iter()
            .flat_map(|e| e.labels.iter())
            .filter(move |(_, v)| v == id)
            .map(|(l, _)| &**l)
    }

    /// The version a staging label is attached to.
    pub(crate) fn holder(&self, label: &str) -> Option<VersionId> {
        match builtin(label) {
            Some(bit) => self
                .versions()
                .find(|v| v.stages & bit != 0)
                .map(|v| v.id.clone()),
            None => self
                .extra
                .as_ref()?
                .labels
                .iter()
                .find(|(l, _)| **l == *label)
                .map(|(_, v)| v.clone()),
        }
    }

    /// Attaches `label` to version `to` (which exists), or detaches it when `to` is `None`;
    /// a label is on one version at most.
    pub(crate) fn set_label(
        &mut self,
        label: &str,
        to: Option<&VersionId>,
        interner: &mut Interner,
    ) {
        match builtin(label) {
            Some(bit) => {
                for v in self.versions_mut() {
                    if Some(&v.id) == to {
                        v.stages |= bit;
                    } else {
                        v.stages &= !bit;
                    }
                }
            }
            None => {
                if let Some(e) = &mut self.extra {
                    e.labels.retain(|(l, _)| **l != *label);
                }
                if let Some(to) = to {
                    let label = interner.str(label);
                    self.extra().labels.push((label, to.clone()));
                }
            }
        }
    }

    /// Moves AWSCURRENT to `to`; AWSPREVIOUS follows to the version AWSCURRENT leaves, as AWS
    /// does whenever AWSCURRENT moves.
    pub(crate) fn make_current(&mut self, to: &VersionId, interner: &mut Interner) {
        let from = self.holder("AWSCURRENT");
        self.set_label("AWSCURRENT", Some(to), interner);
        match from {
            Some(from) if from != *to => self.set_label("AWSPREVIOUS", Some(&from), interner),
            _ => {}
        }
        for v in self.versions_mut() {
            if v.id == *to {
                v.stages &= !AWSPREVIOUS;
            }
        }
    }

    /// Adds a version (without labels: the caller attaches them, then calls
    /// [`Secret::forget_old_versions`]).
    pub(crate) fn add_version(&mut self, v: Version) {
        match self.first {
            None => self.first = Some(v),
            Some(_) => self.extra().versions.push(v),
        }
    }

    /// Whether a version has a staging label (else it is deprecated).
    pub(crate) fn labelled(&self, v: &Version) -> bool {
        v.stages != 0 || self.custom_labels(&v.id).next().is_some()
    }

    /// Forgets the oldest versions without any staging label beyond [`MAX_VERSIONS`].
    pub(crate) fn forget_old_versions(&mut self) {
        while self.versions().count() > MAX_VERSIONS {
            let first_free = self.first.as_ref().is_some_and(|v| !self.labelled(v));
            let extra = self
                .extra
                .as_ref()
                .map(|e| &e.versions[..])
                .unwrap_or_default();
            if first_free {
                let e = self.extra.as_mut().expect("more than one version");
                self.first = Some(e.versions.remove(0));
            } else if let Some(i) = extra.iter().position(|v| !self.labelled(v)) {
                self.extra().versions.remove(i);
            } else {
                return;
            }
        }
    }
}

fn builtin(label: &str) -> Option<u8> {
    BUILTIN_LABELS
        .iter()
        .find(|(_, name)| *name == label)
        .map(|(bit, _)| *bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_keep_their_spelling() {
        for id in [
            "0c5b3c1e-8f4a-4d2b-9e6f-1a2b3c4d5e6f",
            "0C5B3C1E-8F4A-4D2B-9E6F-1A2B3C4D5E6F",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ptc-rollout-version-0000000000000001",
        ] {
            let v = VersionId::new(id);
            assert_eq!(v.to_string(), id);
            assert!(v.is(id) && !v.is("0c5b3c1e-8f4a-4d2b-9e6f-1a2b3c4d5e60"));
        }
        assert!(matches!(
            VersionId::new("0c5b3c1e-8f4a-4d2b-9e6f-1a2b3c4d5e6f"),
            VersionId::Uuid(_)
        ));
    }

    #[test]
    fn a_secret_stays_small() {
        // 100,000 targets hold one secret each: the common case carries no boxed extras.
        assert!(
            std::mem::size_of::<Secret>() <= 128,
            "{}",
            std::mem::size_of::<Secret>()
        );
    }
}
