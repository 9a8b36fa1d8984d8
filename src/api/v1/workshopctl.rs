//! `POST /v1/workshopctl`: the only route the untrusted sockets serve.

use actix_web::{HttpResponse, web};
use workshop_api::workshopctl::WorkshopctlRequest;

use crate::api::error::ApiError;
use crate::api::peer::AnyCaller;

/// Hook contexts are registered by running hooks; without one the command comes from outside
/// a hook and is refused with the reference's message. A caller in a workshop speaks only for
/// the workshop its process runs in (`GuestCaller`), never for one the request names.
pub async fn post(caller: AnyCaller, body: web::Json<WorkshopctlRequest>) -> Result<HttpResponse, ApiError> {
    let command = body.args.first().cloned().unwrap_or_default();
    match &caller {
        AnyCaller::Host(peer) => {
            tracing::debug!(uid = peer.uid, listener = ?peer.listener, %command, "workshopctl outside a hook");
        }
        AnyCaller::Guest(guest) => tracing::debug!(
            uid = guest.uid,
            lxd_project = %guest.workshop.lxd_project,
            project_id = %guest.workshop.project_id,
            workshop = %guest.workshop.workshop,
            %command,
            "workshopctl outside a hook"
        ),
    }
    Err(ApiError::BadRequest(format!(
        "cannot invoke workshopctl operation commands (here {command:?}) from outside of a workshop"
    )))
}
