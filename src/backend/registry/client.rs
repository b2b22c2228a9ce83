//! One registry, spoken to over the OCI distribution API: retries with
//! backoff on 429, 5xx and dropped connections (honouring `Retry-After`),
//! authentication on demand, a cap on requests in flight, and errors that
//! name the registry and say what to do. Credentials never reach a message.
//!
//! Credentials are bound to the registry's origin (scheme, host and port):
//! a request to any other origin — an upload `Location` or a redirect to a
//! storage host — goes without them, and a token realm gets them only for
//! the token request, and only over HTTPS unless the registry itself is
//! plain HTTP. Every request has a connect and an idle-read timeout, and
//! every body read from a registry is bounded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use tokio::sync::{Mutex, Semaphore};

use super::auth::{Challenge, Credential, Scope, credential_for, parse_challenge};
use super::error::{ContentMismatch, RegistryError};
use crate::exec::RetryPolicy;
use crate::untrusted;

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a response may stay silent (no header, no byte of body) before
/// the request is given up on: a registry that accepts a connection and
/// never answers cannot hang a run.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest CA file read (a PEM bundle is a few hundred KB at most).
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Largest token response read (a JSON object with one token).
const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// How much of an error body is kept for a message.
const MAX_ERROR_BYTES: usize = 4 * 1024;
/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// How to reach one registry host.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Plain HTTP (loopback hosts default to it, as in Docker).
    pub insecure: bool,
    /// PEM CA for the registry's certificate.
    pub ca_file: Option<std::path::PathBuf>,
    pub max_concurrency: Option<usize>,
    pub requests_per_second: Option<u32>,
}

/// `requests_per_second`: each request takes the next free slot, and
/// waits for it. Slots are spaced evenly, so a burst is spread out rather
/// than sent and then paused.
struct Pacer {
    interval: Duration,
    next: Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(tokio::time::Instant::now()),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

enum Auth {
    /// The registry has not asked.
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

pub struct RegistryClient {
    /// The host as references name it (`127.0.0.1:5000`, `docker.io`).
    pub host: String,
    base: String,
    /// The only origin the registry's credentials are sent to.
    origin: Url,
    http: reqwest::Client,
    credential: Credential,
    auth: Mutex<Auth>,
    tokens: Mutex<HashMap<Vec<String>, String>>,
    limit: Option<Arc<Semaphore>>,
    pacer: Option<Pacer>,
    pub retry: RetryPolicy,
    /// Set once the host could not be reached through every retry: later
    /// requests of the run fail at once instead of each waiting it out again.
    unreachable: std::sync::Mutex<Option<String>>,
    /// Upload sizes this registry refused, learned during the run.
    pub upload_limits: super::upload::Limits,
    /// Set once the registry answered that it has no referrers API.
    no_referrers_api: std::sync::atomic::AtomicBool,
}

impl RegistryClient {
    pub fn new(host: &str, settings: &Settings) -> Result<Self, String> {
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let scheme = if settings.insecure && settings.ca_file.is_none() {
            "http"
        } else {
            "https"
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .redirect(redirect_policy())
            .pool_max_idle_per_host(16)
            .user_agent(concat!("buildplan/", env!("CARGO_PKG_VERSION")));
        if let Some(ca_file) = &settings.ca_file {
            let pem = crate::local_file::read(ca_file, MAX_CA_FILE_BYTES).map_err(|err| {
                format!(
                    "cannot read the CA file {} for {host}: {err}",
                    ca_file.display()
                )
            })?;
            let certificate = reqwest::Certificate::from_pem(&pem)
                .map_err(|err| format!("{} is not a PEM certificate: {err}", ca_file.display()))?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder
            .build()
            .map_err(|err| format!("cannot set up HTTP for {host}: {err}"))?;
        let base = format!("{scheme}://{api_host}");
        let origin = Url::parse(&base).map_err(|err| format!("`{host}` is not a host: {err}"))?;
        Ok(Self {
            host: host.to_owned(),
            base,
            origin,
            http,
            credential: credential_for(host),
            auth: Mutex::new(Auth::Anonymous),
            tokens: Mutex::new(HashMap::new()),
            limit: settings
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n.max(1)))),
            pacer: settings.requests_per_second.map(Pacer::new),
            unreachable: std::sync::Mutex::new(None),
            upload_limits: super::upload::Limits::default(),
            no_referrers_api: std::sync::atomic::AtomicBool::new(false),
            retry: RetryPolicy::REGISTRY,
        })
    }

    /// Whether this registry said it has no referrers API (see `referrers`).
    pub fn lacks_referrers_api(&self) -> bool {
        self.no_referrers_api
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn note_no_referrers_api(&self) {
        self.no_referrers_api
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends a request built by `build` (called again for each attempt),
    /// retrying transient failures and authenticating when asked.
    pub async fn send(
        &self,
        scope: &Scope,
        build: &(dyn Fn(&reqwest::Client) -> RequestBuilder + Sync),
    ) -> Result<Response, RegistryError> {
        if let Some(why) = crate::lock::lock(&self.unreachable).clone() {
            return Err(RegistryError::fatal(why));
        }
        let mut attempt = 1;
        loop {
            match self.send_once(scope, build).await {
                Err(err) if err.transient && attempt < self.retry.attempts => {
                    tokio::time::sleep(self.retry.delay(attempt, err.retry_after)).await;
                    attempt += 1;
                }
                Err(err) if err.transient => {
                    let err = err.exhausted(attempt);
                    if err.status.is_none() {
                        // No answer at all (not a 5xx): the host is down for this run.
                        *crate::lock::lock(&self.unreachable) =
                            Some(format!("{} (earlier in this run)", err.message));
                    }
                    return Err(err);
                }
                other => return other,
            }
        }
    }

    /// One attempt (plus one re-send after authenticating).
    pub async fn send_once(
        &self,
        scope: &Scope,
        build: &(dyn Fn(&reqwest::Client) -> RequestBuilder + Sync),
    ) -> Result<Response, RegistryError> {
        let _permit = match &self.limit {
            Some(limit) => Some(
                limit
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| RegistryError::fatal("closed"))?,
            ),
            None => None,
        };
        if let Some(pacer) = &self.pacer {
            pacer.wait().await;
        }
        let mut authenticated = false;
        loop {
            let mut request = build(&self.http)
                .build()
                .map_err(|err| RegistryError::fatal(format!("{}: {err}", self.host)))?;
            let own = self.is_own(request.url());
            if own {
                self.authorize(&mut request, scope).await?;
            }
            let response = self
                .http
                .execute(request)
                .await
                .map_err(|err| self.network_error(&err))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !own {
                // Another origin (an upload `Location`, say) asks for
                // credentials: they are the registry's, and stay with it.
                return Err(RegistryError::fatal(format!(
                    "{} sent this request on to {}, which asks for credentials; plan sends {}'s credentials only to {}",
                    self.host,
                    untrusted::escape(&response.url().origin().ascii_serialization()),
                    self.host,
                    self.origin.origin().ascii_serialization()
                ))
                .status(status));
            }
            if status == StatusCode::UNAUTHORIZED && !authenticated {
                let challenge = response
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    // A challenge that is not text is none: the 401 is
                    // reported below as the refusal it is.
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                if let Some(challenge) = challenge {
                    self.learn(challenge, scope).await?;
                    authenticated = true;
                    continue;
                }
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                return Err(self.throttled(&response));
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(self.refused(status));
            }
            return Ok(response);
        }
    }

    /// A 429 or 5xx: worth another attempt (after `Retry-After`), unless
    /// it says a pull quota is spent, which no retry fixes.
    fn throttled(&self, response: &Response) -> RegistryError {
        let status = response.status();
        // Header values are the registry's words: escaped before they reach
        // a message. One that is not ASCII text says nothing we can use, and
        // is treated as absent (a `Retry-After` date likewise: the policy's
        // own backoff applies).
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| untrusted::excerpt(v, 100))
        };
        let retry_after = header(reqwest::header::RETRY_AFTER.as_str())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let remaining = header("ratelimit-remaining");
        if let Some(spent) = remaining.as_deref().filter(|r| {
            status == StatusCode::TOO_MANY_REQUESTS && quota_exhausted(Some(r), retry_after)
        }) {
            // A spent pull quota (Docker Hub: a count per six hours)
            // does not come back within any sensible retry: say so now.
            return RegistryError::fatal(format!(
                "{} refused: pull limit reached (RateLimit-Limit: {}, RateLimit-Remaining: {spent}); log in with `docker login {}` for a higher limit, add a mirror for it under `mirrors:`, or wait for the window to pass",
                self.host,
                header("ratelimit-limit").unwrap_or_else(|| "?".into()),
                self.host
            ))
            .status(status);
        }
        // Said when the registry says it; nothing to add otherwise.
        let remaining = remaining
            .map(|v| format!(" (RateLimit-Remaining: {v})"))
            .unwrap_or_default();
        RegistryError {
            message: format!("{} answered {status}{remaining}", self.host),
            transient: true,
            retry_after,
            status: Some(status),
        }
    }

    /// A 401 or 403 after authenticating: what the user can do about it.
    fn refused(&self, status: StatusCode) -> RegistryError {
        let what = match self.credential {
            Credential::None => format!(
                "{} requires authentication: run `docker login {}`",
                self.host, self.host
            ),
            _ => format!(
                "{} refused the credentials from the Docker config ({status}): check `docker login {}`",
                self.host, self.host
            ),
        };
        RegistryError::fatal(what).status(status)
    }

    /// Whether `url` is on the registry's own origin (scheme, host, port).
    fn is_own(&self, url: &Url) -> bool {
        url.origin() == self.origin.origin()
    }

    fn network_error(&self, err: &reqwest::Error) -> RegistryError {
        // Content that failed its digest check while streaming out: not a
        // network fault, and no retry would change it.
        if let Some(mismatch) = ContentMismatch::find(err) {
            return RegistryError::fatal(mismatch.to_string());
        }
        // The URL in reqwest's message has no credentials (they go in headers).
        let chain = untrusted::escape(&error_chain(err)).into_owned();
        if err.is_timeout() {
            let (what, limit) = if err.is_connect() {
                ("could not be connected to", CONNECT_TIMEOUT)
            } else {
                ("did not answer", READ_TIMEOUT)
            };
            return RegistryError::transient(format!(
                "{} {what} within {}s: {chain}",
                self.host,
                limit.as_secs()
            ));
        }
        // A name that does not resolve will not resolve in a second either.
        let unresolvable =
            chain.contains("dns error") || chain.contains("failed to lookup address");
        let transient = !unresolvable
            && (err.is_connect() || err.is_timeout() || err.is_request() || err.is_body());
        RegistryError {
            message: format!("cannot reach {}: {chain}", self.host),
            transient,
            retry_after: None,
            status: None,
        }
    }

    /// Adds the registry's credentials (or a token for `scope`) to a
    /// request on its own origin.
    async fn authorize(
        &self,
        request: &mut reqwest::Request,
        scope: &Scope,
    ) -> Result<(), RegistryError> {
        let header = {
            let auth = self.auth.lock().await;
            match &*auth {
                Auth::Anonymous => None,
                Auth::Basic => match &self.credential {
                    Credential::Basic { username, password } => {
                        use base64::Engine as _;
                        let pair = base64::engine::general_purpose::STANDARD
                            .encode(format!("{username}:{password}"));
                        Some(format!("Basic {pair}"))
                    }
                    _ => None,
                },
                Auth::Bearer { realm, service } => {
                    let key = scope.scopes();
                    let cached = self.tokens.lock().await.get(&key).cloned();
                    let token = match cached {
                        Some(token) => token,
                        None => {
                            let token = self.fetch_token(realm, service.as_deref(), &key).await?;
                            self.tokens.lock().await.insert(key, token.clone());
                            token
                        }
                    };
                    Some(format!("Bearer {token}"))
                }
            }
        };
        if let Some(header) = header {
            let mut value = HeaderValue::from_str(&header).map_err(|_| {
                RegistryError::fatal(format!(
                    "the credentials for {} cannot be sent in a header",
                    self.host
                ))
            })?;
            value.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        Ok(())
    }

    async fn learn(&self, challenge: Challenge, scope: &Scope) -> Result<(), RegistryError> {
        let mut auth = self.auth.lock().await;
        match challenge {
            Challenge::Basic => {
                if matches!(self.credential, Credential::None) {
                    return Err(RegistryError::fatal(format!(
                        "{} requires authentication: run `docker login {}`",
                        self.host, self.host
                    ))
                    .status(StatusCode::UNAUTHORIZED));
                }
                *auth = Auth::Basic;
            }
            Challenge::Bearer { realm, service } => {
                self.check_realm(&realm)?;
                // A new challenge may mean a token expired: forget this scope's.
                self.tokens.lock().await.remove(&scope.scopes());
                *auth = Auth::Bearer { realm, service };
            }
        }
        Ok(())
    }

    /// A token realm gets the registry's credentials, so it must be HTTPS
    /// unless the registry itself is plain HTTP (loopback or `insecure`).
    fn check_realm(&self, realm: &str) -> Result<(), RegistryError> {
        let shown = untrusted::excerpt(realm, 200);
        let url = Url::parse(realm).map_err(|_| {
            RegistryError::fatal(format!(
                "{} named a token service that is not a URL: `{shown}`",
                self.host
            ))
        })?;
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.origin.scheme() == "http" => Ok(()),
            "http" => Err(RegistryError::fatal(format!(
                "{} asked for its credentials to go to `{shown}` over plain HTTP; plan sends them only over HTTPS to an HTTPS registry",
                self.host
            ))),
            other => Err(RegistryError::fatal(format!(
                "{} named a token service with the scheme `{}`; only https is used",
                self.host,
                untrusted::escape(other)
            ))),
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        for scope in scopes {
            query.push(("scope", scope));
        }
        let request = match &self.credential {
            Credential::IdentityToken(refresh) => {
                let mut form = query.clone();
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", refresh));
                form.push(("client_id", "buildplan"));
                self.http.post(realm).form(&form)
            }
            Credential::Basic { username, password } => self
                .http
                .get(realm)
                .query(&query)
                .basic_auth(username, Some(password)),
            Credential::None => self.http.get(realm).query(&query),
        };
        let response = request
            .send()
            .await
            .map_err(|err| self.network_error(&err))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RegistryError::fatal(
                format!(
                    "{} refused the credentials from the Docker config ({status}): check `docker login {}`",
                    self.host, self.host
                )).status(status));
        }
        if !status.is_success() {
            return Err(RegistryError {
                message: format!("{}'s token service answered {status}", self.host),
                transient: status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS,
                retry_after: None,
                status: Some(status),
            });
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = self
            .bounded_body(response, MAX_TOKEN_BYTES, "a token response")
            .await?;
        let token: Token = serde_json::from_slice(&body).map_err(|err| {
            RegistryError::fatal(format!(
                "{}'s token service sent no token: {err}",
                self.host
            ))
        })?;
        token.token.or(token.access_token).ok_or_else(|| {
            RegistryError::fatal(format!("{}'s token service sent no token", self.host))
        })
    }

    /// A response body, read whole but never past `max` bytes: a registry
    /// cannot make `plan` hold more than it expects (`what` names it).
    pub async fn bounded_body(
        &self,
        response: Response,
        max: usize,
        what: &str,
    ) -> Result<Bytes, RegistryError> {
        let too_large = || {
            RegistryError::fatal(format!(
                "{} sent {what} over {} KiB: refused",
                self.host,
                max / 1024
            ))
        };
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| self.network_error(&err))?;
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
    ) -> impl Fn(&reqwest::Client) -> RequestBuilder + Sync + use<> {
        let url = self.url(path);
        move |http: &reqwest::Client| http.request(method.clone(), &url)
    }
}

/// Redirects are followed (a registry may send blobs to a storage host)
/// but never from HTTPS down to HTTP; reqwest drops `Authorization` on the
/// way to another host or port.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let downgrade = attempt.url().scheme() == "http"
            && attempt.previous().iter().any(|u| u.scheme() == "https");
        if downgrade {
            attempt.error("a redirect from HTTPS to plain HTTP")
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// The first [`MAX_ERROR_BYTES`] of an error response's body, escaped.
pub async fn error_excerpt(response: Response) -> String {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BYTES {
            // Enough for a message; the rest of the body is not read.
            break;
        }
    }
    untrusted::excerpt(&String::from_utf8_lossy(&body), 300)
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether a 429 means a spent quota rather than a burst: the registry
/// says nothing is left (`RateLimit-Remaining: 0`, as Docker Hub sends it,
/// `0;w=21600`) and gives no `Retry-After` within five minutes.
fn quota_exhausted(remaining: Option<&str>, retry_after: Option<Duration>) -> bool {
    let spent = remaining
        .and_then(|v| v.split(';').next())
        .is_some_and(|n| n.trim() == "0");
    spent && retry_after.is_none_or(|wait| wait > Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_realm_must_be_https_unless_the_registry_is_plain_http() {
        let https = RegistryClient::new("registry.example.com", &Settings::default()).unwrap();
        assert!(https.check_realm("https://auth.example.com/token").is_ok());
        let err = https
            .check_realm("http://auth.example.com/token")
            .unwrap_err();
        assert!(err.message.contains("over plain HTTP"), "{}", err.message);
        assert!(https.check_realm("ftp://auth.example.com/").is_err());
        assert!(https.check_realm("not a url").is_err());
        let plain = RegistryClient::new(
            "127.0.0.1:5000",
            &Settings {
                insecure: true,
                ..Settings::default()
            },
        )
        .unwrap();
        assert!(plain.check_realm("http://127.0.0.1:5001/token").is_ok());
    }

    #[test]
    fn credentials_are_bound_to_the_registry_origin() {
        let client = RegistryClient::new("registry.example.com", &Settings::default()).unwrap();
        let own = |u: &str| client.is_own(&Url::parse(u).unwrap());
        assert!(own("https://registry.example.com/v2/x/blobs/uploads/1"));
        assert!(own("https://registry.example.com:443/v2/"));
        assert!(!own("http://registry.example.com/v2/"), "another scheme");
        assert!(
            !own("https://registry.example.com:8443/v2/"),
            "another port"
        );
        assert!(!own("https://storage.example.com/v2/"), "another host");
    }

    #[test]
    fn a_spent_quota_is_not_retried_but_a_burst_is() {
        assert!(quota_exhausted(Some("0;w=21600"), None));
        assert!(quota_exhausted(Some("0"), Some(Duration::from_secs(3600))));
        assert!(!quota_exhausted(
            Some("0;w=21600"),
            Some(Duration::from_secs(1))
        ));
        assert!(!quota_exhausted(Some("12;w=21600"), None));
        assert!(!quota_exhausted(None, None));
    }
}
