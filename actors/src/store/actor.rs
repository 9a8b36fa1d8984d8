//! [`StoreActor`]: the Store client behind messages, for the API front and the managers.

use actix::prelude::*;
use workshop_api::sdks::{SdkFullInfo, SdkSummary};

use super::archive::VerifiedArchive;
use super::client::StoreClient;
use super::error::StoreError;
use super::resolve::{ResolvedSdk, StoreSdk};

/// Owns the [`StoreClient`]; each message runs as its own future, so a download does not hold
/// up a search.
pub struct StoreActor {
    client: StoreClient,
}

impl StoreActor {
    pub fn new(client: StoreClient) -> Self {
        Self { client }
    }
}

impl Actor for StoreActor {
    type Context = Context<Self>;
}

/// [`StoreClient::find`].
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<SdkSummary>, StoreError>")]
pub struct Find {
    pub query: String,
}

/// [`StoreClient::info`].
#[derive(Debug, Message)]
#[rtype(result = "Result<SdkFullInfo, StoreError>")]
pub struct Info {
    pub name: String,
}

/// [`StoreClient::resolve`].
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<ResolvedSdk>, StoreError>")]
pub struct Resolve {
    pub sdks: Vec<StoreSdk>,
    /// `ubuntu@24.04`.
    pub base: String,
    /// A Debian architecture (`workshop_api::sdk::host_architecture()`).
    pub arch: String,
}

/// [`StoreClient::download`].
#[derive(Debug, Message)]
#[rtype(result = "Result<VerifiedArchive, StoreError>")]
pub struct Download {
    pub sdk: ResolvedSdk,
}

impl Handler<Find> for StoreActor {
    type Result = ResponseFuture<Result<Vec<SdkSummary>, StoreError>>;

    fn handle(&mut self, msg: Find, _: &mut Context<Self>) -> Self::Result {
        let client = self.client.clone();
        Box::pin(async move { client.find(&msg.query).await })
    }
}

impl Handler<Info> for StoreActor {
    type Result = ResponseFuture<Result<SdkFullInfo, StoreError>>;

    fn handle(&mut self, msg: Info, _: &mut Context<Self>) -> Self::Result {
        let client = self.client.clone();
        Box::pin(async move { client.info(&msg.name).await })
    }
}

impl Handler<Resolve> for StoreActor {
    type Result = ResponseFuture<Result<Vec<ResolvedSdk>, StoreError>>;

    fn handle(&mut self, msg: Resolve, _: &mut Context<Self>) -> Self::Result {
        let client = self.client.clone();
        Box::pin(async move { client.resolve(&msg.sdks, &msg.base, &msg.arch).await })
    }
}

impl Handler<Download> for StoreActor {
    type Result = ResponseFuture<Result<VerifiedArchive, StoreError>>;

    fn handle(&mut self, msg: Download, _: &mut Context<Self>) -> Self::Result {
        let client = self.client.clone();
        Box::pin(async move { client.download(&msg.sdk).await })
    }
}
