//! `POST /v1/workshopctl`: the only route the untrusted (in-workshop) socket serves.

use actix_web::{HttpResponse, web};
use workshop_api::workshopctl::WorkshopctlRequest;

use crate::api::error::ApiError;
use crate::api::peer::AnyCaller;

/// Hook contexts are registered by running hooks; without one the command comes from outside
/// a hook and is refused with the reference's message.
pub async fn post(_caller: AnyCaller, body: web::Json<WorkshopctlRequest>) -> Result<HttpResponse, ApiError> {
    let command = body.args.first().cloned().unwrap_or_default();
    Err(ApiError::BadRequest(format!(
        "cannot invoke workshopctl operation commands (here {command:?}) from outside of a workshop"
    )))
}
