//! The JSON Schema files under `schemas/json/` match the Rust types.
//!
//! After changing an event type run
//! `SWITCHBOARD_UPDATE_SCHEMAS=1 cargo test -p switchboard-schemas --test json_schema_files`
//! and commit the regenerated files.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[test]
fn checked_in_json_schemas_are_up_to_date() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json");
    let generated = switchboard_schemas::json_schema::generate();
    if std::env::var_os("SWITCHBOARD_UPDATE_SCHEMAS").is_some() {
        let _ = std::fs::remove_dir_all(&root);
        for (name, text) in &generated {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, text) in &generated {
        match std::fs::read_to_string(root.join(name)) {
            Ok(existing) if &existing == text => {}
            _ => stale.push(name.clone()),
        }
    }
    let mut on_disk = Vec::new();
    for aggregate in std::fs::read_dir(&root).unwrap() {
        let aggregate = aggregate.unwrap();
        for file in std::fs::read_dir(aggregate.path()).unwrap() {
            let file = file.unwrap();
            on_disk.push(format!("{}/{}", aggregate.file_name().to_string_lossy(), file.file_name().to_string_lossy()));
        }
    }
    let extra: Vec<_> = on_disk.iter().filter(|f| !generated.iter().any(|(n, _)| n == *f)).collect();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "schemas/json is stale (changed or missing: {stale:?}; no longer generated: {extra:?}); \
         run SWITCHBOARD_UPDATE_SCHEMAS=1 cargo test -p switchboard-schemas --test json_schema_files"
    );
    assert!(generated.len() >= 33, "every event type has a schema");
}
