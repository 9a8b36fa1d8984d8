//! `POST /v1/workshopctl`: the only route the untrusted (in-workshop) socket serves.

use actix_web::{HttpResponse, web};
use workshop_api::workshopctl::WorkshopctlRequest;

use crate::api::error::ApiError;
use crate::api::peer::AnyCaller;

/// Hook contexts are registered by running hooks; without one the command comes from outside
/// a hook and is refused with the reference's message.
pub async fn post(caller: AnyCaller, body: web::Json<WorkshopctlRequest>) -> Result<HttpResponse, ApiError> {
    let command = body.args.first().cloned().unwrap_or_default();
    tracing::debug!(uid = caller.0.uid, untrusted = caller.0.untrusted, %command, "workshopctl outside a hook");
    Err(ApiError::BadRequest(format!(
        "cannot invoke workshopctl operation commands (here {command:?}) from outside of a workshop"
    )))
}
