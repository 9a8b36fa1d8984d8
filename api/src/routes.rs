//! Every route of the v1 API: method, path pattern and who may call it. The daemon builds its
//! router from [`Endpoint::ALL`] (one handler per endpoint, by an exhaustive match) and the
//! socket tests walk the same list on every listener, so a new route cannot be left out of
//! either.

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Local users on the trusted socket only; the untrusted sockets get 403.
    Trusted,
    /// Every socket: the host's callers and, on the socket shared with workshops, the one
    /// workshop the connection comes from (`/v1/workshopctl`).
    AnySocket,
}

/// Declares [`Endpoint`] and its table from one list, so that the two cannot disagree.
macro_rules! endpoints {
    ($($(#[$doc:meta])* $name:ident: $method:literal $path:literal $access:ident;)*) => {
        /// One route: a method on a path pattern (actix syntax, `{param}` segments).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Endpoint {
            $($(#[$doc])* $name,)*
        }

        impl Endpoint {
            /// Every endpoint, in the order the router registers them.
            pub const ALL: &[Endpoint] = &[$(Endpoint::$name,)*];

            pub fn method(self) -> &'static str {
                match self {
                    $(Endpoint::$name => $method,)*
                }
            }

            pub fn path(self) -> &'static str {
                match self {
                    $(Endpoint::$name => $path,)*
                }
            }

            pub fn access(self) -> Access {
                match self {
                    $(Endpoint::$name => Access::$access,)*
                }
            }
        }
    };
}

endpoints! {
    ListChanges: "GET" "/v1/changes" Trusted;
    GetChange: "GET" "/v1/changes/{id}" Trusted;
    /// Abort a change.
    PostChange: "POST" "/v1/changes/{id}" Trusted;
    WaitChange: "GET" "/v1/changes/{id}/wait" Trusted;
    ListWarnings: "GET" "/v1/warnings" Trusted;
    /// Acknowledge warnings.
    PostWarnings: "POST" "/v1/warnings" Trusted;
    SystemInfo: "GET" "/v1/system-info" Trusted;
    ListProjects: "GET" "/v1/projects" Trusted;
    /// Track a project.
    PostProjects: "POST" "/v1/projects" Trusted;
    ListWorkshops: "GET" "/v1/projects/{id}/workshops" Trusted;
    /// Launch, start, stop, remove... workshops.
    PostWorkshops: "POST" "/v1/projects/{id}/workshops" Trusted;
    GetWorkshop: "GET" "/v1/projects/{id}/workshops/{name}" Trusted;
    WorkshopActions: "GET" "/v1/projects/{id}/workshops/{name}/actions" Trusted;
    /// What a refresh of the workshop would do, without doing it.
    RefreshPlan: "GET" "/v1/projects/{id}/workshops/{name}/refresh-plan" Trusted;
    Exec: "POST" "/v1/projects/{id}/workshops/{name}/exec" Trusted;
    /// The streams of an exec task.
    TaskWebsocket: "GET" "/v1/tasks/{task}/websocket/{ws}" Trusted;
    Workshopctl: "POST" "/v1/workshopctl" AnySocket;
    /// The SDK trees on this machine.
    ListSdks: "GET" "/v1/sdks" Trusted;
    /// One SDK: its Store channels and the workshops it is installed in.
    GetSdk: "GET" "/v1/sdks/{name}" Trusted;
    /// Search the SDK Store.
    FindSdks: "GET" "/v1/find" Trusted;
    Doctor: "GET" "/v1/doctor" Trusted;
    DoctorFix: "POST" "/v1/doctor" Trusted;
    DiskUsage: "GET" "/v1/disk-usage" Trusted;
    Prune: "POST" "/v1/prune" Trusted;
    ListConnections: "GET" "/v1/connections" Trusted;
    PostConnections: "POST" "/v1/connections" Trusted;
    Mounts: "POST" "/v1/projects/{id}/workshops/{name}/mounts" Trusted;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths;

    #[test]
    fn endpoints_are_distinct_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for e in Endpoint::ALL {
            assert!(seen.insert((e.method(), e.path())), "{e:?} listed twice");
            assert!(matches!(e.method(), "GET" | "POST"), "{e:?}");
            assert!(e.path().starts_with("/v1/"), "{e:?}");
        }
    }

    #[test]
    fn only_workshopctl_is_served_on_every_socket() {
        let open: Vec<_> = Endpoint::ALL.iter().filter(|e| e.access() == Access::AnySocket).collect();
        assert_eq!(open, [&Endpoint::Workshopctl]);
        assert_eq!(Endpoint::Workshopctl.path(), paths::WORKSHOPCTL);
    }
}
