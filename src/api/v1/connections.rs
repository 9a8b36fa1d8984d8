//! `GET /v1/connections`: a project's plugs, slots and connections
//! (../shared/spec/reference-inventory.md §2.3, §8.11).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use workshop_actors::managers::interface::ListConnections;
use workshop_actors::managers::interface::listing::Filter;
use workshop_actors::managers::interface::requests::{ChangeConnections, Request};
use workshop_actors::managers::workshop::ListWorkshops;
use workshop_api::connections::{ConnectionsRequest, MountsRequest};
use workshop_api::definition::is_valid_name;
use workshop_api::definition::{EndpointRef, SYSTEM_SDK};
use workshop_api::ids::{ProjectId, WorkshopName};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::{accepted, sync};

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
    let project_id = query
        .project_id
        .ok_or_else(|| ApiError::BadRequest("project-id must not be empty".into()))?
        .into_string();
    let all = match query.select.as_deref() {
        None | Some("") => false,
        Some("all") => true,
        Some(_) => return Err(ApiError::BadRequest("unsupported select qualifier".into())),
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
    if let Some(name) = &wanted
        && !launched.workshops.iter().any(|w| &w.name == name)
    {
        return Err(ApiError::NotFound(format!("cannot access {name:?} workshop: {}", not_launched(name))));
    }
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

/// A plug, slot or SDK name from a request: the name grammar, at most 40 characters; `empty`
/// allows the empty name (a slot left for the daemon to choose).
fn checked_name(what: &str, name: &str, empty: bool) -> Result<(), ApiError> {
    if (empty && name.is_empty()) || (name.len() <= MAX_INTERFACE && is_valid_name(name)) {
        return Ok(());
    }
    let shown: String = name.chars().take(64).collect();
    Err(ApiError::BadRequest(format!("invalid {what} name {shown:?}")))
}

/// `(project id, workshop, sdk, name)` checked.
fn endpoint(
    project_id: &str,
    workshop: &str,
    sdk: &str,
    name: &str,
    empty: bool,
) -> Result<(String, String, EndpointRef), ApiError> {
    let project_id =
        project_id.parse::<ProjectId>().map_err(|e| ApiError::BadRequest(e.to_string()))?.into_string();
    let workshop =
        workshop.parse::<WorkshopName>().map_err(|e| ApiError::BadRequest(e.to_string()))?.into_string();
    let sdk = if sdk.is_empty() { SYSTEM_SDK } else { sdk };
    checked_name("SDK", sdk, false)?;
    checked_name("plug or slot", name, empty)?;
    Ok((project_id, workshop, EndpointRef::new(sdk, name)))
}

pub async fn post(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<ConnectionsRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let connect = match body.action.as_str() {
        "" => return Err(ApiError::BadRequest("interface action not specified".into())),
        "connect" => true,
        "disconnect" => false,
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(ApiError::BadRequest(format!("unsupported interface action: {shown:?}")));
        }
    };
    check_environment(&body.environment)?;
    if body.auto_port && !connect {
        return Err(ApiError::BadRequest("auto-port applies to connect only".into()));
    }
    if body.plugs.len() > 1 || body.slots.len() > 1 {
        return Err(ApiError::NotImplemented(
            "cannot connect or disconnect several plugs or slots at once".into(),
        ));
    }
    let Some(plug) = body.plugs.first() else {
        return Err(ApiError::BadRequest("at least one plug and slot is required".into()));
    };
    let (project_id, workshop, first) =
        endpoint(&plug.project_id, &plug.workshop, &plug.sdk, &plug.plug, false)?;
    let other = match body.slots.first() {
        None => None,
        Some(s) => {
            let (pid, ws, slot) = endpoint(&s.project_id, &s.workshop, &s.sdk, &s.slot, connect)?;
            if pid != project_id || ws != workshop {
                return Err(ApiError::BadRequest(
                    "cannot connect plugs and slots across different workshops".into(),
                ));
            }
            Some(slot)
        }
    };
    // The project must be the caller's and the workshop launched.
    let list =
        ListWorkshops { user: caller.user_ref(), project_id: project_id.clone(), state: String::new() };
    let launched = state.workshops.send(list).await??;
    if !launched.workshops.iter().any(|w| w.name == workshop) {
        return Err(ApiError::NotFound(format!(
            "cannot access {workshop:?} workshop: {}",
            not_launched(&workshop)
        )));
    }
    let request = if connect {
        Request::Connect { plug: first, slot: other, environment: body.environment }
    } else {
        Request::Disconnect { first, other, forget: body.forget }
    };
    let msg = ChangeConnections {
        user: caller.user_ref(),
        project_id,
        workshop,
        request,
        auto_port: body.auto_port,
    };
    let change = state.interfaces.send(msg).await??;
    Ok(accepted(&change, serde_json::Value::Null, state.warning_meta(&caller).await))
}

/// Why a workshop named in a request cannot be used.
fn not_launched(name: &str) -> String {
    format!("workshop {name:?} is not launched")
}

/// Longest host path a remount takes (and longest session variable a connect takes).
const MAX_PATH: usize = 4096;

/// The session variables of a connect: only those the interfaces read, each a bounded
/// string without NUL (their meaning is checked by the interface manager).
fn check_environment(environment: &std::collections::BTreeMap<String, String>) -> Result<(), ApiError> {
    for (name, value) in environment {
        if !workshop_api::connections::SESSION_VARIABLES.contains(&name.as_str()) {
            let shown: String = name.chars().take(64).collect();
            return Err(ApiError::BadRequest(format!("unsupported environment variable {shown:?}")));
        }
        if value.len() > MAX_PATH || value.contains('\0') {
            return Err(ApiError::BadRequest(format!("invalid value of environment variable {name}")));
        }
    }
    Ok(())
}

/// `POST /v1/projects/{id}/workshops/{name}/mounts`: `remount`.
pub async fn mounts(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, WorkshopName)>,
    body: web::Json<MountsRequest>,
) -> Result<HttpResponse, ApiError> {
    let (project_id, workshop) = path.into_inner();
    let (project_id, workshop) = (project_id.into_string(), workshop.into_string());
    let body = body.into_inner();
    if body.action != "remount" {
        let shown: String = body.action.chars().take(64).collect();
        return Err(ApiError::BadRequest(format!("unsupported action {shown:?}")));
    }
    let p = &body.plug;
    let (pid, ws, plug) = endpoint(&p.project_id, &p.workshop, &p.sdk, &p.plug, false)?;
    if pid != project_id || ws != workshop {
        return Err(ApiError::BadRequest("the plug is not of this workshop".into()));
    }
    let source = &body.host_source;
    let why = if source.len() > MAX_PATH {
        Some(format!("longer than {MAX_PATH} bytes"))
    } else if source.contains('\0') {
        Some("it holds a NUL byte".to_string())
    } else if !source.starts_with('/') {
        Some("an absolute path is required".to_string())
    } else {
        None
    };
    if let Some(why) = why {
        let shown: String = source.chars().take(64).collect();
        return Err(ApiError::BadRequest(format!("invalid host source {shown:?}: {why}")));
    }
    let list =
        ListWorkshops { user: caller.user_ref(), project_id: project_id.clone(), state: String::new() };
    let launched = state.workshops.send(list).await??;
    if !launched.workshops.iter().any(|w| w.name == workshop) {
        // The reference's remount words (its connections say `cannot access "ws" workshop`).
        return Err(ApiError::NotFound(format!(
            "cannot access workshop {workshop:?}: {}",
            not_launched(&workshop)
        )));
    }
    let msg = workshop_actors::managers::interface::remount::Remount {
        user: caller.user_ref(),
        project_id,
        workshop,
        plug,
        source: std::path::PathBuf::from(source),
    };
    let change = state.interfaces.send(msg).await??;
    Ok(accepted(&change, serde_json::Value::Null, state.warning_meta(&caller).await))
}
