//! `workshop version`.

use clap::Args;
use serde::Serialize;

use crate::cmd::Format;
use crate::context::Ctx;

/// Flags of `version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The versions, as `--format json` and `yaml` show them.
#[derive(Debug, Serialize)]
struct Versions {
    workshop: &'static str,
    /// `null` when the daemon does not answer.
    workshopd: Option<String>,
}

/// `workshop version`: this client's version and the daemon's, when it answers.
pub fn run(ctx: &Ctx, args: &VersionArgs) -> anyhow::Result<()> {
    let daemon = match ctx.client.system_info() {
        Ok(info) => Some(info.version),
        Err(e) if e.is_communication() => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(data) =
        args.format.data(&Versions { workshop: workshop_api::VERSION, workshopd: daemon.clone() })?
    {
        workshop_client::out!("{data}");
        return Ok(());
    }
    let daemon = daemon.unwrap_or_else(|| "-".to_string());
    workshop_client::out!(
        "{}",
        crate::table::align(
            &[format!("workshop\t{}", workshop_api::VERSION), format!("workshopd\t{daemon}")],
            &[]
        )
    );
    Ok(())
}
