//! Answers on the listen address while the storage opens (WAL replay can
//! take minutes), as Prometheus does: `/-/healthy` is 200, everything else
//! 503, so readiness probes see "not ready" instead of hanging. The API
//! takes the listener over once it serves.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A request head longer than this is answered without reading more.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client gets to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The listener, answering until [`StartupResponder::finish`].
pub(crate) struct StartupResponder {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<TcpListener>>,
}

impl Drop for StartupResponder {
    /// A start that fails before serving closes the port.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl StartupResponder {
    pub fn start(listener: TcpListener, route_prefix: String) -> StartupResponder {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => return listener,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            tokio::spawn(answer(stream, route_prefix.clone()));
                        }
                    }
                }
            }
        });
        StartupResponder {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops answering and gives the listener back.
    pub async fn finish(mut self) -> std::io::Result<TcpListener> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other),
            None => Err(std::io::Error::other(
                "the startup responder already stopped",
            )),
        }
    }
}

/// Reads one request head and answers it; the connection closes after.
async fn answer(mut stream: TcpStream, route_prefix: String) {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    if read.is_err() || head.is_empty() {
        return;
    }
    let path = head
        .split(|b| *b == b' ')
        .nth(1)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let healthy = format!("{}/-/healthy", route_prefix.trim_end_matches('/'));
    let (status, body) = if path == healthy {
        ("200 OK", "Argus Server is Healthy.\n")
    } else {
        ("503 Service Unavailable", "Service Unavailable")
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn healthy_but_not_ready_until_finished() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let responder = StartupResponder::start(listener, "/".to_string());
        assert!(get(addr, "/-/healthy").await.starts_with("HTTP/1.1 200 OK"));
        assert!(get(addr, "/-/ready").await.starts_with("HTTP/1.1 503"));
        assert!(
            get(addr, "/api/v1/query?query=up")
                .await
                .starts_with("HTTP/1.1 503")
        );
        let listener = responder.finish().await.expect("listener back");
        assert_eq!(listener.local_addr().expect("addr"), addr);
    }
}
