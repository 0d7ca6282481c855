//! The configuration file as written: the TOML tables with their keys'
//! defaults, strings left as strings. Reading stops here at the file's
//! syntax and types (with the line and column of what is wrong);
//! [`super::Config::parse`] then validates these into the checked types the
//! rest of lmguard takes.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{AdsConfig, LogConfig, Mode, StateConfig};
use crate::domain::address::Address;
use crate::domain::duration::{BlockDuration, HumanDuration};
use crate::loadmaster::budget::Rate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigFile {
    pub(super) loadmaster: LoadMasters,
    #[serde(default)]
    pub(super) block: BlockFile,
    #[serde(default)]
    pub(super) ads: AdsConfig,
    #[serde(default)]
    pub(super) state: StateConfig,
    #[serde(default)]
    pub(super) log: LogConfig,
}

/// `[loadmaster]` (one table) or `[[loadmaster]]` (an array of tables).
#[derive(Debug)]
pub(super) enum LoadMasters {
    One(Box<LoadMasterFile>),
    Several(Vec<LoadMasterFile>),
}

/// A table or an array of tables, each read with the tables' own
/// deserializer, so that an error keeps its line and column.
impl<'de> Deserialize<'de> for LoadMasters {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Tables;
        impl<'de> serde::de::Visitor<'de> for Tables {
            type Value = LoadMasters;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a [loadmaster] table or [[loadmaster]] tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<LoadMasters, A::Error> {
                LoadMasterFile::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|lm| LoadMasters::One(Box::new(lm)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<LoadMasters, A::Error> {
                Vec::<LoadMasterFile>::deserialize(serde::de::value::SeqAccessDeserializer::new(
                    seq,
                ))
                .map(LoadMasters::Several)
            }
        }
        d.deserialize_any(Tables)
    }
}

/// `tls_sha256`: one fingerprint, or a list (both units of an HA pair).
#[derive(Debug)]
pub(super) enum Pins {
    One(String),
    Several(Vec<String>),
}

/// A string or a list of strings; anything else is an error saying so,
/// with its line and column (serde's untagged enums only say that nothing
/// matched).
impl<'de> Deserialize<'de> for Pins {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fingerprints;
        impl<'de> serde::de::Visitor<'de> for Fingerprints {
            type Value = Pins;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a SHA-256 fingerprint, or a list of them (\"AB:CD:…\")")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Pins, E> {
                Ok(Pins::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Pins, A::Error> {
                let mut pins = Vec::new();
                while let Some(pin) = seq.next_element::<String>()? {
                    pins.push(pin);
                }
                Ok(Pins::Several(pins))
            }
        }
        d.deserialize_any(Fingerprints)
    }
}

impl Pins {
    pub(super) fn written(&self) -> Vec<String> {
        match self {
            Pins::One(p) => vec![p.clone()],
            Pins::Several(list) => list.clone(),
        }
    }
}

/// One LoadMaster's table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoadMasterFile {
    /// Required in `[[loadmaster]]` tables; `default` for a lone one.
    pub(super) name: Option<String>,
    pub(super) url: String,
    pub(super) api_key_file: Option<PathBuf>,
    pub(super) api_key_env: Option<String>,
    /// Never accepted; present only to refuse it with a helpful message.
    #[serde(default, rename = "api_key")]
    pub(super) inline_api_key: Option<toml::Value>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) tls_sha256: Option<Pins>,
    #[serde(default)]
    pub(super) insecure_skip_tls_verify: bool,
    #[serde(default = "default_timeout")]
    pub(super) timeout: HumanDuration,
    #[serde(default = "default_connections")]
    pub(super) connections: usize,
    /// The API rate budget: calls per window, all lmguard processes of the
    /// host together.
    #[serde(default = "default_rate")]
    pub(super) rate: Rate,
    /// This LoadMaster's default scope (VS indexes differ between
    /// appliances).
    pub(super) vs: Option<u32>,
}

fn default_rate() -> Rate {
    Rate::DEFAULT
}

fn default_connections() -> usize {
    4
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// `[block]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BlockFile {
    #[serde(default = "default_duration")]
    pub(super) duration: BlockDuration,
    pub(super) vs: Option<u32>,
    #[serde(default)]
    pub(super) allowlist: Vec<Address>,
    #[serde(default = "default_max_active")]
    pub(super) max_active: usize,
    #[serde(default = "default_comment_prefix")]
    pub(super) comment_prefix: String,
    #[serde(default)]
    pub(super) mode: Mode,
    pub(super) ipv6_prefix: Option<u8>,
    pub(super) min_prefix_v4: Option<u8>,
    pub(super) min_prefix_v6: Option<u8>,
    pub(super) escalation_factor: Option<f64>,
    pub(super) escalation_cap: Option<BlockDuration>,
    pub(super) escalation_jitter: Option<String>,
}

fn default_duration() -> BlockDuration {
    BlockDuration::For(Duration::from_secs(75 * 3600))
}
fn default_max_active() -> usize {
    10_000
}
fn default_comment_prefix() -> String {
    "lmguard".to_string()
}

impl Default for BlockFile {
    fn default() -> Self {
        BlockFile {
            duration: default_duration(),
            vs: None,
            allowlist: Vec::new(),
            max_active: default_max_active(),
            comment_prefix: default_comment_prefix(),
            mode: Mode::Enforce,
            ipv6_prefix: None,
            min_prefix_v4: None,
            min_prefix_v6: None,
            escalation_factor: None,
            escalation_cap: None,
            escalation_jitter: None,
        }
    }
}
