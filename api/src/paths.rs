//! URL paths of the v1 API, so client and server cannot disagree.

pub const CHANGES: &str = "/v1/changes";
pub const WARNINGS: &str = "/v1/warnings";
pub const SYSTEM_INFO: &str = "/v1/system-info";
pub const PROJECTS: &str = "/v1/projects";
pub const WORKSHOPCTL: &str = "/v1/workshopctl";
pub const CONNECTIONS: &str = "/v1/connections";

pub fn change(id: &str) -> String {
    format!("/v1/changes/{id}")
}

pub fn change_wait(id: &str) -> String {
    format!("/v1/changes/{id}/wait")
}

pub fn workshops(project_id: &str) -> String {
    format!("/v1/projects/{project_id}/workshops")
}

pub fn workshop(project_id: &str, name: &str) -> String {
    format!("/v1/projects/{project_id}/workshops/{name}")
}

pub fn workshop_actions(project_id: &str, name: &str) -> String {
    format!("/v1/projects/{project_id}/workshops/{name}/actions")
}

pub fn workshop_exec(project_id: &str, name: &str) -> String {
    format!("/v1/projects/{project_id}/workshops/{name}/exec")
}

pub fn task_websocket(task_id: &str, ws: &str) -> String {
    format!("/v1/tasks/{task_id}/websocket/{ws}")
}
