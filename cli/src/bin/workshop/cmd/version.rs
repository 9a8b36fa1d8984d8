//! `workshop version`.

use crate::context::Ctx;

/// `workshop version`: this client's version and the daemon's, when it answers.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let daemon = match ctx.client.system_info() {
        Ok(info) => info.version,
        Err(e) if e.is_communication() => "-".to_string(),
        Err(e) => return Err(e.into()),
    };
    print!(
        "{}",
        crate::table::align(
            &[format!("workshop\t{}", workshop_api::VERSION), format!("workshopd\t{daemon}")],
            &[]
        )
    );
    Ok(())
}
