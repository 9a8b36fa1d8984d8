//! `sdk list`: `NAME VERSION REV SIZE`, one row per SDK tree on this machine, newest revision
//! first.

use clap::Args;
use workshop_api::sdks::SdkTree;
use workshop_client::Client;
use workshop_client::table::align;

use crate::ListFormat;
use crate::marks::{byte_size, dash};

/// Flags of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

pub fn run(client: &Client, args: &ListArgs) -> anyhow::Result<()> {
    let trees = client.sdks()?;
    if let Some(data) = args.format.data(&trees)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    if args.format == ListFormat::Csv {
        // Sizes in bytes, for scripts.
        let mut rows = workshop_client::table::Table::new(&["name", "version", "rev", "size"]);
        for t in sorted(trees) {
            rows.row(vec![t.name, t.version, t.revision, t.size.to_string()]);
        }
        workshop_client::out!("{}", rows.csv());
        return Ok(());
    }
    workshop_client::out!("{}", render(trees, !args.no_headers));
    Ok(())
}

/// A revision's order: Store revisions by number, local ones (`xN`) below them by number.
fn revision_order(revision: &str) -> i128 {
    const LOCAL: i128 = 1 << 100;
    match revision.strip_prefix('x') {
        Some(local) => local.parse::<i128>().map(|n| n - LOCAL).unwrap_or(i128::MIN),
        None => revision.parse().unwrap_or(i128::MIN),
    }
}

/// By name, the newest revision first.
fn sorted(mut trees: Vec<SdkTree>) -> Vec<SdkTree> {
    trees.sort_by(|a, b| {
        a.name.cmp(&b.name).then_with(|| revision_order(&b.revision).cmp(&revision_order(&a.revision)))
    });
    trees
}

pub fn render(trees: Vec<SdkTree>, headers: bool) -> String {
    if trees.is_empty() {
        return String::new();
    }
    let trees = sorted(trees);
    let sizes: Vec<String> = trees.iter().map(|t| byte_size(t.size)).collect();
    let (mut rev_width, mut size_width) = if headers { (3, 4) } else { (0, 0) };
    for (tree, size) in trees.iter().zip(&sizes) {
        rev_width = rev_width.max(tree.revision.chars().count());
        size_width = size_width.max(size.chars().count());
    }
    let mut lines = Vec::new();
    if headers {
        lines.push(format!("NAME\tVERSION\t{:>rev_width$}\t{:>size_width$}", "REV", "SIZE"));
    }
    for (tree, size) in trees.iter().zip(&sizes) {
        lines.push(format!(
            "{}\t{}\t{:>rev_width$}\t{size:>size_width$}",
            tree.name,
            dash(&tree.version),
            tree.revision
        ));
    }
    align(&lines, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str, version: &str, revision: &str, size: u64) -> SdkTree {
        SdkTree {
            name: name.into(),
            version: version.into(),
            revision: revision.into(),
            size,
            built_at: None,
        }
    }

    #[test]
    fn trees_by_name_newest_first() {
        let trees = vec![
            tree("openvino", "2.0", "82", 101 * 1024 * 1024),
            tree("system", "", "x1", 64 * 1024 * 1024),
            tree("openvino", "2.1-084c8c8", "85", 112 * 1024 * 1024),
            tree("go", "1.22", "x2", 1500),
            tree("go", "1.21", "x1", 900),
            tree("go", "1.23", "4", 2000),
        ];
        assert_eq!(
            render(trees.clone(), true),
            "NAME      VERSION      REV      SIZE\n\
             go        1.23           4    2.00kB\n\
             go        1.22          x2    1.50kB\n\
             go        1.21          x1      900B\n\
             openvino  2.1-084c8c8   85  117.44MB\n\
             openvino  2.0           82  105.91MB\n\
             system    -             x1   67.11MB\n"
        );
        let bare = render(trees, false);
        assert_eq!(bare.lines().count(), 6);
        assert!(bare.starts_with("go        1.23          4    2.00kB\n"), "{bare}");
        assert_eq!(render(Vec::new(), true), "");
    }
}
