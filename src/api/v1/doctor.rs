//! `GET /v1/doctor` (the checks, for any user: id maps are the caller's) and `POST
//! /v1/doctor` `{"action":"fix"}` (root only: applies the host's safe fixes, then checks).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use workshop_actors::backend::{BackendError, Diagnose};
use workshop_actors::doctor::HostQuery;
use workshop_api::doctor::{DoctorAction, DoctorVerb};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::sync;

async fn diagnose(state: &AppState, caller: &Caller, fix: bool) -> Result<HttpResponse, ApiError> {
    let host = HostQuery { uid: caller.uid, gid: caller.gid, guest_socket: state.guest_socket.clone(), fix };
    let checks = state.backend.send(Diagnose { host }).await.map_err(BackendError::from)??;
    Ok(sync(StatusCode::OK, checks, state.warning_meta(caller).await))
}

pub async fn get(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    diagnose(&state, &caller, false).await
}

pub async fn post(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<DoctorAction>,
) -> Result<HttpResponse, ApiError> {
    match body.action {
        DoctorVerb::Fix if !caller.is_root() => Err(ApiError::Forbidden(
            "cannot fix: only root may apply fixes (run 'workshop doctor --fix' as root)".into(),
        )),
        DoctorVerb::Fix => diagnose(&state, &caller, true).await,
    }
}
