//! A hostile registry for tests: a small HTTP/1.1 server on 127.0.0.1 whose
//! every answer is scripted by the test, and which records every request it
//! gets (method, path, headers). No real registry misbehaves on demand —
//! sends uploads to another host, serves content under the wrong digest,
//! answers with a 3 GiB manifest or never answers at all — so this one
//! does, for the security tests only; everything else runs real registries.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    /// The body, when it is at most 1 MiB (else empty; `body_len` says).
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub enum Reply {
    /// A status, headers and a body (`Content-Length` is added).
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A body of `len` zero bytes announced by `Content-Length` and sent as
    /// long as the client reads.
    Huge { status: u16, len: u64 },
    /// Accept the request and never answer.
    Stall,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        Self::Respond {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct Hostile {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Hostile {
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// Starts the server on its own threads; it lives as long as the test.
pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let handler = Arc::clone(&handler);
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || serve(stream, &*handler, &seen));
        }
    });
    Hostile { port, requests }
}

fn serve(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    // Keep-alive: requests follow each other on one connection.
    while let Some(request) = read_request(&mut reader) {
        seen.lock().unwrap().push(request.clone());
        let head_only = request.method == "HEAD";
        match handler(&request) {
            Reply::Respond {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                if !head_only && writer.write_all(&body).is_err() {
                    return;
                }
            }
            Reply::Huge { status, len } => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {len}\r\n\r\n"
                );
                if writer.write_all(head.as_bytes()).is_err() || head_only {
                    return;
                }
                let zeros = vec![0u8; 64 * 1024];
                let mut left = len;
                while left > 0 {
                    let n = left.min(zeros.len() as u64) as usize;
                    if writer.write_all(&zeros[..n]).is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            }
            Reply::Stall => {
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
        }
    }
}

/// Bodies kept for the test to read (larger ones are counted only).
const KEPT_BODY: usize = 1024 * 1024;

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (k, v) = header.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let mut request = Request {
        method,
        path,
        headers,
        body_len: 0,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0u8; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            request.body_len += n;
            if request.body.len() + n <= KEPT_BODY {
                request.body.extend_from_slice(&chunk[..n]);
            }
            if n == 0 {
                break;
            }
        }
    } else if let Some(len) = request
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        let copied = if len <= KEPT_BODY as u64 {
            std::io::copy(&mut reader.by_ref().take(len), &mut request.body).ok()?
        } else {
            std::io::copy(&mut reader.by_ref().take(len), &mut std::io::sink()).ok()?
        };
        request.body_len = copied as usize;
        if copied < len {
            return None;
        }
    }
    Some(request)
}
