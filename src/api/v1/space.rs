//! `GET /v1/disk-usage` and `POST /v1/prune`: the caller's (every user's for root).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use workshop_actors::space::{GetDiskUsage, Prune};
use workshop_api::space::PruneRequest;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::sync;

pub async fn usage(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let usage = state.space.send(GetDiskUsage { viewer: caller.user_ref() }).await??;
    Ok(sync(StatusCode::OK, usage, state.warning_meta(&caller).await))
}

pub async fn prune(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<PruneRequest>,
) -> Result<HttpResponse, ApiError> {
    let pruned = state.space.send(Prune { viewer: caller.user_ref(), dry_run: body.dry_run }).await??;
    Ok(sync(StatusCode::OK, pruned, state.warning_meta(&caller).await))
}
