//! `GET/POST /v1/warnings`: each caller lists their own warnings and daemon-wide ones, and
//! dismisses their own (root: daemon-wide ones too).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use workshop_actors::engine::{Query, Transact};
use workshop_api::{WarningAction, WarningInfo};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::sync;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    select: Option<String>,
}

pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let all = match query.select.as_deref().unwrap_or("pending") {
        "all" => true,
        "pending" => false,
        other => return Err(ApiError::BadRequest(format!("invalid select parameter: {other:?}"))),
    };
    let uid = caller.uid;
    let warnings = state
        .engine
        .send(Query(Box::new(move |st| {
            let now = chrono::Utc::now();
            let list = if all { st.all_warnings(uid) } else { st.pending_warnings(uid, now).0 };
            list.into_iter()
                .map(|w| WarningInfo {
                    message: w.message().to_string(),
                    first_added: w.first_added(),
                    last_added: w.last_added(),
                    last_shown: w.last_shown(),
                    expire_after: workshop_api::duration::format(w.expire_after()),
                    repeat_after: workshop_api::duration::format(w.repeat_after()),
                })
                .collect::<Vec<_>>()
        })))
        .await?;
    Ok(sync(StatusCode::OK, warnings, state.warning_meta(&caller).await))
}

pub async fn post(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<WarningAction>,
) -> Result<HttpResponse, ApiError> {
    if body.action != "okay" {
        return Err(ApiError::BadRequest(format!("unknown warning action {:?}", body.action)));
    }
    let (uid, t) = (caller.uid, body.timestamp);
    let n = state.engine.send(Transact(Box::new(move |st| st.okay_warnings(uid, t)))).await??;
    Ok(sync(StatusCode::OK, n, state.warning_meta(&caller).await))
}

#[cfg(test)]
mod tests;
