//! `POST /v1/workshopctl`: the only route the untrusted sockets serve.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use workshop_actors::managers::hook::Workshopctl;
use workshop_api::workshopctl::WorkshopctlRequest;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::AnyCaller;
use crate::api::response::sync;

/// A command from a hook: the hook manager maps its cookie to a running hook of the
/// caller's own workshop (`GuestCaller`, from the process's cgroups), never to one the request
/// names; a host process is in no workshop, so no cookie is valid from it.
pub async fn post(
    caller: AnyCaller,
    state: web::Data<AppState>,
    body: web::Json<WorkshopctlRequest>,
) -> Result<HttpResponse, ApiError> {
    let command = body.args.first().map(String::as_str).unwrap_or_default();
    let (workshop, uid) = match caller {
        AnyCaller::Host(peer) => {
            tracing::debug!(uid = peer.uid, listener = ?peer.listener, %command, "workshopctl request");
            (None, peer.uid)
        }
        AnyCaller::Guest(guest) => {
            let w = &guest.workshop;
            tracing::debug!(
                uid = guest.uid,
                lxd_project = %w.lxd_project,
                project_id = %w.project_id,
                workshop = %w.workshop,
                %command,
                "workshopctl request"
            );
            (Some(guest.workshop), guest.uid)
        }
    };
    let msg = Workshopctl { caller: workshop, uid, request: body.into_inner() };
    let result =
        state.hooks.send(msg).await?.inspect_err(|e| tracing::debug!(error = %e, "workshopctl refused"));
    Ok(sync(StatusCode::OK, result?, Default::default()))
}
