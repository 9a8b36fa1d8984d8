//! Projects (`GET/POST /v1/projects`).

use serde::{Deserialize, Serialize};

/// `POST /v1/projects` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRequest {
    pub path: String,
}

/// A tracked project directory and its 8-hex-digit id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub path: String,
    pub id: String,
}
