//! A real S3 protocol server (s3s-fs over a directory) on a loopback port,
//! for tests: the object-storage path is exercised over HTTP with SigV4
//! authentication, not against a mock.

use std::net::SocketAddr;
use std::path::Path;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;

/// Serves `root` as S3 on 127.0.0.1 (a free port) with one bucket and one
/// key pair, for as long as the returned task runs. Abort it to stop.
pub async fn start(
    root: &Path,
    bucket: &str,
    access_key: &str,
    secret_key: &str,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    std::fs::create_dir_all(root.join(bucket)).expect("bucket dir");
    let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs");
    let mut b = s3s::service::S3ServiceBuilder::new(fs);
    b.set_auth(s3s::auth::SimpleAuth::from_single(access_key, secret_key));
    let service = b.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let conn = ConnBuilder::new(TokioExecutor::new());
                let _ = conn.serve_connection(TokioIo::new(socket), service).await;
            });
        }
    });
    (addr, task)
}
