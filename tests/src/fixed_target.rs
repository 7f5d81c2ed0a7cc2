//! A scrape target serving a fixed body on a loopback port from a plain std
//! thread, so scrape tests know exactly what the scraper saw. `stop` closes
//! the listener: later connections are refused, as for a dead target.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Makes the body of each response (a target whose values change).
pub type BodyFn = Arc<dyn Fn() -> String + Send + Sync>;

struct Shared {
    content_type: String,
    body: String,
    /// When set, each response's body comes from it instead of `body`.
    body_fn: Option<BodyFn>,
    /// Request lines seen (`GET /metrics?x=y HTTP/1.1`), for asserting params.
    request_lines: Vec<String>,
}

pub struct FixedTarget {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    scrapes: Arc<AtomicUsize>,
    accept_thread: Option<JoinHandle<()>>,
}

impl FixedTarget {
    /// Serves `body` with `content_type` on every path of a free port.
    pub fn start(content_type: &str, body: &str) -> FixedTarget {
        FixedTarget::start_with(content_type, body, None)
    }

    /// Serves what `body` returns at each request.
    pub fn start_dynamic(content_type: &str, body: BodyFn) -> FixedTarget {
        FixedTarget::start_with(content_type, "", Some(body))
    }

    fn start_with(content_type: &str, body: &str, body_fn: Option<BodyFn>) -> FixedTarget {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fixed target");
        let port = listener.local_addr().expect("local addr").port();
        // Non-blocking accept so the thread notices `stop` within a poll.
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let shared = Arc::new(Mutex::new(Shared {
            content_type: content_type.to_string(),
            body: body.to_string(),
            body_fn,
            request_lines: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicUsize::new(0));
        let accept_thread = {
            let (shared, stop, scrapes) = (shared.clone(), stop.clone(), scrapes.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (shared, scrapes) = (shared.clone(), scrapes.clone());
                            std::thread::spawn(move || {
                                if serve(stream, &shared).is_ok() {
                                    scrapes.fetch_add(1, Ordering::SeqCst);
                                }
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                // The listener drops here: the port refuses connections.
            })
        };
        FixedTarget {
            port,
            shared,
            stop,
            scrapes,
            accept_thread: Some(accept_thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, as it appears in `instance` labels.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Responses served so far.
    pub fn scrapes(&self) -> usize {
        self.scrapes.load(Ordering::SeqCst)
    }

    pub fn request_lines(&self) -> Vec<String> {
        self.lock().request_lines.clone()
    }

    pub fn set_body(&self, content_type: &str, body: &str) {
        let mut s = self.lock();
        s.content_type = content_type.to_string();
        s.body = body.to_string();
    }

    /// Closes the listener and waits for the accept thread: from the return
    /// on, connections to the port are refused.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            t.join().expect("fixed target accept thread");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FixedTarget {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one request head and answers with the current body; one request
/// per connection so a stopped target cannot be reached through keep-alive.
fn serve(mut stream: TcpStream, shared: &Mutex<Shared>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let request_line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let (content_type, body) = {
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        s.request_lines.push(request_line);
        let body = match &s.body_fn {
            Some(f) => f(),
            None => s.body.clone(),
        };
        (s.content_type.clone(), body)
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}
