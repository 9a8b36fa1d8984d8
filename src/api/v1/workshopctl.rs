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
    let (workshop, uid) = match caller {
        AnyCaller::Host(peer) => (None, peer.uid),
        AnyCaller::Guest(guest) => (Some(guest.workshop), guest.uid),
    };
    let command = body.args.first().cloned().unwrap_or_default();
    let msg = Workshopctl { caller: workshop.clone(), uid, request: body.into_inner() };
    let result = state.hooks.send(msg).await?;
    if let Err(e) = &result {
        tracing::debug!(uid, ?workshop, %command, error = %e, "workshopctl refused");
    }
    Ok(sync(StatusCode::OK, result?, Default::default()))
}
