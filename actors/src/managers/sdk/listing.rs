//! `GET /v1/sdks[/{name}]`: the SDK trees installed in workshops and the local revisions kept,
//! as a viewer may see them (their own, every user's for root).

use std::collections::BTreeMap;

use actix::prelude::*;
use workshop_api::sdk::{SdkInfo, Strictness};
use workshop_api::sdks::{SdkInstalled, SdkTree};

use super::SdkManager;
use super::spec::{Installed, SdkSource, installed};
use crate::backend::ListInstances;
use crate::engine::Query;
use crate::managers::UserRef;
use crate::project::Registry;
use crate::sdk::{TreeId, TreeStore, revisions};
use crate::store::installed::{InstalledError, InstalledTree, ListInstalled};

impl Handler<ListInstalled> for SdkManager {
    type Result = ResponseFuture<Result<Vec<InstalledTree>, InstalledError>>;

    fn handle(&mut self, msg: ListInstalled, _ctx: &mut Context<Self>) -> Self::Result {
        let env = self.env.clone();
        Box::pin(async move {
            let fail = |e: String| InstalledError::Failed(e);
            let (registries, kept) = env
                .engine
                .send(Query(Box::new(|st| {
                    let regs: BTreeMap<String, Registry> = st.get("projects").unwrap_or_default();
                    (regs, st.read(&revisions::LOCAL_SDKS).unwrap_or_default())
                })))
                .await
                .map_err(|e| fail(e.to_string()))?;
            // Tree → (a record of it, where the viewer has it installed).
            let mut found: BTreeMap<TreeId, (Installed, Vec<SdkInstalled>)> = BTreeMap::new();
            for (name, registry) in &registries {
                let Some(user) = UserRef::lookup(name) else { continue };
                if msg.viewer != 0 && user.uid != msg.viewer {
                    continue;
                }
                let instances = env
                    .backend
                    .send(ListInstances { user: name.clone(), project_id: None })
                    .await
                    .map_err(crate::backend::BackendError::from)??;
                for instance in instances {
                    let project_path =
                        registry.get(&instance.target.project_id).map(|p| p.path.clone()).unwrap_or_default();
                    let base = instance.workshop_config("base").unwrap_or_default().to_string();
                    for sdk in installed(&instance.config) {
                        if msg.name.as_ref().is_some_and(|n| *n != sdk.name) {
                            continue;
                        }
                        let place = SdkInstalled {
                            project_path: project_path.clone(),
                            workshop: instance.target.name.clone(),
                            channel: sdk.channel.clone().unwrap_or_default(),
                            base: base.clone(),
                            architecture: workshop_api::sdk::host_architecture().to_string(),
                            tree: SdkTree::default(),
                        };
                        found.entry(sdk.tree.clone()).or_insert_with(|| (sdk, Vec::new())).1.push(place);
                    }
                }
            }
            // Local revisions kept for the viewer, installed or not.
            for (key, local) in kept {
                let mut parts = key.splitn(4, '/');
                let (Some(uid), _, _, Some(sdk)) = (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                if msg.viewer != 0 && uid != msg.viewer.to_string() {
                    continue;
                }
                if msg.name.as_ref().is_some_and(|n| n != sdk) {
                    continue;
                }
                for revision in local.kept {
                    let record = Installed {
                        name: sdk.to_string(),
                        source: SdkSource::Project,
                        order: 0,
                        revision: revisions::label(revision.revision),
                        tree: revision.digest.clone(),
                        channel: None,
                        version: String::new(),
                        built_at: None,
                        installed_at: chrono::Utc::now(),
                    };
                    found.entry(revision.digest).or_insert_with(|| (record, Vec::new()));
                }
            }
            // Reading the trees is filesystem work: off the actor thread.
            let trees = env.trees.clone();
            let described = tokio::task::spawn_blocking(move || {
                found
                    .into_values()
                    .map(|(sdk, places)| {
                        let mut tree = describe(&trees, &sdk);
                        tree.installed = places
                            .into_iter()
                            .map(|mut p| {
                                p.tree = tree.tree.clone();
                                p
                            })
                            .collect();
                        tree
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| fail(e.to_string()))?;
            Ok(described)
        })
    }
}

/// A tree as the routes show it: name, version and dates from its `meta/sdk.yaml`, its size.
fn describe(trees: &TreeStore, sdk: &Installed) -> InstalledTree {
    let info =
        trees.read_meta(&sdk.tree).ok().and_then(|text| SdkInfo::parse(&text, Strictness::Lenient).ok());
    let version = info
        .as_ref()
        .map(|i| i.version.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| sdk.version.clone());
    InstalledTree {
        tree: SdkTree {
            name: sdk.name.clone(),
            version,
            revision: sdk.revision.clone(),
            built_at: info.as_ref().and_then(|i| i.built_at).or(sdk.built_at),
            size: crate::space::dir_size(&trees.path(&sdk.tree)),
        },
        title: info.as_ref().map(|i| i.title.clone()).unwrap_or_default(),
        summary: info.as_ref().map(|i| i.summary.clone()).unwrap_or_default(),
        description: info.map(|i| i.description).unwrap_or_default(),
        installed: Vec::new(),
    }
}
