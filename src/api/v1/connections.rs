//! `GET /v1/connections`: a project's plugs, slots and connections
//! (../shared/spec/reference-inventory.md §2.3, §8.11).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use workshop_actors::managers::interface::ListConnections;
use workshop_actors::managers::interface::listing::Filter;
use workshop_actors::managers::workshop::ListWorkshops;
use workshop_api::definition::is_valid_name;
use workshop_api::ids::{ProjectId, WorkshopName};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::sync;

/// Longest interface name asked for (the built-in ones are far shorter).
const MAX_INTERFACE: usize = 40;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ListQuery {
    #[serde(default)]
    project_id: Option<ProjectId>,
    #[serde(default)]
    workshop: Option<WorkshopName>,
    #[serde(default)]
    interface: Option<String>,
    #[serde(default)]
    select: Option<String>,
}

pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let project_id =
        query.project_id.ok_or_else(|| ApiError::BadRequest("missing project-id".into()))?.into_string();
    let all = match query.select.as_deref() {
        None | Some("") => false,
        Some("all") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("invalid select parameter: {other:?}"))),
    };
    if let Some(interface) = &query.interface
        && (interface.len() > MAX_INTERFACE || !is_valid_name(interface))
    {
        let shown: String = interface.chars().take(64).collect();
        return Err(ApiError::BadRequest(format!("invalid interface name {shown:?}")));
    }
    // The project must be the caller's; its launched workshops are listed.
    let list =
        ListWorkshops { user: caller.user_ref(), project_id: project_id.clone(), state: String::new() };
    let launched = state.workshops.send(list).await??;
    let wanted = query.workshop.map(WorkshopName::into_string);
    let workshops: Vec<String> = launched
        .workshops
        .into_iter()
        .map(|w| w.name)
        .filter(|n| wanted.as_ref().is_none_or(|w| w == n))
        .collect();
    let msg = ListConnections {
        user: caller.user_ref(),
        project_id,
        workshops,
        filter: Filter { all, interface: query.interface },
    };
    let connections = state.interfaces.send(msg).await??;
    Ok(sync(StatusCode::OK, connections, state.warning_meta(&caller).await))
}
