//! The layering check: dependencies point down the layers, and the sans-IO
//! layers stay free of I/O.
//!
//! Every workspace crate declares its layer in its manifest:
//!
//! ```toml
//! [package.metadata.chrysalis]
//! layer = 1
//! ```
//!
//! Rules:
//! - a crate depends (normal dependencies) only on workspace crates of the
//!   same or a lower layer;
//! - an L0 or L1 crate reaches none of [`IO_CRATES`] through its normal
//!   dependencies, transitively, except for the edges named in
//!   [`ALLOWED_EDGES`];
//! - the `src/` of an L0 or L1 crate names none of [`IO_TOKENS`] outside
//!   comments.
//!
//! Dev-dependencies are exempt: tests may use anything.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// Crates that do I/O or bring a runtime: out of bounds for L0 and L1.
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "async-std",
    "smol",
    "quinn",
    "hyper",
    "axum",
    "reqwest",
    "redb",
    "tempfile",
    "notify",
];

/// Known, reviewed exceptions: (crate, I/O crate it may reach, why).
const ALLOWED_EDGES: &[(&str, &str, &str)] = &[];

/// Source text that means I/O, clocks or processes.
const IO_TOKENS: &[&str] = &[
    "std::fs",
    "std::net",
    "std::process",
    "std::thread::sleep",
    "tokio::",
    "SystemTime::now",
    "Instant::now",
    "File::open",
    "File::create",
];

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Violation {
    /// A workspace crate declares no layer.
    NoLayer { krate: String },
    /// A crate depends on a workspace crate of a higher layer.
    Upward {
        krate: String,
        layer: u64,
        dep: String,
        dep_layer: u64,
    },
    /// A sans-IO crate reaches an I/O crate.
    ReachesIo {
        krate: String,
        io: String,
        path: Vec<String>,
    },
    /// A sans-IO crate's source names an I/O token.
    IoInSource {
        krate: String,
        file: String,
        line: usize,
        token: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NoLayer { krate } => write!(
                f,
                "{krate}: no layer declared (add [package.metadata.chrysalis] layer = N)"
            ),
            Violation::Upward {
                krate,
                layer,
                dep,
                dep_layer,
            } => {
                write!(
                    f,
                    "{krate} (L{layer}) depends on {dep} (L{dep_layer}): dependencies must point down"
                )
            }
            Violation::ReachesIo { krate, io, path } => {
                write!(
                    f,
                    "{krate} is sans-IO but reaches {io} via {}",
                    path.join(" -> ")
                )
            }
            Violation::IoInSource {
                krate,
                file,
                line,
                token,
            } => {
                write!(f, "{krate} is sans-IO but {file}:{line} uses {token}")
            }
        }
    }
}

/// What the check saw: each crate's layer, and the violations.
#[derive(Debug, Default)]
pub(crate) struct Report {
    layers: BTreeMap<String, u64>,
    violations: BTreeSet<Violation>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (krate, layer) in &self.layers {
            writeln!(f, "L{layer}  {krate}")?;
        }
        match self.violations.len() {
            0 => write!(f, "layering holds: {} crates checked", self.layers.len()),
            n => {
                for v in &self.violations {
                    writeln!(f, "violation: {v}")?;
                }
                write!(f, "{n} layering violations")
            }
        }
    }
}

/// Runs `cargo metadata` in `root` and checks the workspace.
pub(crate) fn check(root: &Path) -> Result<Report> {
    let out = super::cargo()
        .args(["metadata", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("could not run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed bad JSON")?;
    let mut report = analyze(&metadata)?;
    for (krate, dir) in sans_io_source_dirs(&metadata, &report) {
        scan_dir(&krate, &dir, &dir, &mut report.violations)?;
    }
    if report.violations.is_empty() {
        Ok(report)
    } else {
        bail!("{report}")
    }
}

struct Package<'a> {
    name: &'a str,
    layer: Option<u64>,
    workspace: bool,
}

/// Checks the dependency graph in `cargo metadata` output.
pub(crate) fn analyze(metadata: &Value) -> Result<Report> {
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .context("no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut packages = BTreeMap::new();
    for p in metadata["packages"].as_array().context("no packages")? {
        let id = p["id"].as_str().context("package without id")?;
        packages.insert(
            id,
            Package {
                name: p["name"].as_str().context("package without name")?,
                layer: p["metadata"]["chrysalis"]["layer"].as_u64(),
                workspace: members.contains(id),
            },
        );
    }
    let graph = normal_dependency_graph(metadata)?;
    let mut report = Report::default();
    for (id, pkg) in packages
        .iter()
        .filter(|(_, p)| p.workspace && p.name != "xtask")
    {
        let Some(layer) = pkg.layer else {
            report.violations.insert(Violation::NoLayer {
                krate: pkg.name.into(),
            });
            continue;
        };
        report.layers.insert(pkg.name.into(), layer);
        for dep in graph.get(id).into_iter().flatten() {
            let Some(d) = packages.get(dep) else { continue };
            if let (true, Some(dep_layer)) = (d.workspace, d.layer)
                && dep_layer > layer
            {
                report.violations.insert(Violation::Upward {
                    krate: pkg.name.into(),
                    layer,
                    dep: d.name.into(),
                    dep_layer,
                });
            }
        }
        if layer <= 1 {
            find_io(id, pkg.name, &graph, &packages, &mut report.violations);
        }
    }
    Ok(report)
}

/// Package id → ids of its normal (non-dev, non-build) dependencies.
fn normal_dependency_graph(metadata: &Value) -> Result<BTreeMap<&str, Vec<&str>>> {
    let mut graph = BTreeMap::new();
    for node in metadata["resolve"]["nodes"]
        .as_array()
        .context("no resolve graph")?
    {
        let id = node["id"].as_str().context("node without id")?;
        let deps = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
            })
            .filter_map(|d| d["pkg"].as_str())
            .collect();
        graph.insert(id, deps);
    }
    Ok(graph)
}

/// Breadth-first search from `start` for any I/O crate, recording the path.
fn find_io(
    start: &str,
    name: &str,
    graph: &BTreeMap<&str, Vec<&str>>,
    packages: &BTreeMap<&str, Package<'_>>,
    violations: &mut BTreeSet<Violation>,
) {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut seen = BTreeSet::from([start]);
    while let Some(id) = queue.pop_front() {
        let pkg_name = packages.get(id).map_or(id, |p| p.name);
        let allowed = ALLOWED_EDGES
            .iter()
            .any(|(k, io, _)| *k == name && *io == pkg_name);
        if id != start && IO_CRATES.contains(&pkg_name) && !allowed {
            let mut path = vec![pkg_name.to_owned()];
            let mut cur = id;
            while let Some(p) = parent.get(cur) {
                path.push(packages.get(p).map_or(*p, |p| p.name).to_owned());
                cur = p;
            }
            path.reverse();
            violations.insert(Violation::ReachesIo {
                krate: name.into(),
                io: pkg_name.into(),
                path,
            });
            continue;
        }
        for dep in graph.get(id).into_iter().flatten() {
            if seen.insert(dep) {
                parent.insert(dep, id);
                queue.push_back(dep);
            }
        }
    }
}

fn sans_io_source_dirs(metadata: &Value, report: &Report) -> Vec<(String, std::path::PathBuf)> {
    let mut dirs = Vec::new();
    for p in metadata["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(manifest)) = (p["name"].as_str(), p["manifest_path"].as_str()) else {
            continue;
        };
        if report.layers.get(name).is_some_and(|layer| *layer <= 1)
            && let Some(dir) = Path::new(manifest).parent()
        {
            dirs.push((name.to_owned(), dir.join("src")));
        }
    }
    dirs
}

fn scan_dir(krate: &str, base: &Path, dir: &Path, out: &mut BTreeSet<Violation>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            scan_dir(krate, base, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)?;
            let file = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .display()
                .to_string();
            out.extend(scan_source(krate, &file, &text));
        }
    }
    Ok(())
}

/// Finds I/O tokens in source text, skipping comment lines.
pub(crate) fn scan_source(krate: &str, file: &str, text: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for token in IO_TOKENS.iter().filter(|t| code.contains(**t)) {
            found.push(Violation::IoInSource {
                krate: krate.into(),
                file: file.into(),
                line: i + 1,
                token: (*token).into(),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(pkg: &str, kind: Option<&str>) -> Value {
        json!({ "pkg": pkg, "dep_kinds": [{ "kind": kind }] })
    }

    fn metadata(layers: &[(&str, Option<u64>)], edges: &[(&str, Value)]) -> Value {
        let packages: Vec<Value> = layers
            .iter()
            .map(|(name, layer)| {
                let meta = layer.map_or(Value::Null, |l| json!({ "chrysalis": { "layer": l } }));
                json!({ "id": name, "name": name, "metadata": meta, "manifest_path": "/x/Cargo.toml" })
            })
            .collect();
        let mut nodes: BTreeMap<&str, Vec<Value>> =
            layers.iter().map(|(n, _)| (*n, vec![])).collect();
        for (from, d) in edges {
            nodes.entry(from).or_default().push(d.clone());
        }
        json!({
            "workspace_members": layers.iter().filter(|(n, _)| n.starts_with("chrysalis")).map(|(n, _)| n).collect::<Vec<_>>(),
            "packages": packages,
            "resolve": { "nodes": nodes.into_iter().map(|(id, deps)| json!({ "id": id, "deps": deps })).collect::<Vec<_>>() },
        })
    }

    #[test]
    fn an_l1_crate_reaching_tokio_is_refused() {
        let meta = metadata(
            &[
                ("chrysalis-crdt", Some(1)),
                ("helper-lib", None),
                ("tokio", None),
            ],
            &[
                ("chrysalis-crdt", dep("helper-lib", None)),
                ("helper-lib", dep("tokio", None)),
            ],
        );
        let report = analyze(&meta).unwrap();
        assert_eq!(
            report
                .violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "chrysalis-crdt is sans-IO but reaches tokio via chrysalis-crdt -> helper-lib -> tokio"
            ]
        );
    }

    #[test]
    fn dev_dependencies_and_l2_crates_may_use_io() {
        let meta = metadata(
            &[
                ("chrysalis-crdt", Some(1)),
                ("chrysalis-store", Some(2)),
                ("tokio", None),
            ],
            &[
                ("chrysalis-crdt", dep("tokio", Some("dev"))),
                ("chrysalis-store", dep("tokio", None)),
                ("chrysalis-store", dep("chrysalis-crdt", None)),
            ],
        );
        assert!(analyze(&meta).unwrap().violations.is_empty());
    }

    #[test]
    fn upward_dependencies_and_missing_layers_are_refused() {
        let meta = metadata(
            &[
                ("chrysalis-types", Some(0)),
                ("chrysalis-store", Some(2)),
                ("chrysalis-new", None),
            ],
            &[("chrysalis-types", dep("chrysalis-store", None))],
        );
        let shown: Vec<_> = analyze(&meta)
            .unwrap()
            .violations
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "chrysalis-new: no layer declared (add [package.metadata.chrysalis] layer = N)",
                "chrysalis-types (L0) depends on chrysalis-store (L2): dependencies must point down",
            ]
        );
    }

    #[test]
    fn io_in_sans_io_source_is_found_but_comments_are_not() {
        let text =
            "//! Reads nothing: no std::fs here.\nfn f() { let _ = std::fs::read(\"x\"); }\n";
        let found = scan_source("chrysalis-crdt", "lib.rs", text);
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["chrysalis-crdt is sans-IO but lib.rs:2 uses std::fs"]
        );
    }

    /// The real workspace obeys its layering.
    #[test]
    fn workspace_layering_holds() {
        let report = check(&crate::workspace_root()).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(report.layers.contains_key("chrysalis-types"), "{report}");
    }
}
