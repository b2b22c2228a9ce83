//! `buildx build --progress=rawjson`: a stream of JSON status documents
//! (pretty-printed, one after another on stderr), turned into the current
//! step for the progress bar and readable lines for the log.

use std::collections::HashMap;

use base64::Engine as _;
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
struct Status {
    #[serde(default)]
    vertexes: Vec<Vertex>,
    #[serde(default)]
    logs: Vec<Log>,
}

#[derive(Debug, Deserialize)]
struct Vertex {
    digest: String,
    #[serde(default)]
    name: String,
    started: Option<String>,
    completed: Option<String>,
    #[serde(default)]
    error: String,
    #[serde(default)]
    cached: bool,
}

#[derive(Debug, Deserialize)]
struct Log {
    #[serde(default)]
    data: String,
}

/// What one status document says, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A step started: the bar shows it.
    Step(String),
    /// A line for the job's log.
    Line(String),
}

#[derive(Default)]
pub struct RawJson {
    buffer: String,
    /// Vertices already reported as started / done, so each is said once.
    started: HashMap<String, ()>,
    finished: HashMap<String, ()>,
}

impl RawJson {
    /// Feeds one line of stderr. Lines that are not part of a JSON document
    /// (buildx's own messages) come back as log lines.
    pub fn feed(&mut self, line: &str) -> Vec<Update> {
        if self.buffer.is_empty() && !line.starts_with('{') {
            return vec![Update::Line(line.to_owned())];
        }
        self.buffer.push_str(line);
        self.buffer.push('\n');
        // A document ends with a closing brace at the start of a line.
        if line != "}" {
            return Vec::new();
        }
        let text = std::mem::take(&mut self.buffer);
        match serde_json::from_str::<Status>(&text) {
            Ok(status) => self.updates(status),
            Err(_) => text.lines().map(|l| Update::Line(l.to_owned())).collect(),
        }
    }

    fn updates(&mut self, status: Status) -> Vec<Update> {
        let mut out = Vec::new();
        for vertex in status.vertexes {
            if vertex.name.is_empty() {
                continue;
            }
            if vertex.started.is_some() && self.started.insert(vertex.digest.clone(), ()).is_none()
            {
                out.push(Update::Step(vertex.name.clone()));
            }
            if !vertex.error.is_empty() {
                out.push(Update::Line(format!(
                    "ERROR {}: {}",
                    vertex.name, vertex.error
                )));
            } else if vertex.completed.is_some()
                && self.finished.insert(vertex.digest.clone(), ()).is_none()
            {
                let how = if vertex.cached { "CACHED" } else { "DONE" };
                out.push(Update::Line(format!("{how} {}", vertex.name)));
            }
        }
        for log in status.logs {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(log.data.as_bytes())
            {
                for line in String::from_utf8_lossy(&bytes).lines() {
                    out.push(Update::Line(format!("  {line}")));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_lines_from_a_stream() {
        let stream = r#"{
  "vertexes": [
    {
      "digest": "sha256:a",
      "name": "[internal] load build definition from Dockerfile",
      "started": "2026-11-29T19:11:34.73339907Z"
    }
  ]
}
{
  "vertexes": [
    {
      "digest": "sha256:a",
      "name": "[internal] load build definition from Dockerfile",
      "started": "2026-11-29T19:11:34.73339907Z",
      "completed": "2026-11-29T19:11:34.8Z"
    },
    {
      "digest": "sha256:b",
      "name": "[1/1] COPY hello.txt /",
      "started": "2026-11-29T19:11:34.9Z",
      "error": "failed to compute cache key"
    }
  ],
  "logs": [ { "vertex": "sha256:b", "stream": 1, "data": "aGVsbG8K" } ]
}
ERROR: failed to solve"#;
        let mut parser = RawJson::default();
        let updates: Vec<Update> = stream.lines().flat_map(|l| parser.feed(l)).collect();
        assert_eq!(
            updates,
            [
                Update::Step("[internal] load build definition from Dockerfile".into()),
                Update::Line("DONE [internal] load build definition from Dockerfile".into()),
                Update::Step("[1/1] COPY hello.txt /".into()),
                Update::Line("ERROR [1/1] COPY hello.txt /: failed to compute cache key".into()),
                Update::Line("  hello".into()),
                Update::Line("ERROR: failed to solve".into()),
            ]
        );
    }
}
