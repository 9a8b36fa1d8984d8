//! `GET/POST /v1/projects`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use workshop_actors::managers::workshop::{ListProjects, TrackProject};
use workshop_api::ProjectRequest;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::sync;

pub async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let projects = state.workshops.send(ListProjects { user: caller.user_ref() }).await??;
    Ok(sync(StatusCode::OK, projects, state.warning_meta(&caller).await))
}

pub async fn post(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<ProjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let path = std::path::PathBuf::from(&body.path);
    let (project, created) = state.workshops.send(TrackProject { user: caller.user_ref(), path }).await??;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(sync(status, project, state.warning_meta(&caller).await))
}
