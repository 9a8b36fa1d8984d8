//! v1 routes, one module per resource.

mod changes;
pub use changes::Waits;
mod connections;
mod doctor;
mod exec;
mod projects;
mod sdks;
mod space;
mod system;
mod warnings;
mod workshopctl;
mod workshops;

#[cfg(test)]
mod hostile_tests;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::Method;
use actix_web::{HttpRequest, Route, web};
use workshop_api::routes::Endpoint;

use super::error::ApiError;
use super::method_not_allowed;

/// Registers every endpoint of [`Endpoint::ALL`], one resource per path; a known path answers
/// 405 for the verbs it does not serve. Path parameters are typed and match empty segments
/// too, so that an empty id is a 400 naming it like any other malformed one.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config()).app_data(query_config()).app_data(path_config());
    let mut paths: Vec<&str> = Vec::new();
    for e in Endpoint::ALL {
        if !paths.contains(&e.path()) {
            paths.push(e.path());
        }
    }
    for path in paths {
        let resource = Endpoint::ALL
            .iter()
            .filter(|e| e.path() == path)
            .fold(web::resource(empty_segments_too(path)), |resource, e| resource.route(route(*e)));
        cfg.service(resource.default_service(web::to(method_not_allowed)));
    }
}

/// `/a/{id}/b` as `/a/{id:[^/]*}/b`: a parameter also matches an empty segment.
fn empty_segments_too(path: &str) -> String {
    path.replace('}', ":[^/]*}")
}

/// The handler of each endpoint, behind its method.
fn route(e: Endpoint) -> Route {
    let method = Method::from_bytes(e.method().as_bytes()).expect("endpoint methods are valid");
    let route = web::route().method(method);
    match e {
        Endpoint::ListChanges => route.to(changes::list),
        Endpoint::GetChange => route.to(changes::get),
        Endpoint::PostChange => route.to(changes::post),
        Endpoint::WaitChange => route.to(changes::wait),
        Endpoint::ListWarnings => route.to(warnings::list),
        Endpoint::PostWarnings => route.to(warnings::post),
        Endpoint::SystemInfo => route.to(system::info),
        Endpoint::ListProjects => route.to(projects::list),
        Endpoint::PostProjects => route.to(projects::post),
        Endpoint::ListWorkshops => route.to(workshops::list),
        Endpoint::PostWorkshops => route.to(workshops::post),
        Endpoint::GetWorkshop => route.to(workshops::get),
        Endpoint::WorkshopActions => route.to(workshops::actions),
        Endpoint::RefreshPlan => route.to(workshops::refresh_plan),
        Endpoint::Exec => route.to(exec::post),
        Endpoint::TaskWebsocket => route.to(exec::websocket),
        Endpoint::Workshopctl => route.to(workshopctl::post),
        Endpoint::ListSdks => route.to(sdks::list),
        Endpoint::GetSdk => route.to(sdks::get),
        Endpoint::FindSdks => route.to(sdks::find),
        Endpoint::Doctor => route.to(doctor::get),
        Endpoint::DoctorFix => route.to(doctor::post),
        Endpoint::DiskUsage => route.to(space::usage),
        Endpoint::Prune => route.to(space::prune),
        Endpoint::ListConnections => route.to(connections::list),
        Endpoint::PostConnections => route.to(connections::post),
        Endpoint::Mounts => route.to(connections::mounts),
    }
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(8 << 20).content_type_required(false).error_handler(
        |err, req: &HttpRequest| {
            let why = match err {
                JsonPayloadError::Deserialize(e) => e.to_string(),
                other => other.to_string(),
            };
            // The reference's wording, route by route.
            let what = if req.path().starts_with("/v1/changes/") {
                "cannot decode data from request body"
            } else if req.path() == "/v1/connections" {
                "cannot decode request body into an interface action"
            } else {
                "cannot decode request body"
            };
            ApiError::BadRequest(format!("{what}: {why}")).into()
        },
    )
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req: &HttpRequest| {
        let why = match err {
            QueryPayloadError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        ApiError::BadRequest(format!("invalid query: {why}")).into()
    })
}

/// Path parameters are typed (`ProjectId`, `WorkshopName`, `ChangeId`, `TaskId`, `SdkBareName` of
/// `workshop_api::ids`): a malformed one is a 400 naming it, before any lookup.
fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, req: &HttpRequest| {
        // As the reference: a change id that names no change is not found, whatever it is.
        if req.path().starts_with("/v1/changes/")
            && let Some(id) = req.match_info().get("id")
        {
            let shown: String = id.chars().take(64).collect();
            return ApiError::NotFound(format!("cannot find change with id {shown:?}")).into();
        }
        let why = match err {
            PathError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        ApiError::BadRequest(why).into()
    })
}
