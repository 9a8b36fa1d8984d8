//! `sdk find <QUERY...>`: `NAME VERSION PUBLISHER SUMMARY`, sorted by name.

use anyhow::bail;
use clap::Args;
use workshop_api::sdks::SdkSummary;
use workshop_client::Client;
use workshop_client::table::Table;

use crate::ListFormat;
use crate::marks::{Marks, dash};

/// Flags of `find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Words to look for in the SDKs' names, titles, summaries, descriptions and publishers
    #[arg(value_name = "QUERY")]
    pub words: Vec<String>,
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

impl FindArgs {
    /// The words as one query; blank is empty.
    pub fn query(&self) -> String {
        self.words.join(" ").trim().to_string()
    }
}

pub fn run(client: &Client, args: &FindArgs, marks: &Marks) -> anyhow::Result<()> {
    let query = args.query();
    let mut found = client.find_sdks(&query)?;
    if let Some(data) = args.format.data(&found)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    if found.is_empty() {
        bail!("no matching SDKs for {query:?}");
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    if args.format == ListFormat::Csv {
        workshop_client::out!("{}", table(&found, &Marks::PLAIN).csv());
    } else {
        workshop_client::out!("{}", render(&found, !args.no_headers, marks));
    }
    Ok(())
}

pub fn render(found: &[SdkSummary], headers: bool, marks: &Marks) -> String {
    table(found, marks).render(headers, marks.color)
}

fn table(found: &[SdkSummary], marks: &Marks) -> Table {
    let mut table = Table::new(&["name", "version", "publisher", "summary"]);
    for sdk in found {
        let publisher = sdk.publisher.as_ref().map(|p| marks.short_publisher(p)).unwrap_or_default();
        table.row(vec![sdk.name.clone(), dash(&sdk.version), dash(&publisher), sdk.summary.clone()]);
    }
    table
}

#[cfg(test)]
mod tests {
    use workshop_api::sdks::StoreAccount;

    use super::*;

    #[test]
    fn a_table_of_what_was_found() {
        let publisher = StoreAccount {
            display_name: "Hunter Two".into(),
            username: "hunter2".into(),
            validation: "verified".into(),
            ..Default::default()
        };
        let found = [
            SdkSummary {
                name: "openvino".into(),
                version: "2.1-084c8c8".into(),
                publisher: Some(publisher),
                summary: "Intel OpenVINO toolkit".into(),
                ..Default::default()
            },
            SdkSummary { name: "x".into(), ..Default::default() },
        ];
        assert_eq!(
            render(&found, true, &Marks::PLAIN),
            "NAME      VERSION      PUBLISHER     SUMMARY\n\
             openvino  2.1-084c8c8  Hunter Two**  Intel OpenVINO toolkit\n\
             x         -            -             -\n"
        );
        assert!(!render(&found, false, &Marks::PLAIN).contains("NAME"));
    }
}
