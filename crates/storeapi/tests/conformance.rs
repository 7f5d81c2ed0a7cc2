//! The read-interface conformance suite through the StoreAPI: an in-memory
//! store served over gRPC on loopback and read back with the client.

use std::sync::Arc;

use argus_model::labels::Labels;
use argus_model::memstore::MemStorage;
use argus_storage_conformance::{Dataset, Fixture, SPAN, T0, storage_conformance};
use argus_storeapi::client::{ClientOptions, RemoteStore};
use argus_storeapi::server::{Component, ServeOptions, StoreDescription, StoreService};

fn build(ds: &Dataset) -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let mut store = MemStorage::new();
    for (labels, samples) in &ds.series {
        for s in samples {
            store.append(labels.clone(), s.t, s.v);
        }
    }
    let describe = StoreDescription {
        component: Component::Store,
        label_sets: vec![Labels::empty()],
        min_time: T0,
        max_time: T0 + SPAN,
    };
    let service = StoreService::new(Arc::new(store), Arc::new(describe), ServeOptions::default());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local addr: {e}"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(service.serve(listener, async {
        let _ = stop_rx.await;
    }));
    let client = RemoteStore::new(
        &addr.to_string(),
        runtime.handle().clone(),
        ClientOptions::default(),
    )
    .unwrap_or_else(|e| panic!("client: {e}"));
    Fixture::new(client).keeping(stop_tx).keeping(runtime)
}

storage_conformance!(build);
