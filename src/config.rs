//! The TOML configuration: where it is found, what it may contain, and the
//! API key it points to. It is parsed as written ([`file`]), then validated
//! into [`Config`], whose types have checked themselves.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod file;
mod wording;

use self::file::{BlockFile, ConfigFile, LoadMasterFile, LoadMasters};
use crate::domain::address::Address;
use crate::domain::comment::CommentPrefix;
use crate::domain::duration::{BlockDuration, HumanDuration};
use crate::domain::escalation::{self, Escalation};
use crate::domain::loadmaster_name::{self, LoadMasterName};
use crate::domain::policy::Policy;
use crate::error::{Error, Result};
use crate::loadmaster::settings::{ApiKey, HttpsUrl, Label, Settings, Trust};

/// The file name looked for in the configuration directories.
pub(crate) const FILE_NAME: &str = "lm-mitigation.toml";
/// The system-wide fallback location.
pub(crate) const SYSTEM_PATH: &str = "/etc/lmguard/lm-mitigation.toml";
/// Environment variable naming the configuration file.
pub(crate) const CONFIG_ENV: &str = "LMGUARD_CONFIG";

/// The configuration, validated: what the file says, in types that have
/// checked themselves ([`HttpsUrl`], [`CommentPrefix`], the parsed TLS pin),
/// so the rest of lmguard never checks these again.
#[derive(Debug)]
pub struct Config {
    /// Every configured LoadMaster, in the file's order (at least one;
    /// names unique).
    pub(crate) loadmasters: Vec<LoadMasterConfig>,
    pub(crate) block: BlockConfig,
    pub(crate) ads: AdsConfig,
    pub(crate) state: StateConfig,
    pub(crate) log: LogConfig,
}

/// One `[loadmaster]` or `[[loadmaster]]` table, validated.
#[derive(Debug)]
pub(crate) struct LoadMasterConfig {
    pub(crate) name: LoadMasterName,
    /// How messages name this table and its keys.
    label: Label,
    pub(crate) url: HttpsUrl,
    pub(crate) api_key_file: Option<PathBuf>,
    pub(crate) api_key_env: Option<String>,
    pub(crate) ca_file: Option<PathBuf>,
    /// As written, for messages (empty: no pin).
    pub(crate) tls_sha256: Vec<String>,
    /// `tls_sha256`, parsed once as the file is read.
    pins: Vec<[u8; 32]>,
    pub(crate) insecure_skip_tls_verify: bool,
    pub(crate) timeout: HumanDuration,
    /// Connections used at once for bulk work (sweep, sync, large event
    /// batches).
    pub(crate) connections: usize,
    /// The API rate budget (`rate`, default 25/3s).
    pub(crate) rate: crate::loadmaster::budget::Rate,
    /// This LoadMaster's default scope (`vs` in its table, else `[block]
    /// vs`); `None` = the global block list.
    pub(crate) vs: Option<u32>,
}

/// `[block]`, validated.
#[derive(Debug)]
pub(crate) struct BlockConfig {
    pub(crate) duration: BlockDuration,
    pub(crate) vs: Option<u32>,
    pub(crate) allowlist: Vec<Address>,
    pub(crate) max_active: usize,
    pub(crate) comment_prefix: CommentPrefix,
    pub(crate) mode: Mode,
    pub(crate) ipv6_prefix: Option<u8>,
    pub(crate) min_prefix_v4: Option<u8>,
    pub(crate) min_prefix_v6: Option<u8>,
    pub(crate) escalation_factor: Option<f64>,
    pub(crate) escalation_cap: Option<BlockDuration>,
    pub(crate) escalation_jitter: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    #[default]
    Enforce,
    Simulate,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdsConfig {
    pub(crate) min_severity: Option<String>,
    pub(crate) methods: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateConfig {
    pub(crate) path: Option<PathBuf>,
    #[serde(default = "default_lock_timeout")]
    pub(crate) lock_timeout: HumanDuration,
    /// How long finished records (expired, unblocked, rejected) are kept; `sweep`
    /// deletes older ones. `None`: kept for ever.
    pub(crate) keep_history: Option<HumanDuration>,
}

fn default_lock_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            path: None,
            lock_timeout: default_lock_timeout(),
            keep_history: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogConfig {
    pub(crate) level: Option<String>,
    pub(crate) file: Option<PathBuf>,
}

/// Where the configuration is read from, in the documented order.
pub(crate) fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let mut tried = Vec::new();
    if let Some(dirs) = directories::BaseDirs::new() {
        let user = dirs.config_dir().join("lmguard").join(FILE_NAME);
        if user.exists() {
            return Ok(user);
        }
        tried.push(user.display().to_string());
    }
    let system = PathBuf::from(SYSTEM_PATH);
    if system.exists() {
        return Ok(system);
    }
    tried.push(SYSTEM_PATH.to_string());
    Err(Error::usage(format!(
        "no configuration file found (looked at {}); pass --config PATH or set {CONFIG_ENV} \
         (lm-mitigation.toml.example documents every key)",
        tried.join(" and ")
    )))
}

impl Config {
    /// Read and validate the configuration file.
    pub(crate) fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::usage(format!(
                "cannot read configuration file {}: {e}",
                path.display()
            ))
        })?;
        Config::parse(&text)
            .map_err(|msg| Error::usage(format!("configuration file {}: {msg}", path.display())))
    }

    /// Parse, then validate, configuration text; errors name the key and
    /// its line, and never show an API key (see [`wording`]).
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        let checked = toml::from_str::<ConfigFile>(text)
            .map_err(|e| describe_toml_error(text, &e))
            .and_then(|file| Config::validate(file).map_err(|m| wording::with_line(text, &m)));
        checked.map_err(|m| wording::hide_secrets(&m, &wording::configured_secrets(text)))
    }

    /// The file as written, checked into the validated types. The checks
    /// run in a fixed order, so the first problem is the one reported.
    fn validate(file: ConfigFile) -> std::result::Result<Config, String> {
        let ConfigFile {
            loadmaster,
            block,
            ads,
            state,
            log,
        } = file;
        let block = BlockConfig::validate(block)?;
        let loadmasters = LoadMasterConfig::validate_all(loadmaster, block.vs)?;
        if let Some(level) = &log.level {
            parse_level(level).map_err(|e| format!("log.level: {e}"))?;
        }
        if let Some(sev) = &ads.min_severity {
            crate::domain::severity::Severity::parse(sev)
                .ok_or_else(|| format!("ads.min_severity: '{sev}' is not one of critical, high, medium, low, information"))?;
        }
        Ok(Config {
            loadmasters,
            block,
            ads,
            state,
            log,
        })
    }

    /// The state database path: `[state] path`, else the per-user data
    /// directory.
    pub fn state_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.state.path {
            return Ok(p.clone());
        }
        let dirs = directories::BaseDirs::new().ok_or_else(|| {
            Error::usage("cannot find a home directory for the state database; set [state] path")
        })?;
        Ok(dirs.data_dir().join("lmguard").join("state.redb"))
    }

    /// Several LoadMasters are configured: messages name the one they are
    /// about, and the list table shows a LOADMASTER column.
    pub(crate) fn several(&self) -> bool {
        self.loadmasters.len() > 1
    }

    /// The configured LoadMaster called `name`.
    pub(crate) fn loadmaster(&self, name: LoadMasterName) -> Option<&LoadMasterConfig> {
        self.loadmasters.iter().find(|lm| lm.name == name)
    }

    /// Who owns the entries of a state file written before there could be
    /// several LoadMasters: the only one configured, else `default`.
    pub(crate) fn legacy_owner(&self) -> LoadMasterName {
        match self.loadmasters.as_slice() {
            [only] => only.name,
            _ => loadmaster_name::DEFAULT,
        }
    }
}

/// Who could change the configuration file at `path` besides its user, if
/// anyone: it decides where the API key is sent, so a file writable by its
/// group or others, or owned by another user than this one or root, is
/// unsafe. `None` when it is safe (or cannot be told).
pub(crate) fn unsafe_ownership(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Some(format!(
            "{} is writable by {} (mode {mode:04o}); whoever can write it decides where the \
             API key is sent: chmod go-w {}",
            path.display(),
            match (mode & 0o020 != 0, mode & 0o002 != 0) {
                (true, true) => "its group and others",
                (true, false) => "its group",
                _ => "others",
            },
            path.display()
        ));
    }
    // The owner of /proc/self is this process's effective user.
    let me = std::fs::metadata("/proc/self").ok()?.uid();
    let owner = meta.uid();
    if owner != me && owner != 0 {
        let (owner, me) = (crate::owner::user_name(owner), crate::owner::user_name(me));
        return Some(format!(
            "{} is owned by user {owner}, not by this user ({me}) or root; that user decides \
             where the API key is sent: chown root {} (or chown {me} {0}, the user that runs \
             lmguard)",
            path.display(),
            path.display()
        ));
    }
    None
}

/// Refuse a configuration file others may change (exit 2), unless the
/// operator named it with `--config`: then it is a loud warning.
pub(crate) fn check_ownership(path: &Path, named_explicitly: bool) -> Result<()> {
    let Some(problem) = unsafe_ownership(path) else {
        return Ok(());
    };
    if named_explicitly {
        crate::logging::loud_warning(&format!("{problem} (used only because --config names it)"));
        return Ok(());
    }
    Err(Error::usage(format!(
        "{problem}; refusing to use it (name it with --config to use it anyway)"
    )))
}

/// One warning when the key file can be read by other users than its
/// owner (it names the file and its mode, never the key).
fn warn_if_shared(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o044 != 0 {
        log::warn!(
            "loadmaster.api_key_file {} is readable by {} (mode {mode:04o}); make it private: \
             chmod 600 {}",
            file.display(),
            match (mode & 0o040 != 0, mode & 0o004 != 0) {
                (true, true) => "group and others",
                (true, false) => "its group",
                _ => "others",
            },
            file.display()
        );
    }
}

/// A TOML error as `line L, column C: message`. toml's own rendering quotes
/// the offending source line, which could be a mistyped API key line, so it
/// is never shown.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    // `api_key` is a field only so that it can be refused with a helpful
    // message: never offer it among the valid keys.
    let message = e
        .message()
        .lines()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("`api_key`, ", "")
        .replace(", `api_key`", "");
    let Some(span) = e.span() else {
        return message;
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    // Name the key: the text before '=' on that line, prefixed by the last
    // [section] header above it (keys and headers only, never values).
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let section = text
        .lines()
        .take(line - 1)
        .filter_map(|l| {
            l.trim()
                .strip_prefix('[')?
                .trim_start_matches('[')
                .split(']')
                .next()
        })
        .last()
        .map(str::trim);
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('#'));
    let path = match (section, key) {
        (Some(sec), Some(key)) => Some(format!("{sec}.{key}")),
        (None, Some(key)) => Some(key.to_string()),
        _ => None,
    };
    let message = wording::in_operator_words(&message, path.as_deref());
    match path {
        Some(path) => format!("line {line}, column {column}, {path}: {message}"),
        None => format!("line {line}, column {column}: {message}"),
    }
}

/// Parse a log level name.
pub(crate) fn parse_level(s: &str) -> std::result::Result<log::LevelFilter, String> {
    s.parse::<log::LevelFilter>()
        .map_err(|_| format!("'{s}' is not one of off, error, warn, info, debug, trace"))
}

impl LoadMasterConfig {
    /// Read the API key from `api_key_file` or `api_key_env`.
    pub(crate) fn api_key(&self) -> Result<ApiKey> {
        let lm = self;
        let key = if let Some(file) = &lm.api_key_file {
            let raw = std::fs::read_to_string(file).map_err(|e| {
                Error::usage(format!(
                    "{}: cannot read {}: {e}",
                    lm.label.key("api_key_file"),
                    file.display()
                ))
            })?;
            let key = raw.trim().to_string();
            if key.is_empty() {
                return Err(Error::usage(format!(
                    "{}: {} is empty; write the LoadMaster API key into it",
                    lm.label.key("api_key_file"),
                    file.display()
                )));
            }
            warn_if_shared(file);
            key
        } else if let Some(var) = &lm.api_key_env {
            let key = std::env::var(var).unwrap_or_default().trim().to_string();
            if key.is_empty() {
                return Err(Error::usage(format!(
                    "{}: the environment variable {var} is not set or empty",
                    lm.label.key("api_key_env")
                )));
            }
            key
        } else {
            return Err(Error::usage(format!(
                "{}: no api_key_file or api_key_env",
                lm.label.table()
            )));
        };
        if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::usage(
                "the API key contains white space or control characters; it must be one line",
            ));
        }
        Ok(ApiKey::new(key))
    }

    /// The LoadMaster tables as written, checked: names unique, and
    /// `[block] vs` only with a single LoadMaster (a VS index means a
    /// different service on each appliance).
    fn validate_all(
        written: LoadMasters,
        block_vs: Option<u32>,
    ) -> std::result::Result<Vec<LoadMasterConfig>, String> {
        let tables = match written {
            LoadMasters::One(lm) => {
                let label = Label::lone();
                return Ok(vec![LoadMasterConfig::validate(*lm, label, block_vs)?]);
            }
            LoadMasters::Several(tables) => tables,
        };
        if tables.is_empty() {
            return Err("[[loadmaster]]: no LoadMaster is configured".to_string());
        }
        if tables.len() > 1 && block_vs.is_some() {
            return Err(
                "block.vs: with several LoadMasters, set vs in each [[loadmaster]] table \
                 instead (VS indexes differ between appliances)"
                    .to_string(),
            );
        }
        let mut out: Vec<LoadMasterConfig> = Vec::with_capacity(tables.len());
        for (i, lm) in tables.into_iter().enumerate() {
            let label = Label::of_several(i + 1, lm.name.clone());
            let config = LoadMasterConfig::validate(lm, label, block_vs)?;
            if let Some(n) = out.iter().position(|o| o.name == config.name) {
                return Err(format!(
                    "{}: name \"{}\" is already used by #{}",
                    config.label.table(),
                    config.name,
                    n + 1
                ));
            }
            out.push(config);
        }
        Ok(out)
    }

    fn validate(
        lm: LoadMasterFile,
        label: Label,
        block_vs: Option<u32>,
    ) -> std::result::Result<LoadMasterConfig, String> {
        let name = match (&lm.name, label.is_several()) {
            (Some(written), _) => LoadMasterName::parse(written)
                .map_err(|why| format!("{}: {why}", label.key("name")))?,
            (None, false) => loadmaster_name::DEFAULT,
            (None, true) => {
                return Err(format!(
                    "{}: name is missing (every [[loadmaster]] table needs a unique name: \
                     letters, digits, '-' and '_')",
                    label.table()
                ))
            }
        };
        if lm.inline_api_key.is_some() {
            return Err(format!(
                "{}: the API key must not be written in the configuration; put it in a file \
                 readable only by lmguard's user and set {} (or name an environment variable \
                 with {})",
                label.key("api_key"),
                label.key("api_key_file"),
                label.key("api_key_env")
            ));
        }
        let url = HttpsUrl::parse(&lm.url).map_err(|e| format!("{}: {e}", label.key("url")))?;
        if !(1..=16).contains(&lm.connections) {
            return Err(format!(
                "{}: {} is not between 1 and 16",
                label.key("connections"),
                lm.connections
            ));
        }
        let table = label.table();
        match (&lm.api_key_file, &lm.api_key_env) {
            (None, None) => {
                return Err(format!(
                    "{table}: set api_key_file (or api_key_env) to say where the API key is"
                ))
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{table}: set either api_key_file or api_key_env, not both"
                ))
            }
            _ => {}
        }
        let tls_sha256 = lm
            .tls_sha256
            .as_ref()
            .map(|p| p.written())
            .unwrap_or_default();
        if lm.tls_sha256.is_some() && tls_sha256.is_empty() {
            return Err(format!(
                "{}: the list is empty; name at least one certificate's SHA-256",
                label.key("tls_sha256")
            ));
        }
        let pins = tls_sha256
            .iter()
            .map(|written| crate::loadmaster::tls::parse_fingerprint(written))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", label.key("tls_sha256")))?;
        if !pins.is_empty() && lm.ca_file.is_some() {
            return Err(format!(
                "{table}: set either ca_file or tls_sha256 (the certificate's pin), not both"
            ));
        }
        if (lm.ca_file.is_some() || !pins.is_empty()) && lm.insecure_skip_tls_verify {
            return Err(format!(
                "{table}: {} and insecure_skip_tls_verify = true contradict each other",
                if lm.ca_file.is_some() {
                    "ca_file"
                } else {
                    "tls_sha256"
                }
            ));
        }
        Ok(LoadMasterConfig {
            name,
            label,
            url,
            api_key_file: lm.api_key_file,
            api_key_env: lm.api_key_env,
            ca_file: lm.ca_file,
            tls_sha256,
            pins,
            insecure_skip_tls_verify: lm.insecure_skip_tls_verify,
            timeout: lm.timeout,
            connections: lm.connections,
            rate: lm.rate,
            vs: lm.vs.or(block_vs),
        })
    }

    /// How messages name this LoadMaster's table (`loadmaster`, or
    /// `[[loadmaster]] #2 "brno"`).
    pub(crate) fn table(&self) -> String {
        self.label.table()
    }

    /// How messages name one of its keys (`loadmaster.url`, or
    /// `[[loadmaster]] #2 "brno": url`).
    pub(crate) fn key(&self, key: &str) -> String {
        self.label.key(key)
    }

    /// The API endpoint, `https://HOST[:PORT]/accessv2`.
    pub(crate) fn endpoint(&self) -> String {
        self.url.endpoint()
    }

    /// What the LoadMaster client needs, from these (validated) settings.
    pub(crate) fn client_settings(&self) -> Settings {
        let trust = if self.insecure_skip_tls_verify {
            Trust::Anything
        } else if !self.pins.is_empty() {
            Trust::Pins(self.pins.clone())
        } else if let Some(ca_file) = &self.ca_file {
            Trust::CaFile(ca_file.clone())
        } else {
            Trust::System
        };
        Settings {
            label: self.label.clone(),
            url: self.url.clone(),
            endpoint: self.endpoint(),
            trust,
            timeout: self.timeout.0,
            connections: self.connections,
            rate: self.rate,
        }
    }
}

impl BlockConfig {
    fn validate(b: BlockFile) -> std::result::Result<BlockConfig, String> {
        let comment_prefix = CommentPrefix::parse(&b.comment_prefix)
            .map_err(|why| format!("block.comment_prefix: {:?} {why}", b.comment_prefix))?;
        if b.max_active == 0 {
            return Err("block.max_active: must be at least 1".to_string());
        }
        if let Some(p) = b.ipv6_prefix {
            if ![48, 56, 64, 128].contains(&p) {
                return Err(format!(
                    "block.ipv6_prefix: {p} is not one of 48, 56, 64, 128"
                ));
            }
        }
        if b.min_prefix_v4.is_some_and(|p| p > 32) {
            return Err("block.min_prefix_v4: must be between 0 and 32".to_string());
        }
        if b.min_prefix_v6.is_some_and(|p| p > 128) {
            return Err("block.min_prefix_v6: must be between 0 and 128".to_string());
        }
        if let Some(f) = b.escalation_factor {
            if !(1.0..=100.0).contains(&f) {
                return Err(format!(
                    "block.escalation_factor: {f} is not between 1.0 (no escalation) and 100.0"
                ));
            }
        }
        if let Some(j) = &b.escalation_jitter {
            escalation::parse_jitter(j).map_err(|e| format!("block.escalation_jitter: {e}"))?;
        }
        Ok(BlockConfig {
            duration: b.duration,
            vs: b.vs,
            allowlist: b.allowlist,
            max_active: b.max_active,
            comment_prefix,
            mode: b.mode,
            ipv6_prefix: b.ipv6_prefix,
            min_prefix_v4: b.min_prefix_v4,
            min_prefix_v6: b.min_prefix_v6,
            escalation_factor: b.escalation_factor,
            escalation_cap: b.escalation_cap,
            escalation_jitter: b.escalation_jitter,
        })
    }
    /// The admission policy these settings describe, with the built-in
    /// ranges (loopback, link-local, …) but without the addresses found at
    /// run time; [`Config::admission_policy`] adds those.
    pub(crate) fn policy(&self) -> Policy {
        Policy {
            allowlist: self.allowlist.clone(),
            ipv6_prefix: self.ipv6_prefix.unwrap_or(128),
            min_prefix_v4: self.min_prefix_v4.unwrap_or(24),
            min_prefix_v6: self.min_prefix_v6.unwrap_or(48),
            protected: Vec::new(),
        }
    }

    /// Repeat-offender escalation: the configured values, each defaulting
    /// to ×2, at most 30 days, up to 10% jitter.
    pub(crate) fn escalation(&self) -> Escalation {
        let default = Escalation::default();
        Escalation {
            factor: self.escalation_factor.unwrap_or(default.factor),
            cap: match self.escalation_cap {
                None => default.cap,
                Some(BlockDuration::For(d)) => Some(d),
                Some(BlockDuration::Permanent) => None,
            },
            jitter: self
                .escalation_jitter
                .as_deref()
                .and_then(|j| escalation::parse_jitter(j).ok())
                .unwrap_or(default.jitter),
        }
    }

    /// The defaults, as an empty `[block]` table gives them.
    #[cfg(test)]
    pub(crate) fn defaults() -> BlockConfig {
        BlockConfig::validate(BlockFile::default()).expect("the defaults are valid")
    }

    /// `mode = "simulate"`?
    pub(crate) fn simulate(&self) -> bool {
        self.mode == Mode::Simulate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[loadmaster]\nurl = \"https://192.0.2.10\"\napi_key_file = \"/k\"\n";

    /// Two `[[loadmaster]]` tables; `extra` goes into the second.
    fn two(extra: &str) -> String {
        format!(
            "[[loadmaster]]\nname = \"brno\"\nurl = \"https://192.0.2.10\"\napi_key_file = \"/k1\"\n\
             vs = 3\n\n[[loadmaster]]\nname = \"praha\"\nurl = \"https://192.0.2.20\"\n\
             api_key_env = \"K2\"\n{extra}"
        )
    }

    #[test]
    fn the_rate_budget_is_per_loadmaster_and_a_bad_one_is_named_with_its_line() {
        use crate::loadmaster::budget::Rate;
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.loadmasters[0].rate, Rate::DEFAULT);
        let c = Config::parse(&two("rate = \"12/3s\"\n")).unwrap();
        assert_eq!(c.loadmasters[0].rate, Rate::DEFAULT);
        assert_eq!(c.loadmasters[1].rate, Rate::parse("12/3s").unwrap());
        assert_eq!(c.loadmasters[1].client_settings().rate.calls, 12);
        let e = Config::parse(&format!("{MINIMAL}rate = \"25 per 3s\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 4") && e.contains("loadmaster.rate") && e.contains("25 per 3s"),
            "{e}"
        );
        let e = Config::parse(&two("rate = \"0/3s\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 11") && e.contains("rate"), "{e}");
    }

    #[test]
    fn several_loadmasters_each_keep_their_own_settings() {
        let c = Config::parse(&two("timeout = \"3s\"\nconnections = 2\n")).unwrap();
        assert!(c.several());
        let names: Vec<&str> = c.loadmasters.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["brno", "praha"]);
        assert_eq!(c.loadmasters[0].vs, Some(3));
        assert_eq!(c.loadmasters[1].vs, None);
        assert_eq!(c.loadmasters[1].timeout.0, Duration::from_secs(3));
        assert_eq!(c.loadmasters[1].connections, 2);
        assert_eq!(c.loadmasters[0].connections, 4);
        assert_eq!(
            c.loadmasters[1].url.endpoint(),
            "https://192.0.2.20/accessv2"
        );
        // The entries of an older state file belong to `default` then.
        assert_eq!(c.legacy_owner(), loadmaster_name::DEFAULT);
        // A lone table is `default`, and owns them.
        let one = Config::parse(MINIMAL).unwrap();
        assert_eq!(one.loadmasters[0].name, loadmaster_name::DEFAULT);
        assert!(!one.several());
        let named = Config::parse(
            "[[loadmaster]]\nname = \"site1\"\nurl = \"https://lm\"\napi_key_file = \"/k\"\n",
        )
        .unwrap();
        assert_eq!(named.legacy_owner().as_str(), "site1");
    }

    #[test]
    fn errors_in_one_of_several_tables_name_it() {
        let e = Config::parse(&two("url = \"http://x\"\n")).unwrap_err();
        assert!(e.contains("duplicate key") || e.contains("url"), "{e}");
        let bad_url = two("").replace("https://192.0.2.20", "http://192.0.2.20");
        let e = Config::parse(&bad_url).unwrap_err();
        assert!(e.contains("[[loadmaster]] #2 \"praha\": url: "), "{e}");
        let e = Config::parse(&two("").replace("name = \"praha\"\n", "")).unwrap_err();
        assert!(e.contains("[[loadmaster]] #2: name is missing"), "{e}");
        let e = Config::parse(&two("").replace("\"praha\"", "\"brno\"")).unwrap_err();
        assert_eq!(
            e,
            "line 7, [[loadmaster]] #2 \"brno\": name \"brno\" is already used by #1"
        );
        let e = Config::parse(&two("").replace("\"praha\"", "\"pra ha\"")).unwrap_err();
        assert!(
            e.starts_with("line 8, [[loadmaster]] #2 \"pra ha\": name: "),
            "{e}"
        );
        let e = Config::parse(&format!("{}[block]\nvs = 3\n", two(""))).unwrap_err();
        assert!(
            e.starts_with("line 12, block.vs: with several LoadMasters"),
            "{e}"
        );
        let e = Config::parse(&two("bogus = 1\n")).unwrap_err();
        assert!(
            e.contains("loadmaster.bogus") && e.contains("line 11"),
            "{e}"
        );
        let e = Config::parse(&two("api_key_file = \"/k\"\n")).unwrap_err();
        assert!(
            e.contains("[[loadmaster]] #2 \"praha\": set either api_key_file"),
            "{e}"
        );
    }

    #[test]
    fn tls_sha256_may_list_both_units_of_an_ha_pair() {
        let a = "AB".repeat(32);
        let b = "CD".repeat(32);
        let c = Config::parse(&format!("{MINIMAL}tls_sha256 = [\"{a}\", \"{b}\"]\n")).unwrap();
        assert_eq!(c.loadmasters[0].tls_sha256.len(), 2);
        match c.loadmasters[0].client_settings().trust {
            Trust::Pins(pins) => assert_eq!(pins.len(), 2),
            other => panic!("{other:?}"),
        }
        let e = Config::parse(&format!("{MINIMAL}tls_sha256 = [\"{a}\", \"nope\"]\n")).unwrap_err();
        assert!(e.starts_with("line 4, loadmaster.tls_sha256: "), "{e}");
        let e = Config::parse(&format!("{MINIMAL}tls_sha256 = []\n")).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = Config::parse(&format!("{MINIMAL}tls_sha256 = [\"{a}\", 3]\n")).unwrap_err();
        assert!(
            e.contains("loadmaster.tls_sha256") && e.contains("not text in quotes"),
            "{e}"
        );
        let e = Config::parse(&format!("{MINIMAL}tls_sha256 = 3\n")).unwrap_err();
        assert!(
            e.contains("a SHA-256 fingerprint, or a list of them"),
            "{e}"
        );
    }

    #[test]
    fn minimal_config_gets_the_documented_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.block.duration, "75h".parse().unwrap());
        assert_eq!(&*c.block.comment_prefix, "lmguard");
        assert_eq!(c.block.max_active, 10_000);
        assert_eq!(c.loadmasters[0].timeout.0, Duration::from_secs(10));
        assert_eq!(c.state.lock_timeout.0, Duration::from_secs(30));
        assert_eq!(c.loadmasters[0].endpoint(), "https://192.0.2.10/accessv2");
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let e = Config::parse(&format!("{MINIMAL}[block]\ndurration = \"1h\"\n")).unwrap_err();
        assert!(e.contains("durration"), "{e}");
        assert!(e.contains("line 5"), "{e}");
    }

    #[test]
    fn the_refused_api_key_field_is_never_offered_as_valid() {
        let e = Config::parse("[loadmaster]\nurl = \"https://lm\"\napikey = \"x\"\n").unwrap_err();
        assert!(e.contains("apikey") && e.contains("`api_key_file`"), "{e}");
        assert!(!e.contains("`api_key`"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = Config::parse(&format!("{MINIMAL}[block]\nduration = \"soon\"\n")).unwrap_err();
        assert!(e.contains("duration") && e.contains("soon"), "{e}");
        let e = Config::parse("[loadmaster]\nurl = \"http://lm\"\napi_key_file = \"/k\"\n")
            .unwrap_err();
        assert!(e.contains("loadmaster.url") && e.contains("https"), "{e}");
        let e = Config::parse(&format!("{MINIMAL}[block]\nallowlist = [\"10.0.0.300\"]\n"))
            .unwrap_err();
        assert!(e.contains("allowlist") && e.contains("10.0.0.300"), "{e}");
    }

    #[test]
    fn comment_prefix_is_held_to_the_comment_charset() {
        for bad in [
            "lm guard",
            "lmguard;",
            "lmgüard",
            "",
            "lm\"guard",
            "lm\tguard",
        ] {
            let text = format!("{MINIMAL}[block]\ncomment_prefix = {bad:?}\n");
            let e = Config::parse(&text).unwrap_err();
            assert!(e.contains(", block.comment_prefix:"), "{bad:?}: {e}");
        }
        let ok = format!("{MINIMAL}[block]\ncomment_prefix = \"lmguard-2.ads:x/y_z\"\n");
        assert!(Config::parse(&ok).is_ok());
    }

    #[test]
    fn inline_api_key_is_refused_without_echoing_it() {
        let e = Config::parse(
            "[loadmaster]\nurl = \"https://lm\"\napi_key = \"SECRET123\"\napi_key_file = \"/k\"\n",
        )
        .unwrap_err();
        assert!(e.contains("api_key_file"), "{e}");
        assert!(!e.contains("SECRET123"), "{e}");
    }

    #[test]
    fn syntax_errors_never_quote_the_source_line() {
        for text in [
            "[loadmaster]\napikey = \"SECRET123\"\n",
            "[loadmaster]\napi_key = SECRET123\n",
            "[loadmaster]\nurl = \"https://lm\"\napi-key = \"SECRET123\"\napi_key_file = \"/k\"\n",
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(!e.contains("SECRET123"), "{e}");
            assert!(e.contains("line 2") || e.contains("line 3"), "{e}");
        }
    }

    #[test]
    fn a_key_source_is_required() {
        let e = Config::parse("[loadmaster]\nurl = \"https://lm\"\n").unwrap_err();
        assert!(e.contains("api_key_file"), "{e}");
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../lm-mitigation.toml.example");
        let c = Config::parse(text).unwrap();
        assert_eq!(c.block.duration, "75h".parse().unwrap());
        // Its several-LoadMaster form, uncommented in place of [loadmaster].
        let (head, rest) = text.split_once("\n[loadmaster]\n").unwrap();
        let (_, rest) = rest.split_once("\n[block]\n").unwrap();
        let (rest, several) = rest.split_once("# Several LoadMasters").unwrap();
        let tables: String = several
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with("[[") || l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!("{head}\n{tables}\n[block]\n{rest}")
            .replace("AB:CD:…", &"AB".repeat(32))
            .replace("EF:01:…", &"EF".repeat(32));
        let c = Config::parse(&text).unwrap();
        let names: Vec<&str> = c.loadmasters.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["default", "brno"]);
        assert_eq!(c.loadmasters[0].tls_sha256.len(), 2);
        assert_eq!(c.loadmasters[1].vs, Some(2));
        assert_eq!(
            c.loadmasters[1].rate,
            crate::loadmaster::budget::Rate::DEFAULT
        );
    }

    #[test]
    fn the_guardrail_keys_are_accepted_and_checked() {
        let c = Config::parse(&format!(
            "{MINIMAL}[block]\nmode = \"simulate\"\nescalation_factor = 3.0\n\
             escalation_cap = \"7d\"\nescalation_jitter = \"5%\"\n"
        ))
        .unwrap();
        assert!(c.block.simulate());
        let e = c.block.escalation();
        assert_eq!(e.factor, 3.0);
        assert_eq!(e.cap, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(e.jitter, 0.05);
        let d = Config::parse(MINIMAL).unwrap().block.escalation();
        assert_eq!(d, Escalation::default());
        let c = Config::parse(&format!(
            "{MINIMAL}[block]\nescalation_cap = \"permanent\"\n"
        ))
        .unwrap();
        assert_eq!(c.block.escalation().cap, None);

        for (text, key) in [
            ("escalation_factor = 0.5", "escalation_factor"),
            ("escalation_factor = nan", "escalation_factor"),
            ("escalation_jitter = \"10\"", "escalation_jitter"),
            ("escalation_jitter = \"90%\"", "escalation_jitter"),
            ("mode = \"pretend\"", "mode"),
        ] {
            let e = Config::parse(&format!("{MINIMAL}[block]\n{text}\n")).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn a_tls_pin_is_checked_and_excludes_ca_file_and_insecure() {
        let pin = "AB:".repeat(31) + "AB";
        let c = Config::parse(&format!("{MINIMAL}tls_sha256 = \"{pin}\"\n")).unwrap();
        assert_eq!(c.loadmasters[0].tls_sha256, std::slice::from_ref(&pin));
        let e = Config::parse(&format!("{MINIMAL}tls_sha256 = \"AB:CD\"\n")).unwrap_err();
        assert!(e.contains("tls_sha256") && e.contains("64 hex"), "{e}");
        let e = Config::parse(&format!(
            "{MINIMAL}tls_sha256 = \"{pin}\"\nca_file = \"/c.pem\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("not both"), "{e}");
        let e = Config::parse(&format!(
            "{MINIMAL}tls_sha256 = \"{pin}\"\ninsecure_skip_tls_verify = true\n"
        ))
        .unwrap_err();
        assert!(e.contains("contradict"), "{e}");
    }
}
