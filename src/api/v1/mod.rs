//! v1 routes, one module per resource.

mod changes;
mod exec;
mod projects;
mod system;
mod warnings;
mod workshopctl;
mod workshops;

use actix_web::{HttpRequest, Resource, web};

use super::error::ApiError;
use super::method_not_allowed;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(query_config())
        .service(resource("/v1/changes").route(web::get().to(changes::list)))
        .service(
            resource("/v1/changes/{id}")
                .route(web::get().to(changes::get))
                .route(web::post().to(changes::post)),
        )
        .service(resource("/v1/changes/{id}/wait").route(web::get().to(changes::wait)))
        .service(
            resource("/v1/warnings")
                .route(web::get().to(warnings::list))
                .route(web::post().to(warnings::post)),
        )
        .service(resource("/v1/system-info").route(web::get().to(system::info)))
        .service(
            resource("/v1/projects")
                .route(web::get().to(projects::list))
                .route(web::post().to(projects::post)),
        )
        .service(
            resource("/v1/projects/{id}/workshops")
                .route(web::get().to(workshops::list))
                .route(web::post().to(workshops::post)),
        )
        .service(resource("/v1/projects/{id}/workshops/{name}").route(web::get().to(workshops::get)))
        .service(
            resource("/v1/projects/{id}/workshops/{name}/actions").route(web::get().to(workshops::actions)),
        )
        .service(resource("/v1/projects/{id}/workshops/{name}/exec").route(web::post().to(exec::post)))
        .service(resource("/v1/tasks/{task}/websocket/{ws}").route(web::get().to(exec::websocket)))
        .service(resource("/v1/workshopctl").route(web::post().to(workshopctl::post)));
}

fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(8 << 20).content_type_required(false).error_handler(
        |err, _req: &HttpRequest| ApiError::BadRequest(format!("cannot decode request body: {err}")).into(),
    )
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _req: &HttpRequest| ApiError::BadRequest(format!("invalid query: {err}")).into())
}
