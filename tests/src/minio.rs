//! A real MinIO on a loopback port with a temporary data directory, built
//! by `scripts/peers` as users run it for local testing. Buckets are made
//! through the S3 API with `mc`, never by writing into MinIO's directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::differential::free_port;
use crate::e2e::Daemon;
use crate::peers::peer_bin;

pub const ACCESS_KEY: &str = "argus-test";
pub const SECRET_KEY: &str = "argus-test-secret";

/// A MinIO server, SIGKILLed when dropped.
pub struct Minio {
    pub daemon: Daemon,
    mc_config: PathBuf,
    dir: PathBuf,
    console: u16,
}

impl Minio {
    /// Starts MinIO in `dir/minio` and waits until `/minio/health/ready`
    /// answers 200.
    pub fn start(dir: &Path) -> Minio {
        let port = free_port();
        let console = free_port();
        let daemon = Minio::spawn(dir, port, console);
        let minio = Minio {
            daemon,
            mc_config: dir.join("mc"),
            dir: dir.to_path_buf(),
            console,
        };
        minio.mc(&[
            "alias",
            "set",
            "local",
            &format!("http://{}", minio.endpoint()),
            ACCESS_KEY,
            SECRET_KEY,
        ]);
        minio
    }

    /// SIGKILLs the server: the bucket is unreachable until [`Minio::restart`].
    pub fn kill(&mut self) {
        self.daemon.kill();
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) {
        self.daemon.kill();
        self.daemon = Minio::spawn(&self.dir, self.daemon.port, self.console);
    }

    fn spawn(dir: &Path, port: u16, console: u16) -> Daemon {
        let data = dir.join("minio");
        std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
        let mut cmd = Command::new(peer_bin("minio", "minio"));
        cmd.arg("server")
            .arg(&data)
            .arg("--address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--console-address")
            .arg(format!("127.0.0.1:{console}"))
            .arg("--quiet")
            .env("MINIO_ROOT_USER", ACCESS_KEY)
            .env("MINIO_ROOT_PASSWORD", SECRET_KEY)
            .env("MINIO_BROWSER", "off")
            .env("MINIO_UPDATE", "off")
            .env("HOME", dir);
        let log = dir.join(format!("minio-{}.log", crate::e2e::now_ms()));
        let mut daemon = Daemon::spawn("minio", cmd, port, &log);
        daemon.wait_ready("/minio/health/ready", Duration::from_secs(60));
        daemon
    }

    /// `127.0.0.1:<port>` of the S3 API.
    pub fn endpoint(&self) -> String {
        self.daemon.addr()
    }

    /// Creates a bucket through the S3 API.
    pub fn create_bucket(&self, name: &str) {
        self.mc(&["mb", &format!("local/{name}")]);
    }

    /// An `objstore.yml` (Thanos's shape) for `bucket` on this server.
    pub fn objstore_yaml(&self, bucket: &str) -> String {
        format!(
            "type: S3\nconfig:\n  bucket: {bucket}\n  endpoint: {}\n  access_key: {ACCESS_KEY}\n  secret_key: {SECRET_KEY}\n  insecure: true\n",
            self.endpoint()
        )
    }

    /// Runs `mc` against this server, bounded in time; panics on failure.
    pub fn mc(&self, args: &[&str]) -> String {
        let mut child = Command::new(peer_bin("mc", "mc"))
            .arg("--config-dir")
            .arg(&self.mc_config)
            .arg("--no-color")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start mc {args:?}: {e}"));
        // Drained while it runs: output past the pipe's buffer (a listing
        // or copy of a few hundred objects) would block mc otherwise.
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("mc {args:?} did not finish within 60s");
                }
            }
        }
        let status = child.wait().unwrap_or_else(|e| panic!("mc {args:?}: {e}"));
        let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
        let stderr = stderr.join().unwrap_or_default();
        assert!(
            status.success(),
            "mc {args:?} failed ({status}): {stdout}{}",
            String::from_utf8_lossy(&stderr)
        );
        stdout
    }
}
