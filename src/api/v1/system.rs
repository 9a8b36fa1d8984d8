//! `GET /v1/system-info`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use workshop_api::{LxdInfo, SystemInfo};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::sync;

pub async fn info(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let lxd = state.health.lxd();
    let info = SystemInfo {
        version: workshop_api::VERSION.to_string(),
        lxd: LxdInfo {
            reachable: lxd.reachable,
            server_version: lxd.server_version,
            endpoint: lxd.endpoint,
            storage_driver: lxd.storage_driver,
        },
        degraded: state.health.degraded(),
    };
    Ok(sync(StatusCode::OK, info, state.warning_meta(&caller).await))
}
