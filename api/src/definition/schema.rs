//! The JSON schema of the definition file, committed as `api/schema/workshop.schema.json`.

use super::WorkshopFile;

/// The JSON schema of [`WorkshopFile`], pretty-printed, with a final newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(WorkshopFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a JSON schema serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The committed schema must match the types; `UPDATE_SCHEMA=1` rewrites it.
    #[test]
    fn schema_file_is_up_to_date() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/workshop.schema.json");
        let generated = json_schema();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).expect("write the schema file");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is out of date; regenerate it with: UPDATE_SCHEMA=1 cargo test -p workshop-api schema",
            path.display()
        );
    }
}
