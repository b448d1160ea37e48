//! The crate dependency rules of ARCHITECTURE.md, checked against `cargo metadata`, so
//! that a hurried change cannot quietly make the wire crate depend on the server.

use std::collections::{BTreeMap, BTreeSet};

/// For each workspace crate, the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("twofold-proto", &[]),
    ("twofold-factors", &[]),
    ("twofold-core", &["twofold-proto", "twofold-factors"]),
    ("twofold-store", &["twofold-core", "twofold-proto"]),
    (
        "twofold-delivery",
        &["twofold-core", "twofold-proto", "twofold-factors"],
    ),
    (
        "twofold-server",
        &[
            "twofold-core",
            "twofold-proto",
            "twofold-factors",
            "twofold-store",
            "twofold-delivery",
        ],
    ),
    ("twofold-client", &["twofold-proto"]),
    ("twofold-cli", &["twofold-client", "twofold-proto"]),
    ("twofold-authenticator", &["twofold-proto", "twofold-factors"]),
    (
        "twofold-testkit",
        &[
            "twofold-server",
            "twofold-store",
            "twofold-client",
            "twofold-core",
            "twofold-proto",
            "twofold-delivery",
        ],
    ),
    (
        "twofold-bench",
        &[
            "twofold-client",
            "twofold-proto",
            "twofold-factors",
            "twofold-authenticator",
        ],
    ),
];

/// Third-party crates that the leaf crates must never pull in directly.
const FORBIDDEN_IN_LEAVES: &[&str] = &["tokio", "sqlx", "axum", "reqwest", "lettre"];

#[test]
fn workspace_dependencies_follow_the_architecture() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
            root,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let allowed: BTreeMap<&str, BTreeSet<&str>> =
        ALLOWED.iter().map(|(k, v)| (*k, v.iter().copied().collect())).collect();
    let mut problems = Vec::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let Some(ok) = allowed.get(name) else {
            problems.push(format!("{name} is not in the dependency allowlist"));
            continue;
        };
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            let normal = dep["kind"].is_null();
            if dep_name.starts_with("twofold-") && normal && !ok.contains(dep_name) {
                problems.push(format!("{name} must not depend on {dep_name}"));
            }
            if matches!(name, "twofold-proto" | "twofold-factors") && FORBIDDEN_IN_LEAVES.contains(&dep_name) && normal
            {
                problems.push(format!("{name} must not depend on {dep_name}"));
            }
            if name == "twofold-core" && ["sqlx", "axum", "reqwest", "lettre"].contains(&dep_name) && normal {
                problems.push(format!("twofold-core must not depend on {dep_name}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
