//! One registry, spoken to over the OCI distribution API: retries with
//! backoff on 429, 5xx and dropped connections (honouring `Retry-After`),
//! authentication on demand, a cap on requests in flight, and errors that
//! name the registry and say what to do. Credentials never reach a message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use tokio::sync::{Mutex, Semaphore};

use super::auth::{Challenge, Credential, Scope, credential_for, parse_challenge};
use super::error::RegistryError;
use crate::exec::RetryPolicy;

/// How to reach one registry host.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Plain HTTP (loopback hosts default to it, as in Docker).
    pub insecure: bool,
    /// PEM CA for the registry's certificate.
    pub ca_file: Option<std::path::PathBuf>,
    pub max_concurrency: Option<usize>,
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
    http: reqwest::Client,
    credential: Credential,
    auth: Mutex<Auth>,
    tokens: Mutex<HashMap<Vec<String>, String>>,
    limit: Option<Arc<Semaphore>>,
    pub retry: RetryPolicy,
    /// Set once the host could not be reached through every retry: later
    /// requests of the run fail at once instead of each waiting it out again.
    unreachable: std::sync::Mutex<Option<String>>,
    /// Upload sizes this registry refused, learned during the run.
    pub upload_limits: super::upload::Limits,
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
            .connect_timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(16)
            .user_agent(concat!("buildplan/", env!("CARGO_PKG_VERSION")));
        if let Some(ca_file) = &settings.ca_file {
            let pem = std::fs::read(ca_file).map_err(|err| {
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
        Ok(Self {
            host: host.to_owned(),
            base: format!("{scheme}://{api_host}"),
            http,
            credential: credential_for(host),
            auth: Mutex::new(Auth::Anonymous),
            tokens: Mutex::new(HashMap::new()),
            limit: settings
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n.max(1)))),
            unreachable: std::sync::Mutex::new(None),
            upload_limits: super::upload::Limits::default(),
            retry: RetryPolicy {
                attempts: 6,
                first_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(20),
            },
        })
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
        if let Some(why) = self.unreachable.lock().ok().and_then(|u| u.clone()) {
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
                    if err.status.is_none()
                        && let Ok(mut unreachable) = self.unreachable.lock()
                    {
                        // No answer at all (not a 5xx): the host is down for this run.
                        *unreachable = Some(format!("{} (earlier in this run)", err.message));
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
        let mut authenticated = false;
        loop {
            let request = self.authorize(build(&self.http), scope).await?;
            let response = request
                .send()
                .await
                .map_err(|err| self.network_error(&err))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !authenticated {
                let challenge = response
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                if let Some(challenge) = challenge {
                    self.learn(challenge, scope).await?;
                    authenticated = true;
                    continue;
                }
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                let header = |name| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let retry_after = header(reqwest::header::RETRY_AFTER.as_str())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let remaining = header("ratelimit-remaining");
                if status == StatusCode::TOO_MANY_REQUESTS
                    && quota_exhausted(remaining.as_deref(), retry_after)
                {
                    // A spent pull quota (Docker Hub: a count per six hours)
                    // does not come back within any sensible retry: say so now.
                    return Err(RegistryError::fatal(format!(
                        "{} refused: pull limit reached (RateLimit-Limit: {}, RateLimit-Remaining: {}); log in with `docker login {}` for a higher limit, add a mirror for it under `mirrors:`, or wait for the window to pass",
                        self.host,
                        header("ratelimit-limit").unwrap_or_else(|| "?".into()),
                        remaining.unwrap_or_default(),
                        self.host
                    ))
                    .status(status));
                }
                let remaining = remaining
                    .map(|v| format!(" (RateLimit-Remaining: {v})"))
                    .unwrap_or_default();
                return Err(RegistryError {
                    message: format!("{} answered {status}{remaining}", self.host),
                    transient: true,
                    retry_after,
                    status: Some(status),
                });
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
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
                return Err(RegistryError::fatal(what).status(status));
            }
            return Ok(response);
        }
    }

    fn network_error(&self, err: &reqwest::Error) -> RegistryError {
        // The URL in reqwest's message has no credentials (they go in headers).
        let chain = error_chain(err);
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

    async fn authorize(
        &self,
        request: RequestBuilder,
        scope: &Scope,
    ) -> Result<RequestBuilder, RegistryError> {
        let auth = self.auth.lock().await;
        Ok(match &*auth {
            Auth::Anonymous => request,
            Auth::Basic => match &self.credential {
                Credential::Basic { username, password } => {
                    request.basic_auth(username, Some(password))
                }
                _ => request,
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
                request.bearer_auth(token)
            }
        })
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
                // A new challenge may mean a token expired: forget this scope's.
                self.tokens.lock().await.remove(&scope.scopes());
                *auth = Auth::Bearer { realm, service };
            }
        }
        Ok(())
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
        let body = response
            .bytes()
            .await
            .map_err(|err| self.network_error(&err))?;
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

    pub fn request(
        &self,
        method: Method,
        path: &str,
    ) -> impl Fn(&reqwest::Client) -> RequestBuilder + Sync + use<> {
        let url = self.url(path);
        move |http: &reqwest::Client| http.request(method.clone(), &url)
    }
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
