//! Request-target leniency on HTTP/1 connections.
//!
//! Go's `net/http` (and so Prometheus) accepts any byte but control bytes
//! in the request target, so users and tools send
//! `/api/v1/query?query=up{job="node"}` unencoded. The `http` crate under
//! hyper refuses `"`, `<`, `>`, `` ` ``, bytes that are not UTF-8, and cuts
//! at `#`, answering an empty 400. [`NormalisedStream`] sits between the
//! socket and hyper: it follows request boundaries (heads, `Content-Length`
//! and chunked bodies), percent-encodes those bytes in each request line —
//! which decodes to the same parameter values — and turns a request hyper
//! would refuse with an empty body into one for [`MALFORMED_PATH`], which
//! answers Prometheus's JSON error envelope.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Where a malformed request is sent; the reason is in [`MALFORMED_HEADER`].
pub const MALFORMED_PATH: &str = "/-/malformed-request";
/// Carries why the request was refused (`<status> <message>`).
pub const MALFORMED_HEADER: &str = "x-argus-malformed";

/// Go's `http.DefaultMaxHeaderBytes`: a longer head is answered 431.
const MAX_HEAD_BYTES: usize = 1 << 20;
/// Headers a head may have; hyper's own limit is 100.
const MAX_HEADERS: usize = 100;
/// A chunk-size line longer than this is left for hyper to refuse.
const MAX_CHUNK_LINE: usize = 4096;
const READ_CHUNK: usize = 16 * 1024;

/// Whether a target byte must be percent-encoded for the `http` crate,
/// though Go's server accepts it as is.
fn needs_encoding(b: u8) -> bool {
    matches!(b, b'"' | b'#' | b'<' | b'>' | b'`') || b >= 0x80
}

/// Where the next byte from the client belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Framing {
    /// A request head (request line and headers) is being collected.
    Head,
    /// This many body bytes remain.
    Body(u64),
    /// A chunk-size line of a chunked body is being collected.
    ChunkSize,
    /// Data of the current chunk, then its CRLF.
    ChunkData(u64),
    /// The CRLF (or LF) after a chunk's data.
    ChunkEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
    /// Bytes go to hyper untouched from here on (HTTP/2, upgrades, framing
    /// this layer does not understand: hyper decides).
    Passthrough,
    /// A malformed request was replaced; what follows is dropped.
    Discard,
}

/// The pure core of [`NormalisedStream`]: bytes from the client in, the
/// bytes hyper should see out.
#[derive(Debug)]
pub struct RequestFramer {
    framing: Framing,
    /// The head, or chunk-size/trailer line, collected so far.
    pending: Vec<u8>,
}

impl Default for RequestFramer {
    fn default() -> Self {
        RequestFramer {
            framing: Framing::Head,
            pending: Vec::new(),
        }
    }
}

impl RequestFramer {
    pub fn new() -> RequestFramer {
        RequestFramer::default()
    }

    /// Body bytes that may be copied to hyper without looking at them.
    fn passthrough_budget(&self) -> Option<u64> {
        match self.framing {
            Framing::Passthrough => Some(u64::MAX),
            Framing::Body(n) | Framing::ChunkData(n) if n > 0 && self.pending.is_empty() => Some(n),
            _ => None,
        }
    }

    /// Records that `n` bytes within [`Self::passthrough_budget`] went to
    /// hyper directly.
    fn passed_through(&mut self, n: u64) {
        match &mut self.framing {
            Framing::Body(left) => {
                *left -= n;
                if *left == 0 {
                    self.framing = Framing::Head;
                }
            }
            Framing::ChunkData(left) => {
                *left -= n;
                if *left == 0 {
                    self.framing = Framing::ChunkEnd;
                }
            }
            _ => {}
        }
    }

    /// Feeds bytes read from the client; appends to `out` what hyper reads.
    pub fn process(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match self.framing.clone() {
                Framing::Passthrough => {
                    out.extend_from_slice(input);
                    return;
                }
                Framing::Discard => return,
                Framing::Body(n) | Framing::ChunkData(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    self.passed_through(take as u64);
                }
                Framing::Head => {
                    // Empty lines before a request line are skipped, as
                    // Go and hyper do.
                    if self.pending.is_empty() {
                        let skip = input
                            .iter()
                            .take_while(|b| **b == b'\r' || **b == b'\n')
                            .count();
                        out.extend_from_slice(&input[..skip]);
                        input = &input[skip..];
                        if input.is_empty() {
                            return;
                        }
                    }
                    let used = self.collect_head(input, out);
                    input = &input[used..];
                }
                Framing::ChunkSize | Framing::ChunkEnd | Framing::Trailers => {
                    let Some(nl) = input.iter().position(|b| *b == b'\n') else {
                        self.pending.extend_from_slice(input);
                        out.extend_from_slice(input);
                        if self.pending.len() > MAX_CHUNK_LINE {
                            self.framing = Framing::Passthrough;
                        }
                        return;
                    };
                    self.pending.extend_from_slice(&input[..nl]);
                    out.extend_from_slice(&input[..=nl]);
                    input = &input[nl + 1..];
                    let line = std::mem::take(&mut self.pending);
                    self.framing = next_after_line(&self.framing, trim_cr(&line));
                }
            }
        }
    }

    /// Collects head bytes; once the head is complete, writes it (rewritten
    /// if need be) to `out`. Returns how much of `input` it used.
    fn collect_head(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let before = self.pending.len();
        self.pending.extend_from_slice(input);
        let Some(end) = head_end(&self.pending, before) else {
            if self.pending.len() > MAX_HEAD_BYTES {
                self.pending.clear();
                self.malformed(out, "431 request header fields too large");
            }
            return input.len();
        };
        let used = end.saturating_sub(before).min(input.len());
        let head = std::mem::take(&mut self.pending);
        self.finish_head(&head[..end], out);
        used
    }

    /// A complete head (ending in its empty line): checks it, rewrites the
    /// target and picks the body framing.
    fn finish_head(&mut self, head: &[u8], out: &mut Vec<u8>) {
        let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
        let line = trim_cr(&head[..line_end]);
        if line.starts_with(b"PRI ") {
            // The HTTP/2 preface: not ours to judge.
            out.extend_from_slice(head);
            self.framing = Framing::Passthrough;
            return;
        }
        let mut parts = line.split(|b| *b == b' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.malformed(out, "400 malformed HTTP request line");
        };
        if target.iter().any(|b| *b < 0x20 || *b == 0x7f) {
            return self.malformed(out, "400 invalid control character in URL");
        }
        if method.is_empty() || target.is_empty() {
            return self.malformed(out, "400 malformed HTTP request line");
        }
        if version != b"HTTP/1.1" && version != b"HTTP/1.0" {
            return self.malformed(out, "400 malformed HTTP version");
        }
        // What hyper will read: the target encoded where it needs to be.
        let rewritten;
        let head = if target.iter().any(|b| needs_encoding(*b)) {
            let mut h = Vec::with_capacity(head.len() + 32);
            h.extend_from_slice(method);
            h.push(b' ');
            percent_encode_target(target, &mut h);
            h.push(b' ');
            h.extend_from_slice(version);
            h.extend_from_slice(&head[line.len()..]);
            rewritten = h;
            &rewritten[..]
        } else {
            head
        };
        // httparse checks the rest as hyper will.
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return self.malformed(out, "400 malformed request head");
            }
            Err(httparse::Error::TooManyHeaders) => {
                return self.malformed(out, "431 too many header fields");
            }
            Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => {
                return self.malformed(out, "400 malformed MIME header line");
            }
            Err(e) => return self.malformed(out, &format!("400 malformed request: {e}")),
        }
        let mut chunked = false;
        let mut length: Option<u64> = None;
        let mut upgrade = method == b"CONNECT";
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h
                    .value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
                if !chunked {
                    // Not a framing this layer follows; hyper refuses it.
                    upgrade = true;
                }
            } else if h.name.eq_ignore_ascii_case("content-length") {
                match std::str::from_utf8(h.value.trim_ascii())
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                    _ => return self.malformed(out, "400 bad Content-Length"),
                }
            } else if h.name.eq_ignore_ascii_case("upgrade") {
                upgrade = true;
            }
        }
        out.extend_from_slice(head);
        self.framing = if upgrade {
            Framing::Passthrough
        } else if chunked {
            Framing::ChunkSize
        } else {
            match length {
                Some(n) if n > 0 => Framing::Body(n),
                _ => Framing::Head,
            }
        };
    }

    /// Replaces the request with one for [`MALFORMED_PATH`] naming why, and
    /// drops the rest of the connection's input.
    fn malformed(&mut self, out: &mut Vec<u8>, reason: &str) {
        tracing::debug!(reason, "refusing a malformed http request");
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(MALFORMED_PATH.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nhost: malformed\r\nconnection: close\r\n");
        out.extend_from_slice(MALFORMED_HEADER.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(reason.as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        self.framing = Framing::Discard;
    }
}

/// The framing after a complete chunk-size, chunk-end or trailer line.
fn next_after_line(framing: &Framing, line: &[u8]) -> Framing {
    match framing {
        Framing::ChunkSize => {
            let size = line.split(|b| *b == b';').next().map(<[u8]>::trim_ascii);
            match size
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            {
                Some(0) => Framing::Trailers,
                Some(n) => Framing::ChunkData(n),
                None => Framing::Passthrough,
            }
        }
        Framing::ChunkEnd if line.is_empty() => Framing::ChunkSize,
        Framing::Trailers if line.is_empty() => Framing::Head,
        Framing::Trailers => Framing::Trailers,
        _ => Framing::Passthrough,
    }
}

/// The end of a head (just past its empty line) in `buf`, searching from a
/// little before `from` so a terminator split across reads is found.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let mut i = start;
    while let Some(p) = buf[i..].iter().position(|b| *b == b'\n') {
        let nl = i + p;
        if buf[nl + 1..].starts_with(b"\n") {
            return Some(nl + 2);
        }
        if buf[nl + 1..].starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn percent_encode_target(target: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in target {
        if needs_encoding(b) {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

/// A client connection whose requests pass through a [`RequestFramer`].
pub struct NormalisedStream<S> {
    inner: S,
    framer: RequestFramer,
    /// Bytes for hyper not yet read, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    read_buf: Vec<u8>,
    eof: bool,
}

impl<S> NormalisedStream<S> {
    pub fn new(inner: S) -> Self {
        NormalisedStream {
            inner,
            framer: RequestFramer::new(),
            out: Vec::new(),
            out_pos: 0,
            read_buf: Vec::new(),
            eof: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for NormalisedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let n = (this.out.len() - this.out_pos).min(buf.remaining());
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            // Body bytes go straight into hyper's buffer when all it has room
            // for is body.
            if let Some(budget) = this.framer.passthrough_budget()
                && budget >= buf.remaining() as u64
            {
                let before = buf.filled().len();
                ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
                let n = buf.filled().len() - before;
                if n == 0 {
                    this.eof = true;
                }
                this.framer.passed_through(n as u64);
                return Poll::Ready(Ok(()));
            }
            if this.read_buf.len() < READ_CHUNK {
                this.read_buf.resize(READ_CHUNK, 0);
            }
            let mut tmp = ReadBuf::new(&mut this.read_buf);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut tmp))?;
            let filled = tmp.filled().len();
            if filled == 0 {
                // A partial head goes to hyper as it was, for it to judge.
                this.eof = true;
                let rest = std::mem::take(&mut this.framer.pending);
                if this.framer.framing == Framing::Head {
                    this.out.extend_from_slice(&rest);
                }
                continue;
            }
            let (read, out) = (&this.read_buf[..filled], &mut this.out);
            this.framer.process(read, out);
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for NormalisedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A TCP listener whose connections are [`NormalisedStream`]s, for
/// `axum::serve`.
pub struct LenientListener(pub TcpListener);

impl axum::serve::Listener for LenientListener {
    type Io = NormalisedStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (NormalisedStream::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<u8> {
        let mut f = RequestFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            f.process(c, &mut out);
        }
        out
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn raw_quotes_and_high_bytes_are_percent_encoded() {
        let out = run(&[b"GET /api/v1/query?query=up{job=\"node\"} HTTP/1.1\r\nHost: x\r\n\r\n"]);
        assert_eq!(
            text(&out),
            "GET /api/v1/query?query=up{job=%22node%22} HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let out = run(&[b"GET /q?a=<\xc3\xa9>#x`y HTTP/1.1\r\n\r\n"]);
        assert_eq!(text(&out), "GET /q?a=%3C%C3%A9%3E%23x%60y HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn clean_requests_pass_unchanged_even_split_byte_by_byte() {
        let req = b"POST /api/v1/query HTTP/1.1\r\nContent-Length: 9\r\n\r\nquery=upGET /x HTTP/1.1\r\n\r\n";
        let pieces: Vec<&[u8]> = req.chunks(1).collect();
        let out = run(&pieces);
        // The body's last byte is followed by the next request, which is
        // framed as a head.
        assert_eq!(out, req.to_vec());
    }

    #[test]
    fn bodies_are_never_rewritten() {
        let body = b"GET /\"x\" HTTP/1.1\r\n\r\n";
        let mut req =
            format!("POST /w HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        req.extend_from_slice(body);
        let next = b"GET /q?a=\" HTTP/1.1\r\n\r\n";
        req.extend_from_slice(next);
        let out = run(&[&req]);
        let mut want = req[..req.len() - next.len()].to_vec();
        want.extend_from_slice(b"GET /q?a=%22 HTTP/1.1\r\n\r\n");
        assert_eq!(text(&out), text(&want));
    }

    #[test]
    fn chunked_bodies_are_followed_to_the_next_request() {
        let req: &[u8] = b"POST /w HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nGET /\r\n3\r\n\"\"\"\r\n0\r\nTrailer: v\r\n\r\nGET /?q=\" HTTP/1.1\r\n\r\n";
        let out = run(&[req]);
        let split = req.len() - b"GET /?q=\" HTTP/1.1\r\n\r\n".len();
        assert_eq!(&out[..split], &req[..split]);
        assert_eq!(text(&out[split..]), "GET /?q=%22 HTTP/1.1\r\n\r\n");
        // The same, read in 3-byte pieces.
        let pieces: Vec<&[u8]> = req.chunks(3).collect();
        assert_eq!(run(&pieces), out);
    }

    #[test]
    fn malformed_requests_become_the_malformed_route_and_the_rest_is_dropped() {
        for (req, reason) in [
            (
                &b"GET /a\x01b HTTP/1.1\r\n\r\n"[..],
                "400 invalid control character in URL",
            ),
            (
                b"GET /a b HTTP/1.1\r\n\r\n",
                "400 malformed HTTP request line",
            ),
            (b"GET /a HTTP/9\r\n\r\n", "400 malformed HTTP version"),
            (
                b"GET /a HTTP/1.1\r\nbad header\r\n\r\n",
                "400 malformed MIME header line",
            ),
            (
                b"POST /a HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                "400 bad Content-Length",
            ),
        ] {
            let mut with_more = req.to_vec();
            with_more.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
            let out = text(&run(&[&with_more]));
            assert!(
                out.starts_with("GET /-/malformed-request HTTP/1.1\r\n"),
                "{out}"
            );
            assert!(
                out.contains(&format!("x-argus-malformed: {reason}\r\n")),
                "{out}"
            );
            assert!(!out.contains("/next"), "{out}");
        }
    }

    #[test]
    fn an_endless_head_is_refused_at_the_limit() {
        let mut f = RequestFramer::new();
        let mut out = Vec::new();
        f.process(b"GET /", &mut out);
        let filler = vec![b'a'; 64 * 1024];
        for _ in 0..20 {
            f.process(&filler, &mut out);
        }
        assert!(text(&out).contains("431 request header fields too large"));
        assert!(f.pending.is_empty());
    }

    #[test]
    fn upgrades_and_http2_pass_through() {
        let req: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\"\x00\x01";
        assert_eq!(run(&[req]), req.to_vec());
        let req: &[u8] =
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\x00\"GET";
        assert_eq!(run(&[req]), req.to_vec());
    }

    /// Any input, however it is split into reads, gives the same output
    /// and never panics.
    #[test]
    fn output_does_not_depend_on_how_reads_split_the_input() {
        let pieces: [&[u8]; 16] = [
            b"GET /q?a=\"x\" HTTP/1.1\r\n",
            b"POST /w HTTP/1.1\r\n",
            b"Content-Length: 5\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Host: x\r\n",
            b"\r\n",
            b"\n",
            b"5\r\nab\"cd\r\n",
            b"0\r\n\r\n",
            b"\x01\x7f\xff<>#`",
            b"GET / HTTP/1.0\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\n",
            b"Upgrade: x\r\n",
            b"hello",
            b" ",
            b"ff;x\r\n",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..3000 {
            let mut input = Vec::new();
            for _ in 0..1 + next(12) {
                input.extend_from_slice(pieces[next(pieces.len())]);
            }
            let whole = run(&[&input]);
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < input.len() {
                let n = (1 + next(7)).min(input.len() - at);
                chunks.push(&input[at..at + n]);
                at += n;
            }
            assert_eq!(run(&chunks), whole, "{:?}", String::from_utf8_lossy(&input));
        }
    }

    #[tokio::test]
    async fn the_stream_serves_what_the_framer_makes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(64);
        let mut s = NormalisedStream::new(server);
        let body = vec![b'"'; 10_000];
        let mut req = format!(
            "POST /w?x=\" HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        let next = b"GET /q?a=\" HTTP/1.1\r\n\r\n";
        req.extend_from_slice(next);
        let sent = req.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.ok();
            client.shutdown().await.ok();
        });
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.expect("read");
        writer.await.expect("writer");
        let mut want = b"POST /w?x=%22 HTTP/1.1".to_vec();
        want.extend_from_slice(&req[b"POST /w?x=\" HTTP/1.1".len()..req.len() - next.len()]);
        want.extend_from_slice(b"GET /q?a=%22 HTTP/1.1\r\n\r\n");
        assert_eq!(got.len(), want.len());
        assert!(got == want);
    }
}
