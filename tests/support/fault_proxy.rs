//! A small HTTP proxy for tests, in front of a registry: it answers a share
//! of requests itself with 503, 429 (with `Retry-After`) or a reset
//! connection, or every request as a spent pull quota; it can refuse large
//! bodies with 413 and slow every byte down. Each request gets its own
//! upstream connection (`Connection: close`), so faults land on requests,
//! not on whole keep-alive connections.
//!
//! With `referrers`, it adds the OCI referrers API to a registry that lacks
//! it (distribution 2.8), as registries that have it do: a manifest pushed
//! with a `subject` is recorded and answered with `OCI-Subject`, and
//! `GET /v2/REPO/referrers/DIGEST` lists what was recorded.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
pub struct Counters {
    pub requests: AtomicUsize,
    pub faults: AtomicUsize,
    pub puts: AtomicUsize,
}

pub struct Proxy {
    pub port: u16,
    pub counters: Arc<Counters>,
}

#[derive(Clone, Copy, Default)]
pub struct Behaviour {
    /// Every n-th request gets a fault (0: none).
    pub fault_every: usize,
    /// Pause per 64 KiB forwarded.
    pub throttle: Option<Duration>,
    /// Every request is refused as Docker Hub refuses a spent pull quota:
    /// 429, `RateLimit-Remaining: 0;w=21600`, no `Retry-After`.
    pub quota_spent: bool,
    /// Every connection is reset: a host that is down.
    pub reset_all: bool,
    /// Refuse a request body over this many bytes with 413, as a proxy with
    /// a body limit in front of a registry does (nginx: 1 MiB by default).
    pub max_body: Option<usize>,
    /// Answer the OCI referrers API (see the module's comment).
    pub referrers: bool,
}

/// Referrers recorded by the proxy: (repository, subject digest) -> descriptors.
type Referrers =
    std::sync::Mutex<std::collections::HashMap<(String, String), Vec<serde_json::Value>>>;

/// Starts the proxy on its own thread and runtime; it lives as long as the test.
pub fn start(upstream: u16, behaviour: Behaviour) -> Proxy {
    let counters = Arc::new(Counters::default());
    let referrers: Arc<Referrers> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = Arc::clone(&counters);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let counters = Arc::clone(&shared);
                let referrers = Arc::clone(&referrers);
                tokio::spawn(async move {
                    let _ = handle(client, upstream, behaviour, counters, referrers).await;
                });
            }
        });
    });
    Proxy {
        port: rx.recv().unwrap(),
        counters,
    }
}

async fn handle(
    mut client: TcpStream,
    upstream: u16,
    behaviour: Behaviour,
    counters: Arc<Counters>,
    referrers: Arc<Referrers>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
        // A TLS handshake (skopeo tries HTTPS first): closed at once, so
        // the client falls back to HTTP instead of waiting out a timeout.
        if head == [0x16] {
            return Ok(());
        }
    }
    let n = counters.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if head.starts_with(b"PUT ") {
        counters.puts.fetch_add(1, Ordering::SeqCst);
    }
    if let Some(limit) = behaviour.max_body {
        let length = content_length(&String::from_utf8_lossy(&head));
        if length > limit {
            counters.faults.fetch_add(1, Ordering::SeqCst);
            // Read the body first, so the client sees the answer, not a reset.
            let mut body = vec![0u8; length];
            client.read_exact(&mut body).await?;
            client
                .write_all(b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await?;
            return Ok(());
        }
    }
    if behaviour.referrers
        && let Some(answered) = referrers_api(&mut client, &head, upstream, &referrers).await?
    {
        return Ok(answered);
    }
    if behaviour.reset_all {
        counters.faults.fetch_add(1, Ordering::SeqCst);
        #[allow(deprecated)]
        client.set_linger(Some(Duration::ZERO))?;
        return Ok(());
    }
    if behaviour.quota_spent {
        counters.faults.fetch_add(1, Ordering::SeqCst);
        client
            .write_all(b"HTTP/1.1 429 Too Many Requests\r\nRateLimit-Limit: 100;w=21600\r\nRateLimit-Remaining: 0;w=21600\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await?;
        return Ok(());
    }
    if behaviour.fault_every > 0 && n.is_multiple_of(behaviour.fault_every) {
        counters.faults.fetch_add(1, Ordering::SeqCst);
        match (n / behaviour.fault_every) % 3 {
            0 => {
                client
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await?;
            }
            1 => {
                client
                    .write_all(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nRateLimit-Remaining: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await?;
            }
            _ => {
                // A reset, as a dropped connection looks (zero linger sends RST;
                // with a zero timeout, closing does not block).
                #[allow(deprecated)]
                client.set_linger(Some(Duration::ZERO))?;
            }
        }
        return Ok(());
    }
    // One request per upstream connection.
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.insert(1, "Connection: close");
    let head = lines.join("\r\n");
    let mut server = TcpStream::connect(("127.0.0.1", upstream)).await?;
    server.write_all(head.as_bytes()).await?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upload = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = client_read.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            if let Some(pause) = behaviour.throttle {
                tokio::time::sleep(pause).await;
            }
            server_write.write_all(&buffer[..n]).await?;
        }
        server_write.shutdown().await
    };
    let download = async {
        tokio::io::copy(&mut server_read, &mut client_write).await?;
        client_write.shutdown().await
    };
    // The client keeps its side open while it waits for the answer: the
    // exchange is over when the server has answered and closed.
    tokio::pin!(upload);
    tokio::select! {
        _ = download => {}
        _ = &mut upload => {}
    }
    Ok(())
}

/// The referrers API over a registry without it: answers a referrers
/// query, and records a manifest pushed with a `subject` (answering with
/// `OCI-Subject`). `None`: not such a request, forward it as it is.
async fn referrers_api(
    client: &mut TcpStream,
    head: &[u8],
    upstream: u16,
    referrers: &Referrers,
) -> std::io::Result<Option<()>> {
    let text = String::from_utf8_lossy(head).into_owned();
    let request_line = text.lines().next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or(path);
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Ok(None);
    };
    if method == "GET"
        && let Some((repository, digest)) = rest.rsplit_once("/referrers/")
    {
        let found = referrers
            .lock()
            .unwrap()
            .get(&(repository.to_owned(), digest.to_owned()))
            .cloned()
            .unwrap_or_default();
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": found,
        })
        .to_string();
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(answer.as_bytes()).await?;
        return Ok(Some(()));
    }
    let Some((repository, _)) = rest.rsplit_once("/manifests/") else {
        return Ok(None);
    };
    if method != "PUT" {
        return Ok(None);
    }
    let length = content_length(&text);
    let mut body = vec![0u8; length];
    client.read_exact(&mut body).await?;
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let subject = manifest["subject"]["digest"].as_str().map(str::to_owned);
    if let Some(subject) = &subject {
        use sha2::Digest as _;
        let descriptor = serde_json::json!({
            "mediaType": manifest["mediaType"],
            "digest": format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body))),
            "size": body.len(),
            "artifactType": manifest["artifactType"],
        });
        let mut recorded = referrers.lock().unwrap();
        let list = recorded
            .entry((repository.to_owned(), subject.clone()))
            .or_default();
        if !list.contains(&descriptor) {
            list.push(descriptor);
        }
    }
    // Forwarded whole; the answer read whole (a manifest push answers
    // with headers only) and given `OCI-Subject`.
    let head_text: String = text
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let head_text = head_text.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    let mut server = TcpStream::connect(("127.0.0.1", upstream)).await?;
    server.write_all(head_text.as_bytes()).await?;
    server.write_all(&body).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    if let Some(subject) = subject
        && let Some(end) = answer.windows(2).position(|w| w == b"\r\n")
    {
        let header = format!("\r\nOCI-Subject: {subject}");
        answer.splice(end..end, header.bytes());
    }
    client.write_all(&answer).await?;
    Ok(Some(()))
}

/// The `Content-Length` a request head declares (0 when none).
fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
}

impl Proxy {
    /// Waits until an upload (a `PUT`) reached the proxy (at most 30 s).
    pub fn wait_for_an_upload(&self) {
        let puts = || self.counters.puts.load(Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while puts() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(puts() > 0, "no upload started");
    }
}

/// Runs `plan apply` in `dir` (a long grace: a copy must stop because it is
/// told to, not because the grace ran out), sends it `signals` SIGINTs once
/// an upload reached `proxy`, and returns its exit code and output.
pub fn interrupted_apply(
    dir: &std::path::Path,
    proxy: &Proxy,
    signals: usize,
) -> (Option<i32>, String) {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("plan"))
        .current_dir(dir)
        .args(["apply", "--progress", "plain", "--grace", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    proxy.wait_for_an_upload();
    let pid = i32::try_from(child.id()).unwrap();
    for _ in 0..signals {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(pid, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
