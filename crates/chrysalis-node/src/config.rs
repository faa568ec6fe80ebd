//! Node configuration: defaults, then a TOML file, then `CHRYSALIS_*`
//! environment variables, then flags (the CLI parses flags into
//! [`ConfigOverrides`]; this module merges).
//!
//! | key (TOML) | environment | default |
//! |---|---|---|
//! | `data_dir` | `CHRYSALIS_DATA_DIR` | `./chrysalis-data` |
//! | `http_listen` | `CHRYSALIS_HTTP` | `127.0.0.1:8080` |
//! | `gossip_listen` | `CHRYSALIS_LISTEN` | `127.0.0.1:7946` (port 0: any) |
//! | `join` | `CHRYSALIS_JOIN` (comma-separated) | none |
//! | `gossip_interval_ms` | `CHRYSALIS_GOSSIP_INTERVAL_MS` | 200 |
//! | `gossip_fanout` | `CHRYSALIS_GOSSIP_FANOUT` | 3 |
//! | `gossip_push` | `CHRYSALIS_GOSSIP_PUSH` (`true`/`false`) | true: a local write brings the next anti-entropy round forward (at most one early round per quarter interval) |
//! | `allow` | `CHRYSALIS_ALLOW` (comma-separated hex node ids) | none: any signed peer |
//! | `allow_file` | `CHRYSALIS_ALLOW_FILE` | none (one hex node id a line, `#` comments) |
//! | `log_level` | `CHRYSALIS_LOG` | `info` |
//! | `log_json` | `CHRYSALIS_LOG_JSON` (`true`/`false`) | false: text lines |
//! | `max_body_bytes` | `CHRYSALIS_MAX_BODY_BYTES` | 65536 |
//! | `validators` | `CHRYSALIS_VALIDATORS` (comma-separated `NODEID@IP:PORT`) | none: consensus off |
//! | `consensus_commit_wait_ms` | `CHRYSALIS_CONSENSUS_COMMIT_WAIT_MS` | 20: the pause after a decision before the next proposal (batching) |
//! | `consensus_empty_block_interval_ms` | `CHRYSALIS_CONSENSUS_EMPTY_BLOCK_INTERVAL_MS` | 0: an idle Tendermint cluster decides nothing; n > 0: an empty height after n ms idle (a heartbeat) |
//! | `consensus_engine` | `CHRYSALIS_CONSENSUS_ENGINE` (`tendermint`/`raft`) | `tendermint` |
//!
//! A validator is `<hex node id>@<QUIC address>`; every validator lists the
//! same set in the same order. The node's consensus key is its node key.
//!
//! `consensus_engine` picks how the validators agree: `tendermint`
//! tolerates Byzantine validators (fewer than a third); `raft` tolerates
//! only crashes (fewer than half), and the same validators list is its
//! membership. Every validator must run the same engine.

use chrysalis_types::NodeId;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("could not read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for a node configuration.
    #[error("{}: {source}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: toml::de::Error,
    },
    /// A value is malformed.
    #[error("{key}: {value:?} is not {expected}")]
    BadValue {
        /// The setting (TOML key, variable or flag).
        key: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// Everything a node needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Where the node keeps its vault, key-encryption key and agent states.
    pub data_dir: PathBuf,
    /// Where the HTTP API listens.
    pub http_listen: SocketAddr,
    /// Where the replication endpoint listens.
    pub gossip_listen: SocketAddr,
    /// Peers to contact at start.
    pub join: Vec<SocketAddr>,
    /// Period of anti-entropy rounds, in milliseconds.
    pub gossip_interval_ms: u64,
    /// Peers contacted per round and per eager push.
    pub gossip_fanout: usize,
    /// Whether a local write brings the next anti-entropy round forward
    /// (else it waits for the round timer).
    pub gossip_push: bool,
    /// Nodes admitted as peers; empty admits any peer that signs its frames.
    pub allow: BTreeSet<NodeId>,
    /// Log filter, e.g. `info` or `warn,chrysalis_node=debug`.
    pub log_level: String,
    /// Whether logs are JSON lines (else text).
    pub log_json: bool,
    /// The largest HTTP request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The consensus validators (node id and QUIC address); empty turns
    /// consensus off.
    pub validators: Vec<ValidatorAddr>,
    /// After a decision, the next proposer waits this long (batching).
    pub consensus_commit_wait_ms: u64,
    /// Tendermint: decide an empty height after this long idle (0: never).
    pub consensus_empty_block_interval_ms: u64,
    /// Which consensus engine the validators run.
    pub consensus_engine: ConsensusEngine,
}

/// The consensus engine a node runs (every validator runs the same).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConsensusEngine {
    /// Tendermint: tolerates Byzantine validators (fewer than a third).
    #[default]
    Tendermint,
    /// Raft (openraft): tolerates crashed validators (fewer than half).
    Raft,
}

impl ConsensusEngine {
    /// Its name in configuration: `tendermint` or `raft`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsensusEngine::Tendermint => "tendermint",
            ConsensusEngine::Raft => "raft",
        }
    }
}

impl std::str::FromStr for ConsensusEngine {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "tendermint" => Ok(ConsensusEngine::Tendermint),
            "raft" => Ok(ConsensusEngine::Raft),
            _ => Err(ConfigError::BadValue {
                key: "consensus_engine".to_owned(),
                value: s.to_owned(),
                expected: "tendermint or raft",
            }),
        }
    }
}

impl std::fmt::Display for ConsensusEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A consensus validator: its node id (its Ed25519 key) and where its
/// QUIC endpoint listens. Written `<hex node id>@<ip:port>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorAddr {
    /// The validator's node id.
    pub id: NodeId,
    /// Its QUIC address.
    pub addr: SocketAddr,
}

impl std::str::FromStr for ValidatorAddr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BadValue {
            key: "validators".to_owned(),
            value: s.to_owned(),
            expected: "NODEID@IP:PORT",
        };
        let (id, addr) = s.trim().split_once('@').ok_or_else(bad)?;
        Ok(Self {
            id: id.parse().map_err(|_| bad())?,
            addr: addr.parse().map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for ValidatorAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.id, self.addr)
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./chrysalis-data"),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            gossip_listen: SocketAddr::from(([127, 0, 0, 1], 7946)),
            join: Vec::new(),
            gossip_interval_ms: 200,
            gossip_fanout: 3,
            gossip_push: true,
            allow: BTreeSet::new(),
            log_level: "info".to_owned(),
            log_json: false,
            max_body_bytes: 64 * 1024,
            validators: Vec::new(),
            consensus_commit_wait_ms: 20,
            consensus_empty_block_interval_ms: 0,
            consensus_engine: ConsensusEngine::Tendermint,
        }
    }
}

/// Settings given on the command line; `None`/empty leaves the value as it is.
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--http`.
    pub http_listen: Option<SocketAddr>,
    /// `--listen`.
    pub gossip_listen: Option<SocketAddr>,
    /// `--join`, appended to the configured peers.
    pub join: Vec<SocketAddr>,
    /// `--allow`, added to the allowlist.
    pub allow: Vec<NodeId>,
    /// `--gossip-interval-ms`.
    pub gossip_interval_ms: Option<u64>,
    /// `--log`.
    pub log_level: Option<String>,
    /// `--log-json`.
    pub log_json: bool,
    /// `--validator`, appended to the configured validators.
    pub validators: Vec<ValidatorAddr>,
    /// `--consensus-engine`.
    pub consensus_engine: Option<ConsensusEngine>,
}

/// The TOML file's shape: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    http_listen: Option<String>,
    gossip_listen: Option<String>,
    #[serde(default)]
    join: Vec<String>,
    gossip_interval_ms: Option<u64>,
    gossip_fanout: Option<usize>,
    gossip_push: Option<bool>,
    #[serde(default)]
    allow: Vec<String>,
    allow_file: Option<PathBuf>,
    log_level: Option<String>,
    log_json: Option<bool>,
    max_body_bytes: Option<usize>,
    #[serde(default)]
    validators: Vec<String>,
    consensus_commit_wait_ms: Option<u64>,
    consensus_empty_block_interval_ms: Option<u64>,
    consensus_engine: Option<String>,
}

impl NodeConfig {
    /// Defaults, then the file at `path` (if any), then the environment
    /// (`vars`, usually `std::env::vars()`), then `overrides`.
    pub fn load(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
        overrides: &ConfigOverrides,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let file: FileConfig = toml::from_str(&text).map_err(|source| ConfigError::Toml {
                path: path.to_path_buf(),
                source,
            })?;
            config.apply_file(file)?;
        }
        for (key, value) in vars {
            config.apply_env(&key, &value)?;
        }
        config.apply_overrides(overrides);
        config.check()?;
        Ok(config)
    }

    fn apply_file(&mut self, file: FileConfig) -> Result<(), ConfigError> {
        if let Some(dir) = file.data_dir {
            self.data_dir = dir;
        }
        if let Some(addr) = file.http_listen {
            self.http_listen = parse_addr("http_listen", &addr)?;
        }
        if let Some(addr) = file.gossip_listen {
            self.gossip_listen = parse_addr("gossip_listen", &addr)?;
        }
        for addr in file.join {
            self.join.push(parse_addr("join", &addr)?);
        }
        if let Some(ms) = file.gossip_interval_ms {
            self.gossip_interval_ms = ms;
        }
        if let Some(fanout) = file.gossip_fanout {
            self.gossip_fanout = fanout;
        }
        if let Some(push) = file.gossip_push {
            self.gossip_push = push;
        }
        for id in file.allow {
            self.allow.insert(parse_node_id("allow", &id)?);
        }
        if let Some(path) = file.allow_file {
            self.read_allow_file(&path)?;
        }
        if let Some(level) = file.log_level {
            self.log_level = level;
        }
        if let Some(json) = file.log_json {
            self.log_json = json;
        }
        if let Some(bytes) = file.max_body_bytes {
            self.max_body_bytes = bytes;
        }
        for v in file.validators {
            self.validators.push(v.parse()?);
        }
        if let Some(ms) = file.consensus_commit_wait_ms {
            self.consensus_commit_wait_ms = ms;
        }
        if let Some(ms) = file.consensus_empty_block_interval_ms {
            self.consensus_empty_block_interval_ms = ms;
        }
        if let Some(engine) = file.consensus_engine {
            self.consensus_engine = engine.parse()?;
        }
        Ok(())
    }

    fn apply_env(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let list = || value.split(',').map(str::trim).filter(|s| !s.is_empty());
        match key {
            "CHRYSALIS_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "CHRYSALIS_HTTP" => self.http_listen = parse_addr(key, value)?,
            "CHRYSALIS_LISTEN" => self.gossip_listen = parse_addr(key, value)?,
            "CHRYSALIS_JOIN" => {
                for addr in list() {
                    self.join.push(parse_addr(key, addr)?);
                }
            }
            "CHRYSALIS_GOSSIP_INTERVAL_MS" => {
                self.gossip_interval_ms = parse_num(key, value, "a number of milliseconds")?;
            }
            "CHRYSALIS_GOSSIP_FANOUT" => {
                self.gossip_fanout = parse_num(key, value, "a peer count")?;
            }
            "CHRYSALIS_GOSSIP_PUSH" => {
                self.gossip_push = parse_num(key, value, "true or false")?;
            }
            "CHRYSALIS_ALLOW" => {
                for id in list() {
                    self.allow.insert(parse_node_id(key, id)?);
                }
            }
            "CHRYSALIS_ALLOW_FILE" => self.read_allow_file(Path::new(value))?,
            "CHRYSALIS_LOG" => self.log_level = value.to_owned(),
            "CHRYSALIS_LOG_JSON" => self.log_json = parse_num(key, value, "true or false")?,
            "CHRYSALIS_MAX_BODY_BYTES" => {
                self.max_body_bytes = parse_num(key, value, "a number of bytes")?;
            }
            "CHRYSALIS_VALIDATORS" => {
                for v in value.split(',').filter(|v| !v.trim().is_empty()) {
                    self.validators.push(v.parse()?);
                }
            }
            "CHRYSALIS_CONSENSUS_COMMIT_WAIT_MS" => {
                self.consensus_commit_wait_ms = parse_num(key, value, "milliseconds")?;
            }
            "CHRYSALIS_CONSENSUS_EMPTY_BLOCK_INTERVAL_MS" => {
                self.consensus_empty_block_interval_ms = parse_num(key, value, "milliseconds")?;
            }
            "CHRYSALIS_CONSENSUS_ENGINE" => {
                self.consensus_engine = value.parse().map_err(|_| ConfigError::BadValue {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    expected: "tendermint or raft",
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    fn apply_overrides(&mut self, o: &ConfigOverrides) {
        self.validators.extend(o.validators.iter().copied());
        if let Some(dir) = &o.data_dir {
            self.data_dir.clone_from(dir);
        }
        if let Some(addr) = o.http_listen {
            self.http_listen = addr;
        }
        if let Some(addr) = o.gossip_listen {
            self.gossip_listen = addr;
        }
        self.join.extend(o.join.iter().copied());
        self.allow.extend(o.allow.iter().copied());
        if let Some(ms) = o.gossip_interval_ms {
            self.gossip_interval_ms = ms;
        }
        if let Some(level) = &o.log_level {
            self.log_level.clone_from(level);
        }
        self.log_json |= o.log_json;
        if let Some(engine) = o.consensus_engine {
            self.consensus_engine = engine;
        }
    }

    fn read_allow_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for line in text.lines() {
            let id = line.split('#').next().unwrap_or("").trim();
            if !id.is_empty() {
                self.allow.insert(parse_node_id("allow_file", id)?);
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, expected| ConfigError::BadValue {
            key: key.to_owned(),
            value,
            expected,
        };
        if !(10..=60_000).contains(&self.gossip_interval_ms) {
            let v = self.gossip_interval_ms.to_string();
            return Err(bad("gossip_interval_ms", v, "between 10 and 60000"));
        }
        if !(1..=64).contains(&self.gossip_fanout) {
            let v = self.gossip_fanout.to_string();
            return Err(bad("gossip_fanout", v, "between 1 and 64"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            let v = self.max_body_bytes.to_string();
            return Err(bad("max_body_bytes", v, "between 1 KiB and 64 MiB"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(bad("data_dir", String::new(), "a directory path"));
        }
        Ok(())
    }
}

fn parse_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::BadValue {
        key: key.to_owned(),
        value: value.to_owned(),
        expected: "an IP address and port, e.g. 127.0.0.1:7946",
    })
}

fn parse_node_id(key: &str, value: &str) -> Result<NodeId, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::BadValue {
        key: key.to_owned(),
        value: value.to_owned(),
        expected: "a node id (64 hex digits)",
    })
}

fn parse_num<T: std::str::FromStr>(
    key: &str,
    value: &str,
    expected: &'static str,
) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::BadValue {
        key: key.to_owned(),
        value: value.to_owned(),
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let id = "11".repeat(32);
        std::fs::write(
            &path,
            format!(
                "http_listen = \"127.0.0.1:9000\"\ngossip_listen = \"127.0.0.1:0\"\n\
                 join = [\"127.0.0.1:7000\"]\nallow = [\"{id}\"]\ngossip_fanout = 2\n"
            ),
        )
        .unwrap();
        let env = vars(&[
            ("CHRYSALIS_HTTP", "127.0.0.1:9001"),
            ("CHRYSALIS_JOIN", "127.0.0.1:7001, 127.0.0.1:7002"),
            ("UNRELATED", "x"),
        ]);
        let flags = ConfigOverrides {
            http_listen: Some("127.0.0.1:9002".parse().unwrap()),
            data_dir: Some(dir.path().to_path_buf()),
            ..ConfigOverrides::default()
        };
        let c = NodeConfig::load(Some(&path), env, &flags).unwrap();
        assert_eq!(c.http_listen.port(), 9002);
        assert_eq!(c.gossip_listen.port(), 0);
        assert_eq!(c.join.len(), 3);
        assert_eq!(c.gossip_fanout, 2);
        assert!(c.allow.contains(&NodeId::new([0x11; 32])));
        assert_eq!(c.data_dir, dir.path());
    }

    #[test]
    fn empty_block_interval_is_off_unless_set() {
        let none = ConfigOverrides::default();
        let c = NodeConfig::load(None, vars(&[]), &none).unwrap();
        assert_eq!(c.consensus_empty_block_interval_ms, 0);
        let env = vars(&[("CHRYSALIS_CONSENSUS_EMPTY_BLOCK_INTERVAL_MS", "5000")]);
        let c = NodeConfig::load(None, env, &none).unwrap();
        assert_eq!(c.consensus_empty_block_interval_ms, 5000);
        let env = vars(&[("CHRYSALIS_CONSENSUS_EMPTY_BLOCK_INTERVAL_MS", "soon")]);
        assert!(matches!(
            NodeConfig::load(None, env, &none),
            Err(ConfigError::BadValue { .. })
        ));
    }

    #[test]
    fn bad_values_are_named() {
        let none = ConfigOverrides::default();
        let err = NodeConfig::load(None, vars(&[("CHRYSALIS_HTTP", "nope")]), &none).unwrap_err();
        assert!(err.to_string().contains("CHRYSALIS_HTTP"), "{err}");
        let err = NodeConfig::load(None, vars(&[("CHRYSALIS_ALLOW", "abc")]), &none).unwrap_err();
        assert!(err.to_string().contains("node id"), "{err}");
        let err = NodeConfig::load(None, vars(&[("CHRYSALIS_GOSSIP_INTERVAL_MS", "1")]), &none)
            .unwrap_err();
        assert!(matches!(err, ConfigError::BadValue { .. }));
    }

    #[test]
    fn validators_parse_from_env_and_flags_and_bad_ones_are_named() {
        let id = "22".repeat(32);
        let env = vars(&[("CHRYSALIS_VALIDATORS", &format!("{id}@127.0.0.1:7001"))]);
        let flags = ConfigOverrides {
            validators: vec![
                format!("{}@127.0.0.1:7002", "33".repeat(32))
                    .parse()
                    .unwrap(),
            ],
            ..ConfigOverrides::default()
        };
        let c = NodeConfig::load(None, env, &flags).unwrap();
        assert_eq!(c.validators.len(), 2);
        assert_eq!(c.validators[0].addr.port(), 7001);
        assert_eq!(c.validators[0].to_string(), format!("{id}@127.0.0.1:7001"));
        let none = ConfigOverrides::default();
        for bad in ["nope", "abc@127.0.0.1:1", &format!("{id}@nowhere")] {
            let err =
                NodeConfig::load(None, vars(&[("CHRYSALIS_VALIDATORS", bad)]), &none).unwrap_err();
            assert!(err.to_string().contains("NODEID@IP:PORT"), "{err}");
        }
    }

    #[test]
    fn consensus_engine_is_tendermint_unless_set_and_bad_names_are_refused() {
        let none = ConfigOverrides::default();
        let c = NodeConfig::load(None, vars(&[]), &none).unwrap();
        assert_eq!(c.consensus_engine, ConsensusEngine::Tendermint);
        let env = vars(&[("CHRYSALIS_CONSENSUS_ENGINE", "raft")]);
        let c = NodeConfig::load(None, env, &none).unwrap();
        assert_eq!(c.consensus_engine, ConsensusEngine::Raft);
        let flags = ConfigOverrides {
            consensus_engine: Some(ConsensusEngine::Tendermint),
            ..ConfigOverrides::default()
        };
        let env = vars(&[("CHRYSALIS_CONSENSUS_ENGINE", "raft")]);
        let c = NodeConfig::load(None, env, &flags).unwrap();
        assert_eq!(c.consensus_engine, ConsensusEngine::Tendermint, "flags win");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "consensus_engine = \"raft\"\n").unwrap();
        let c = NodeConfig::load(Some(&path), vars(&[]), &none).unwrap();
        assert_eq!(c.consensus_engine, ConsensusEngine::Raft);
        std::fs::write(&path, "consensus_engine = \"paxos\"\n").unwrap();
        let err = NodeConfig::load(Some(&path), vars(&[]), &none).unwrap_err();
        assert!(
            matches!(&err, ConfigError::BadValue { key, expected, .. }
                if key == "consensus_engine" && *expected == "tendermint or raft"),
            "{err}"
        );
        let env = vars(&[("CHRYSALIS_CONSENSUS_ENGINE", "Raft!")]);
        let err = NodeConfig::load(None, env, &none).unwrap_err();
        assert!(
            err.to_string().contains("CHRYSALIS_CONSENSUS_ENGINE"),
            "{err}"
        );
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "htp_listen = \"127.0.0.1:1\"\n").unwrap();
        let err = NodeConfig::load(Some(&path), vars(&[]), &ConfigOverrides::default());
        assert!(matches!(err, Err(ConfigError::Toml { .. })));
    }
}
