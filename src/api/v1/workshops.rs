//! `/v1/projects/{id}/workshops[/{name}[/actions]]`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use workshop_actors::managers::interface::WorkshopConnections;
use workshop_actors::managers::workshop::{
    ChangeWorkshops, GetActions, GetWorkshop, ListWorkshops, PlanRefresh,
};
use workshop_api::ids::{ProjectId, WorkshopName};
use workshop_api::workshops::{WorkshopAction, WorkshopsRequest};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::{accepted, sync};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
}

const STATES: &[&str] =
    &["", "all", "available", "unknown", "ready", "pending", "waiting", "error", "stopped"];

pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    project_id: web::Path<ProjectId>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    if !STATES.contains(&query.state.as_str()) {
        return Err(ApiError::BadRequest(format!("invalid state {:?}", query.state)));
    }
    let msg = ListWorkshops {
        user: caller.user_ref(),
        project_id: project_id.into_inner().into_string(),
        state: query.state.clone(),
    };
    let list = state.workshops.send(msg).await??;
    Ok(sync(StatusCode::OK, list, state.warning_meta(&caller).await))
}

pub async fn post(
    caller: Caller,
    state: web::Data<AppState>,
    project_id: web::Path<ProjectId>,
    body: web::Json<WorkshopsRequest>,
) -> Result<HttpResponse, ApiError> {
    // A full pool still lets workshops be stopped and removed, to free space.
    let frees_space = matches!(body.action, WorkshopAction::Stop | WorkshopAction::Remove);
    if !frees_space && let Some(reason) = state.health.refuses_growth() {
        return Err(ApiError::Degraded(reason));
    }
    let msg = ChangeWorkshops {
        user: caller.user_ref(),
        project_id: project_id.into_inner().into_string(),
        request: body.into_inner(),
    };
    let change = state.workshops.send(msg).await??;
    Ok(accepted(&change, serde_json::Value::Null, state.warning_meta(&caller).await))
}

pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, WorkshopName)>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, name) = path.into_inner();
    let (project_id, name) = (project_id.into_string(), name.into_string());
    let msg = GetWorkshop { user: caller.user_ref(), project_id: project_id.clone(), name: name.clone() };
    let mut info = state.workshops.send(msg).await??;
    // The mounts and tunnels of its connected plugs, from the interface manager.
    let msg = WorkshopConnections { user: caller.user_ref(), project_id, workshop: name };
    let mut conns = state.interfaces.send(msg).await??;
    for sdk in &mut info.sdks {
        if let Some(c) = conns.remove(&sdk.name) {
            sdk.mounts = c.mounts;
            sdk.tunnels = c.tunnels;
        }
    }
    Ok(sync(StatusCode::OK, info, state.warning_meta(&caller).await))
}

pub async fn actions(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, WorkshopName)>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, name) = path.into_inner();
    let (project_id, name) = (project_id.into_string(), name.into_string());
    let actions = state.workshops.send(GetActions { user: caller.user_ref(), project_id, name }).await??;
    Ok(sync(StatusCode::OK, actions, state.warning_meta(&caller).await))
}

/// `?skip-save-state=true`: the plan of a refresh asked not to save the SDKs' state.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PlanQuery {
    #[serde(default)]
    skip_save_state: bool,
}

/// What a refresh of the workshop would do: read only, no change is made (docs/output.md).
pub async fn refresh_plan(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, WorkshopName)>,
    query: web::Query<PlanQuery>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, name) = path.into_inner();
    let (project_id, name) = (project_id.into_string(), name.into_string());
    let skip_save_state = query.skip_save_state;
    let plan = state
        .workshops
        .send(PlanRefresh { user: caller.user_ref(), project_id, name, skip_save_state })
        .await??;
    Ok(sync(StatusCode::OK, plan, state.warning_meta(&caller).await))
}
