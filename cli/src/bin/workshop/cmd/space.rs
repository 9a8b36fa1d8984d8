//! `workshop du` and `workshop prune`.

use clap::Args;
use workshop_api::space::{DiskUsage, Pruned, SpaceItem};
use workshop_client::output::byte_size;

use crate::cmd::{ListFormat, bold_headers};
use crate::context::Ctx;
use crate::table::Table;

/// Flags of `du`.
#[derive(Debug, Args)]
pub struct DuArgs {
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// Flags of `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Say what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// One table of items; a USER column when they are not all one user's.
fn table(items: &[SpaceItem], in_use: bool) -> Table {
    let users = items.iter().any(|i| !i.user.is_empty() && i.user != items[0].user);
    let mut headers = vec!["kind", "name"];
    if users {
        headers.push("user");
    }
    headers.extend(["project", "size"]);
    if in_use {
        headers.push("in use");
    }
    let mut table = Table::new(&headers).right_align(headers.len() - 1 - usize::from(in_use));
    for item in items {
        let mut row = vec![item.kind.as_str().to_string(), item.name.clone()];
        if users {
            row.push(item.user.clone());
        }
        row.push(item.project_path.clone());
        row.push(item.size.map(byte_size).unwrap_or_default());
        if in_use {
            row.push(if item.in_use { "yes" } else { "no" }.into());
        }
        table.row(row);
    }
    table
}

/// The pool's line under the table.
fn pool_line(usage: &DiskUsage) -> String {
    let pool = &usage.pool;
    let percent = pool.used.saturating_mul(100).checked_div(pool.total).unwrap_or(0);
    format!(
        "storage pool {:?} ({}): {} of {} used ({percent}%)\n",
        pool.name,
        pool.driver,
        byte_size(pool.used),
        byte_size(pool.total)
    )
}

/// `workshop du`.
pub fn du(ctx: &Ctx, args: &DuArgs) -> anyhow::Result<()> {
    let usage = ctx.client.disk_usage()?;
    if let Some(data) = args.format.data(&usage)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    let rows = table(&usage.items, true);
    if args.format == ListFormat::Csv {
        workshop_client::out!("{}", rows.csv());
        return Ok(());
    }
    if !usage.items.is_empty() {
        workshop_client::out!("{}", rows.render(!args.no_headers, bold_headers()));
    }
    workshop_client::out!("{}", pool_line(&usage));
    if usage.items.iter().any(|i| i.size.is_none()) {
        workshop_client::outln!("(no size: the storage driver does not count it per instance)");
    }
    Ok(())
}

/// `workshop prune`.
pub fn prune(ctx: &Ctx, args: &PruneArgs) -> anyhow::Result<()> {
    let pruned = ctx.client.prune(args.dry_run)?;
    if let Some(data) = args.format.data(&pruned)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    let rows = table(&pruned.removed, false);
    if args.format == ListFormat::Csv {
        workshop_client::out!("{}", rows.csv());
        return Ok(());
    }
    workshop_client::out!("{}", summary(&pruned, args, &rows));
    Ok(())
}

fn summary(pruned: &Pruned, args: &PruneArgs, rows: &Table) -> String {
    let mut out = String::new();
    if pruned.removed.is_empty() {
        out.push_str("Nothing to prune.\n");
    } else {
        out.push_str(&rows.render(!args.no_headers, bold_headers()));
        let verb = if args.dry_run { "Would free" } else { "Freed" };
        let uncounted = pruned.removed.iter().filter(|i| i.size.is_none()).count();
        let more = match uncounted {
            0 => String::new(),
            1 => ", and the space of 1 item the storage driver does not count".to_string(),
            n => format!(", and the space of {n} items the storage driver does not count"),
        };
        out.push_str(&format!("{verb} {}{more}.\n", byte_size(pruned.freed)));
    }
    for note in &pruned.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use workshop_api::space::{PoolSpace, SpaceKind};

    use super::*;

    fn item(kind: SpaceKind, name: &str, user: &str, size: Option<u64>, in_use: bool) -> SpaceItem {
        SpaceItem { kind, name: name.into(), user: user.into(), project_path: "/p".into(), size, in_use }
    }

    #[test]
    fn du_table_and_pool_line() {
        let items = vec![
            item(SpaceKind::Workshop, "dev", "u", None, true),
            item(SpaceKind::AptCache, "old", "u", Some(12_300_000), false),
        ];
        let text = table(&items, true).render(true, false);
        assert!(text.starts_with("KIND       NAME  PROJECT     SIZE  IN USE\n"), "{text}");
        assert!(text.contains("\napt-cache  old   /p       12.30MB  no\n"), "{text}");
        let usage = DiskUsage {
            pool: PoolSpace {
                name: "workshop".into(),
                driver: "zfs".into(),
                used: 2_000_000_000,
                total: 8_000_000_000,
            },
            items,
        };
        assert_eq!(pool_line(&usage), "storage pool \"workshop\" (zfs): 2.00GB of 8.00GB used (25%)\n");
        let mixed = [
            item(SpaceKind::Workshop, "a", "u", None, true),
            item(SpaceKind::Workshop, "b", "v", None, true),
        ];
        assert!(table(&mixed, true).render(true, false).starts_with("KIND      NAME  USER"));
    }

    #[test]
    fn prune_says_what_it_freed_or_would_free() {
        let args = PruneArgs { dry_run: true, no_headers: false, format: ListFormat::Table };
        let pruned = Pruned {
            removed: vec![item(SpaceKind::Template, "tpl-x", "u", Some(2_000_000), false)],
            freed: 2_000_000,
            notes: vec!["kept unused SDK trees: a change is in progress".into()],
        };
        let text = summary(&pruned, &args, &table(&pruned.removed, false));
        assert!(text.contains("Would free 2.00MB.\nnote: kept unused SDK trees"), "{text}");
        assert_eq!(summary(&Pruned::default(), &args, &table(&[], false)), "Nothing to prune.\n");
    }
}
