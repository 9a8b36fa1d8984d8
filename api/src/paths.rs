//! URL paths of the v1 API, so client and server cannot disagree.

pub const CHANGES: &str = "/v1/changes";
pub const WARNINGS: &str = "/v1/warnings";
pub const SYSTEM_INFO: &str = "/v1/system-info";
pub const PROJECTS: &str = "/v1/projects";
pub const WORKSHOPCTL: &str = "/v1/workshopctl";
pub const CONNECTIONS: &str = "/v1/connections";
pub const SDKS: &str = "/v1/sdks";
pub const FIND: &str = "/v1/find";
pub const DOCTOR: &str = "/v1/doctor";
pub const DISK_USAGE: &str = "/v1/disk-usage";
pub const PRUNE: &str = "/v1/prune";

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

pub fn workshop_mounts(project_id: &str, name: &str) -> String {
    format!("/v1/projects/{project_id}/workshops/{name}/mounts")
}

pub fn workshop_actions(project_id: &str, name: &str) -> String {
    format!("/v1/projects/{project_id}/workshops/{name}/actions")
}

pub fn workshop_refresh_plan(project_id: &str, name: &str) -> String {
    format!("/v1/projects/{project_id}/workshops/{name}/refresh-plan")
}

pub fn workshop_exec(project_id: &str, name: &str) -> String {
    format!("/v1/projects/{project_id}/workshops/{name}/exec")
}

/// `GET /v1/sdks/{name}`; `name` must already be a valid (or percent-encoded) segment.
pub fn sdk(name: &str) -> String {
    format!("/v1/sdks/{name}")
}

pub fn task_websocket(task_id: &str, ws: &str) -> String {
    format!("/v1/tasks/{task_id}/websocket/{ws}")
}

/// What [`encode`] escapes: everything but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one path segment or query value (RFC 3986 unreserved characters pass).
pub fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_unreserved_characters_pass() {
        assert_eq!(super::encode("ubuntu@22.04"), "ubuntu%4022.04");
        assert_eq!(super::encode("a b/c~d-e_f.g"), "a%20b%2Fc~d-e_f.g");
        assert_eq!(super::encode("é"), "%C3%A9");
    }
}
