//! The typed client: one method per v1 route, over the daemon's Unix socket.

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use workshop_api::exec::{ExecRequest, ExecResult};
use workshop_api::sdks::{SdkFullInfo, SdkSummary, SdkTree};
use workshop_api::workshopctl::{WorkshopctlRequest, WorkshopctlResult};
use workshop_api::workshops::{Actions, RefreshPlan, WorkshopInfo, WorkshopList, WorkshopsRequest};
use workshop_api::{
    ChangeAction, ChangeInfo, Envelope, ErrorKind, Maintenance, Project, ProjectRequest, ResponseType,
    SystemInfo, WarningAction, WarningInfo, paths,
};

use crate::http::{self, HttpError, Response};
use crate::socket;

/// How to reach workshopd when it does not answer.
pub const START_HINT: &str = "Make sure workshopd is running: start it with \"sudo workshopd run --create-dirs\", or check its service logs.";

/// Read timeout of ordinary requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Extra time allowed on top of a long-poll timeout before the client gives up reading.
const LONG_POLL_GRACE: Duration = Duration::from_secs(30);
/// Write timeout of every request.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// An error answered by the daemon (`type: error`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status_code: u16,
    pub message: String,
    pub kind: Option<ErrorKind>,
    pub value: Value,
}

pub use workshop_api::ChangeConflict;

/// Everything that can go wrong talking to workshopd.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon could not be reached, or the connection broke.
    #[error("cannot communicate with workshopd: {0}\n\n{hint}", hint = START_HINT)]
    Communication(String),
    /// The daemon answered with an error.
    #[error("{}", .0.message)]
    Api(ApiError),
    /// The daemon answered something this client cannot read.
    #[error("cannot decode response of workshopd: {0}")]
    Decode(String),
    /// An exec websocket could not be opened.
    #[error("cannot connect to the {stream:?} stream of task {task}: {reason}")]
    Websocket { task: String, stream: String, reason: String },
}

impl ClientError {
    /// The daemon's error, when it answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The error kind the daemon gave, if any.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.api().and_then(|e| e.kind)
    }

    /// Whether the daemon was unreachable (as opposed to answering an error).
    pub fn is_communication(&self) -> bool {
        matches!(self, Self::Communication(_))
    }

    /// The conflicting change of a `change-conflict` error.
    pub fn conflict(&self) -> Option<ChangeConflict> {
        let api = self.api().filter(|e| e.kind == Some(ErrorKind::ChangeConflict))?;
        Some(serde_json::from_value(api.value.clone()).unwrap_or_default())
    }
}

/// `warning-count` and `warning-timestamp` of the latest successful response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WarningsSummary {
    pub count: u64,
    pub timestamp: Option<DateTime<Utc>>,
}

/// Which changes `GET /v1/changes` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSelect {
    All,
    InProgress,
    Ready,
}

impl ChangeSelect {
    fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::InProgress => "in-progress",
            Self::Ready => "ready",
        }
    }
}

/// A blocking client of one daemon socket. Each request uses a fresh connection.
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    /// Read timeout of ordinary (not long-poll) requests.
    timeout: Duration,
    last: Mutex<(WarningsSummary, Option<Maintenance>)>,
    /// `$XDG_DATA_HOME`, as sent with every request ([`workshop_api::data_home`]).
    data_home: Option<String>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new(socket::trusted_socket_path())
    }
}

impl Client {
    /// A client of the socket at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            timeout: REQUEST_TIMEOUT,
            last: Mutex::new((WarningsSummary::default(), None)),
            data_home: workshop_api::data_home::from_env(std::env::var_os("XDG_DATA_HOME").as_deref()),
        }
    }

    /// The same client with another read timeout for ordinary requests (shell completion
    /// gives up quickly).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Warning meta of the latest successful response.
    pub fn warnings_summary(&self) -> WarningsSummary {
        self.last.lock().map(|l| l.0).unwrap_or_default()
    }

    /// The maintenance notice of the latest response, if the daemon is restarting.
    pub fn maintenance(&self) -> Option<Maintenance> {
        self.last.lock().ok().and_then(|l| l.1.clone())
    }

    /// Opens a connection to the socket.
    pub(crate) fn connect(&self) -> Result<UnixStream, ClientError> {
        UnixStream::connect(&self.socket).map_err(|e| {
            ClientError::Communication(format!("cannot connect to {}: {e}", self.socket.display()))
        })
    }

    fn round_trip(
        &self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Response, ClientError> {
        let stream = self.connect()?;
        let comm = |e: HttpError| ClientError::Communication(format!("{method} {target}: {e}"));
        stream.set_read_timeout(timeout).map_err(|e| comm(e.into()))?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT)).map_err(|e| comm(e.into()))?;
        http::write_request(&mut &stream, method, target, body, self.data_home.as_deref())
            .map_err(|e| comm(e.into()))?;
        http::read_response(&mut BufReader::new(&stream)).map_err(comm)
    }

    /// Sends a request and returns the envelope of a non-error answer.
    fn call(
        &self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Envelope, ClientError> {
        let response = self.round_trip(method, target, body, timeout)?;
        let envelope = decode_envelope(&response)?;
        if let Some(error) = envelope.error() {
            let status_code = if envelope.status_code != 0 { envelope.status_code } else { response.status };
            return Err(ClientError::Api(ApiError {
                status_code,
                message: error.message,
                kind: error.kind,
                value: error.value,
            }));
        }
        if let Ok(mut last) = self.last.lock() {
            last.0 = WarningsSummary {
                count: envelope.warning_count.unwrap_or(0),
                timestamp: envelope.warning_timestamp,
            };
            last.1 = envelope.maintenance.clone();
        }
        Ok(envelope)
    }

    fn sync<T: DeserializeOwned>(
        &self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<T, ClientError> {
        let envelope = self.call(method, target, body, timeout)?;
        if envelope.kind != ResponseType::Sync {
            return Err(ClientError::Decode(format!("expected a sync response to {method} {target}")));
        }
        serde_json::from_value(envelope.result)
            .map_err(|e| ClientError::Decode(format!("result of {method} {target}: {e}")))
    }

    /// Sends an async request; returns the change id and the result.
    fn async_call(&self, target: &str, body: &[u8]) -> Result<(String, Value), ClientError> {
        let envelope = self.call("POST", target, Some(body), Some(self.timeout))?;
        match (envelope.kind, envelope.change) {
            (ResponseType::Async, Some(change)) if !change.is_empty() => Ok((change, envelope.result)),
            _ => Err(ClientError::Decode(format!(
                "expected an async response with a change id to POST {target}"
            ))),
        }
    }

    fn get<T: DeserializeOwned>(&self, target: &str) -> Result<T, ClientError> {
        self.sync("GET", target, None, Some(self.timeout))
    }

    fn post<T: DeserializeOwned>(&self, target: &str, body: &impl Serialize) -> Result<T, ClientError> {
        let body = encode(body)?;
        self.sync("POST", target, Some(&body), Some(self.timeout))
    }

    /// `GET /v1/system-info`.
    pub fn system_info(&self) -> Result<SystemInfo, ClientError> {
        self.get(paths::SYSTEM_INFO)
    }

    /// `GET /v1/changes?select=..&project-id=..`.
    pub fn changes(
        &self,
        select: ChangeSelect,
        project_id: Option<&str>,
    ) -> Result<Vec<ChangeInfo>, ClientError> {
        let query = [("select", select.as_str()), ("project-id", project_id.unwrap_or_default())];
        Ok(self
            .get::<Option<Vec<ChangeInfo>>>(&http::with_query(paths::CHANGES, &query))?
            .unwrap_or_default())
    }

    /// `GET /v1/changes/{id}`; `verbose` asks for full hook output in the task logs.
    pub fn change(&self, id: &str, verbose: bool) -> Result<ChangeInfo, ClientError> {
        let query = [("verbose", if verbose { "true" } else { "" })];
        self.get(&http::with_query(&paths::change(id), &query))
    }

    /// `POST /v1/changes/{id} {"action":"abort"}`.
    pub fn abort_change(&self, id: &str) -> Result<ChangeInfo, ClientError> {
        self.post(&paths::change(id), &ChangeAction { action: "abort".into() })
    }

    /// `GET /v1/changes/{id}/wait?timeout=..`: blocks until the change is ready. The daemon answers
    /// 504 when `timeout` passes first; without a timeout it waits as long as the change runs.
    pub fn wait_change(&self, id: &str, timeout: Option<Duration>) -> Result<ChangeInfo, ClientError> {
        let timeout_text = timeout.map(workshop_api::duration::format).unwrap_or_default();
        let target = http::with_query(&paths::change_wait(id), &[("timeout", &timeout_text)]);
        self.sync("GET", &target, None, timeout.map(|t| t + LONG_POLL_GRACE))
    }

    /// `GET /v1/warnings[?select=all]`.
    pub fn warnings(&self, all: bool) -> Result<Vec<WarningInfo>, ClientError> {
        let target = http::with_query(paths::WARNINGS, &[("select", if all { "all" } else { "" })]);
        Ok(self.get::<Option<Vec<WarningInfo>>>(&target)?.unwrap_or_default())
    }

    /// `POST /v1/warnings {"action":"okay","timestamp":..}`: acknowledges warnings up to `timestamp`.
    pub fn okay(&self, timestamp: DateTime<Utc>) -> Result<(), ClientError> {
        self.post::<Value>(paths::WARNINGS, &WarningAction { action: "okay".into(), timestamp }).map(drop)
    }

    /// `GET /v1/connections?project-id=..[&workshop=..][&select=all]`.
    pub fn connections(
        &self,
        project_id: &str,
        workshop: Option<&str>,
        all: bool,
    ) -> Result<workshop_api::connections::Connections, ClientError> {
        let query = [
            ("project-id", project_id),
            ("workshop", workshop.unwrap_or_default()),
            ("select", if all { "all" } else { "" }),
        ];
        Ok(self
            .get::<Option<workshop_api::connections::Connections>>(&http::with_query(
                paths::CONNECTIONS,
                &query,
            ))?
            .unwrap_or_default())
    }

    /// `POST /v1/projects {"path"}`: tracks the project holding `path`.
    pub fn track_project(&self, path: &Path) -> Result<Project, ClientError> {
        self.post(paths::PROJECTS, &ProjectRequest { path: path.to_string_lossy().into_owned() })
    }

    /// `GET /v1/projects`.
    pub fn projects(&self) -> Result<Vec<Project>, ClientError> {
        Ok(self.get::<Option<Vec<Project>>>(paths::PROJECTS)?.unwrap_or_default())
    }

    /// `GET /v1/projects/{id}/workshops?state=..`.
    pub fn workshops(&self, project_id: &str, state: Option<&str>) -> Result<WorkshopList, ClientError> {
        let target = http::with_query(&paths::workshops(project_id), &[("state", state.unwrap_or_default())]);
        Ok(self.get::<Option<WorkshopList>>(&target)?.unwrap_or_default())
    }

    /// `GET /v1/projects/{id}/workshops/{name}`.
    pub fn workshop(&self, project_id: &str, name: &str) -> Result<WorkshopInfo, ClientError> {
        self.get(&paths::workshop(project_id, &http::encode_component(name)))
    }

    /// `GET /v1/projects/{id}/workshops/{name}/actions`.
    pub fn actions(&self, project_id: &str, name: &str) -> Result<Actions, ClientError> {
        Ok(self
            .get::<Option<Actions>>(&paths::workshop_actions(project_id, &http::encode_component(name)))?
            .unwrap_or_default())
    }

    /// `GET /v1/projects/{id}/workshops/{name}/refresh-plan`: what a refresh would do.
    pub fn refresh_plan(
        &self,
        project_id: &str,
        name: &str,
        skip_save_state: bool,
    ) -> Result<RefreshPlan, ClientError> {
        let path = paths::workshop_refresh_plan(project_id, &http::encode_component(name));
        if skip_save_state {
            return self.get(&http::with_query(&path, &[("skip-save-state", "true")]));
        }
        self.get(&path)
    }

    /// `POST /v1/connections`: connect or disconnect; returns the change id.
    pub fn change_connections(
        &self,
        request: &workshop_api::connections::ConnectionsRequest,
    ) -> Result<String, ClientError> {
        Ok(self.async_call(paths::CONNECTIONS, &encode(request)?)?.0)
    }

    /// `POST /v1/projects/{id}/workshops/{name}/mounts`: remount; returns the change id.
    pub fn remount(
        &self,
        project_id: &str,
        name: &str,
        request: &workshop_api::connections::MountsRequest,
    ) -> Result<String, ClientError> {
        let target = paths::workshop_mounts(project_id, &http::encode_component(name));
        Ok(self.async_call(&target, &encode(request)?)?.0)
    }

    /// `POST /v1/projects/{id}/workshops`: launch, refresh, start, stop or remove; returns the change id.
    pub fn workshop_action(
        &self,
        project_id: &str,
        request: &WorkshopsRequest,
    ) -> Result<String, ClientError> {
        Ok(self.async_call(&paths::workshops(project_id), &encode(request)?)?.0)
    }

    /// `POST /v1/projects/{id}/workshops/{name}/exec`; returns the change id and the exec task id.
    pub fn exec(
        &self,
        project_id: &str,
        name: &str,
        request: &ExecRequest,
    ) -> Result<(String, String), ClientError> {
        let target = paths::workshop_exec(project_id, &http::encode_component(name));
        let (change, result) = self.async_call(&target, &encode(request)?)?;
        let result: ExecResult = serde_json::from_value(result)
            .map_err(|e| ClientError::Decode(format!("result of POST {target}: {e}")))?;
        Ok((change, result.task_id))
    }

    /// `GET /v1/find?q=..`: the Store's SDKs matching `query`.
    pub fn find_sdks(&self, query: &str) -> Result<Vec<SdkSummary>, ClientError> {
        Ok(self
            .get::<Option<Vec<SdkSummary>>>(&http::with_query(paths::FIND, &[("q", query)]))?
            .unwrap_or_default())
    }

    /// `GET /v1/sdks`: the SDK trees on this machine.
    pub fn sdks(&self) -> Result<Vec<SdkTree>, ClientError> {
        Ok(self.get::<Option<Vec<SdkTree>>>(paths::SDKS)?.unwrap_or_default())
    }

    /// `GET /v1/doctor`: the daemon's checks of LXD and of this host, for the caller.
    pub fn doctor(&self) -> Result<Vec<workshop_api::doctor::Check>, ClientError> {
        self.get(paths::DOCTOR)
    }

    /// `POST /v1/doctor` `{"action":"fix"}` (root only): applies the safe fixes, then checks.
    pub fn doctor_fix(&self) -> Result<Vec<workshop_api::doctor::Check>, ClientError> {
        let body = workshop_api::doctor::DoctorAction { action: workshop_api::doctor::DoctorVerb::Fix };
        self.post(paths::DOCTOR, &body)
    }

    /// `GET /v1/disk-usage`: what the caller's workshops, templates, caches and SDK trees use.
    pub fn disk_usage(&self) -> Result<workshop_api::space::DiskUsage, ClientError> {
        self.get(paths::DISK_USAGE)
    }

    /// `POST /v1/prune`: removes (or with `dry_run` lists) what nothing uses.
    pub fn prune(&self, dry_run: bool) -> Result<workshop_api::space::Pruned, ClientError> {
        self.post(paths::PRUNE, &workshop_api::space::PruneRequest { dry_run })
    }

    /// `GET /v1/sdks/{name}`: the Store's channels of an SDK and where it is installed.
    pub fn sdk_info(&self, name: &str) -> Result<SdkFullInfo, ClientError> {
        self.get(&paths::sdk(&http::encode_component(name)))
    }

    /// `POST /v1/workshopctl` (the untrusted socket's only route).
    pub fn workshopctl(&self, request: &WorkshopctlRequest) -> Result<WorkshopctlResult, ClientError> {
        self.post(paths::WORKSHOPCTL, request)
    }
}

fn encode(body: &impl Serialize) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(body).map_err(|e| ClientError::Decode(format!("cannot encode request: {e}")))
}

/// Reads the envelope of `response`; a body that is not an envelope becomes a decode error that
/// still names the HTTP status.
fn decode_envelope(response: &Response) -> Result<Envelope, ClientError> {
    serde_json::from_slice(&response.body).map_err(|e| {
        let body = String::from_utf8_lossy(&response.body);
        let body = body.trim();
        if response.status >= 400 && !body.is_empty() && body.len() < 200 {
            ClientError::Decode(format!("status {}: {body}", response.status))
        } else {
            ClientError::Decode(format!("status {}: {e}", response.status))
        }
    })
}

#[cfg(test)]
mod tests {
    use std::thread;

    use workshop_api::workshops::{Mode, WorkshopAction, WorkshopOptions};

    use super::*;
    use crate::fake_daemon::Seen;

    /// Serves one canned HTTP response per connection, in order, on a temporary socket.
    fn serve(responses: Vec<String>) -> (tempfile::TempDir, Client, thread::JoinHandle<Vec<Seen>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workshop.socket");
        let handle = crate::fake_daemon::serve(&path, responses);
        let client = Client::new(path);
        (dir, client, handle)
    }

    use crate::fake_daemon::reply;

    fn chunked(status: &str, json: &str) -> String {
        let (a, b) = json.split_at(json.len() / 2);
        format!(
            "HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
    }

    #[test]
    fn sync_requests_and_warning_meta() {
        let (_dir, client, server) = serve(vec![
            reply(
                "200 OK",
                r#"{"type":"sync","status-code":200,"status":"OK","result":{"path":"/home/u/p","id":"0a1b2c3d"},"warning-count":2,"warning-timestamp":"2024-05-01T10:00:00Z"}"#,
            ),
            chunked(
                "200 OK",
                r#"{"type":"sync","status-code":200,"status":"OK","result":{"workshops":[],"files":[{"project-id":"0a1b2c3d","name":"dev","path":"/home/u/p/.workshop/dev.yaml"}]}}"#,
            ),
        ]);
        let project = client.track_project(Path::new("/home/u/p")).unwrap();
        assert_eq!(project.id, "0a1b2c3d");
        assert_eq!(client.warnings_summary().count, 2);
        let list = client.workshops(&project.id, Some("all")).unwrap();
        assert_eq!(list.files[0].name, "dev");
        assert_eq!(client.warnings_summary(), WarningsSummary::default());

        let seen = server.join().unwrap();
        assert_eq!(seen[0].request_line, "POST /v1/projects HTTP/1.1");
        assert_eq!(seen[0].body, r#"{"path":"/home/u/p"}"#);
        assert_eq!(seen[1].request_line, "GET /v1/projects/0a1b2c3d/workshops?state=all HTTP/1.1");
    }

    #[test]
    fn error_envelopes_carry_kind_and_value() {
        let (_dir, client, server) = serve(vec![reply(
            "409 Conflict",
            r#"{"type":"error","status-code":409,"status":"Conflict","result":{"message":"cannot start \"dev\": waiting on error","kind":"change-conflict","value":{"change-id":"29","change-kind":"refresh","change-status":"Wait","project-id":"42424242","workshop":"dev"}}}"#,
        )]);
        let request = WorkshopsRequest {
            names: vec!["dev".parse().unwrap()],
            action: WorkshopAction::Start,
            options: WorkshopOptions { mode: Mode::Transactional, ..Default::default() },
        };
        let err = client.workshop_action("42424242", &request).unwrap_err();
        assert_eq!(err.to_string(), "cannot start \"dev\": waiting on error");
        assert_eq!(err.kind(), Some(ErrorKind::ChangeConflict));
        assert_eq!(err.api().unwrap().status_code, 409);
        let conflict = err.conflict().unwrap();
        assert_eq!((conflict.change_id.as_str(), conflict.change_kind.as_str()), ("29", "refresh"));
        assert_eq!(conflict.workshop, "dev");
        let seen = server.join().unwrap();
        assert!(seen[0].body.contains(r#""action":"start""#));
    }

    #[test]
    fn async_exec_returns_change_and_task() {
        let (_dir, client, server) = serve(vec![
            reply(
                "202 Accepted",
                r#"{"type":"async","status-code":202,"status":"Accepted","change":"7","result":{"task-id":"12"}}"#,
            ),
            reply(
                "200 OK",
                r#"{"type":"sync","status-code":200,"status":"OK","result":{"id":"7","kind":"exec","summary":"Execute command \"true\"","status":"Done","ready":true,"spawn-time":"2024-05-01T10:00:00Z","tasks":[{"id":"12","kind":"exec","summary":"x","status":"Done","spawn-time":"2024-05-01T10:00:00Z","data":{"exit-code":3}}]}}"#,
            ),
        ]);
        let request = ExecRequest { command: vec!["true".into()], ..Default::default() };
        let (change, task) = client.exec("42424242", "dev", &request).unwrap();
        assert_eq!((change.as_str(), task.as_str()), ("7", "12"));
        let chg = client.wait_change(&change, Some(Duration::from_secs(2))).unwrap();
        assert_eq!(chg.tasks[0].data["exit-code"], 3);
        let seen = server.join().unwrap();
        assert_eq!(seen[0].request_line, "POST /v1/projects/42424242/workshops/dev/exec HTTP/1.1");
        assert_eq!(seen[1].request_line, "GET /v1/changes/7/wait?timeout=2s HTTP/1.1");
    }

    #[test]
    fn sync_answer_to_async_request_is_an_error() {
        let (_dir, client, _server) =
            serve(vec![reply("200 OK", r#"{"type":"sync","status-code":200,"status":"OK","result":null}"#)]);
        let request = WorkshopsRequest {
            names: vec!["dev".parse().unwrap()],
            action: WorkshopAction::Stop,
            options: WorkshopOptions::default(),
        };
        assert!(matches!(client.workshop_action("p", &request), Err(ClientError::Decode(_))));
    }

    #[test]
    fn non_json_answers_name_the_status() {
        let (_dir, client, _server) =
            serve(vec!["HTTP/1.1 502 Bad Gateway\r\nContent-Length: 7\r\n\r\nno luck".into()]);
        let err = client.projects().unwrap_err();
        assert_eq!(err.to_string(), "cannot decode response of workshopd: status 502: no luck");
    }

    #[test]
    fn unreachable_daemon_gives_the_start_hint() {
        let dir = tempfile::tempdir().unwrap();
        let client = Client::new(dir.path().join("missing.socket"));
        let err = client.projects().unwrap_err();
        assert!(err.is_communication());
        let text = err.to_string();
        assert!(text.starts_with("cannot communicate with workshopd: cannot connect to "), "{text}");
        assert!(text.ends_with(START_HINT));
    }

    #[test]
    fn null_list_results_are_empty() {
        let (_dir, client, server) =
            serve(vec![reply("200 OK", r#"{"type":"sync","status-code":200,"status":"OK","result":null}"#)]);
        assert!(client.changes(ChangeSelect::All, Some("42424242")).unwrap().is_empty());
        let seen = server.join().unwrap();
        assert_eq!(seen[0].request_line, "GET /v1/changes?select=all&project-id=42424242 HTTP/1.1");
    }
}
