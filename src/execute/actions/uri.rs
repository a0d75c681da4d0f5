//! `uri`: an HTTP request made from the task's host with `curl` (or from the
//! controller with `delegate_to: localhost`), judged by its status code; health checks
//! with `until`/`retries` are its main use. curl reads the request from its standard
//! input (`curl -K -`), so the password and the body are in no command line or log.
//! Nothing changes on the host: as Ansible's `uri`, it is skipped under `--check`
//! (unless `check_mode: false`). rtmig needs `curl` on the host (no `wget` fallback).

use std::time::Instant;

use serde_json::{Value, json};

use super::{Cx, Host, TResult, located, output_text, skipped, transport_failure};
use crate::execute::remote::Remote;
use crate::parse::playbook::Uri as Args;
use crate::report::{TaskResult, TaskStatus};

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, a: &Args) -> TResult<TaskResult> {
    let mut status_code = vec![200];
    if let Some(data) = &a.status_code {
        let items = match cx.value(data)? {
            Value::Array(items) => items,
            other => vec![other],
        };
        status_code = items
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| {
                located(
                    &data.location,
                    "`status_code` must be a number or a list of numbers",
                )
            })?;
    }
    let mut headers = Vec::new();
    if let Some(data) = &a.headers {
        match cx.value(data)? {
            Value::Object(map) => {
                for (k, v) in map {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    headers.push((k, v));
                }
            }
            _ => return Err(located(&data.location, "`headers` must be a mapping")),
        }
    }
    let body_format = cx.choice(&a.body_format, &["raw", "json", "form-urlencoded"], "raw")?;
    let body = match &a.body {
        None => None,
        Some(data) => Some(match (cx.value(data)?, body_format.as_str()) {
            (Value::String(s), _) => Body::Raw(s),
            (Value::Object(map), "form-urlencoded") => Body::Form(
                map.into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => (k, s),
                        other => (k, other.to_string()),
                    })
                    .collect(),
            ),
            (other, _) => Body::Raw(other.to_string()),
        }),
    };
    if body_format == "json"
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    let req = Request {
        url: cx.text(&a.url)?,
        method: cx
            .opt_text(&a.method)?
            .unwrap_or_else(|| "GET".into())
            .to_uppercase(),
        headers,
        body,
        status_code,
        return_content: cx.flag(&a.return_content, false)?,
        timeout: cx.opt_number(&a.timeout)?.unwrap_or(30),
        validate_certs: cx.flag(&a.validate_certs, true)?,
        user: cx.opt_text(&a.url_username)?,
        password: cx.opt_text(&a.url_password)?,
        follow: cx
            .opt_text(&a.follow_redirects)?
            .unwrap_or_else(|| "safe".into()),
    };
    if cx.check_unless_forced() {
        return Ok(skipped(
            "skipped, running in check mode (uri does not support it)",
        ));
    }
    Ok(uri(&cx.host(remote)?, &req).await)
}

#[derive(Debug, Clone)]
pub enum Body {
    Raw(String),
    /// `body_format: form-urlencoded`: each pair URL-encoded by curl.
    Form(Vec<(String, String)>),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
    pub status_code: Vec<i64>,
    pub return_content: bool,
    pub timeout: u64,
    pub validate_certs: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `safe` (GET and HEAD), `all`/`yes`, `none`/`no`.
    pub follow: String,
}

/// Ends curl's output, then `STATUS URL CONTENT_TYPE` (curl's `--write-out`).
const TRAILER: &str = "\nrtmig-uri-trailer:";

/// A string in curl's config-file syntax.
fn config_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The request as a curl config, read from standard input.
pub fn curl_config(r: &Request) -> String {
    let mut c = String::new();
    let mut line = |k: &str, v: &str| c.push_str(&format!("{k} = {}\n", config_str(v)));
    line("url", &r.url);
    line("request", &r.method);
    line("max-time", &r.timeout.to_string());
    line(
        "write-out",
        &format!("{TRAILER}%{{http_code}} %{{url_effective}} %{{content_type}}"),
    );
    for (k, v) in &r.headers {
        line("header", &format!("{k}: {v}"));
    }
    if let Some(user) = &r.user {
        line(
            "user",
            &format!("{user}:{}", r.password.as_deref().unwrap_or("")),
        );
    }
    match &r.body {
        Some(Body::Raw(b)) => line("data-binary", b),
        Some(Body::Form(pairs)) => {
            for (k, v) in pairs {
                line("data-urlencode", &format!("{k}={v}"));
            }
        }
        None => {}
    }
    let follow = match r.follow.as_str() {
        "all" | "yes" | "urllib2" => true,
        "none" | "no" => false,
        _ => matches!(r.method.as_str(), "GET" | "HEAD"),
    };
    let mut flags = vec!["silent", "show-error"];
    if follow {
        flags.push("location");
    }
    if !r.validate_certs {
        flags.push("insecure");
    }
    if r.method == "HEAD" {
        flags.push("head");
    }
    for f in flags {
        c.push_str(f);
        c.push('\n');
    }
    c
}

pub async fn uri(host: &Host<'_>, r: &Request) -> TaskResult {
    let started = Instant::now();
    let cmd = "command -v curl >/dev/null 2>&1 || { echo 'uri needs curl on the host' >&2; exit 127; }; curl -K -";
    let out = match host.run_with_stdin(cmd, curl_config(r).as_bytes()).await {
        Ok(o) => o,
        Err(e) => return transport_failure(&e),
    };
    let stdout = output_text(&out.stdout);
    let (content, trailer) = match stdout.rsplit_once(TRAILER) {
        Some((c, t)) => (c.to_string(), t.to_string()),
        None => (stdout.clone(), String::new()),
    };
    let mut fields = trailer.splitn(3, ' ');
    let status: i64 = fields
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1);
    let url = fields.next().unwrap_or(&r.url).to_string();
    let content_type = fields.next().unwrap_or_default().trim().to_string();
    let status = if status == 0 { -1 } else { status };
    let mut reg = json!({
        "changed": false,
        "status": status,
        "url": url,
        "redirected": url != r.url,
        "elapsed": started.elapsed().as_secs(),
        "content_type": content_type,
        "content_length": content.len(),
    });
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let sub = mime.split('/').nth(1).unwrap_or_default();
    let sub = sub.rsplit('+').next().unwrap_or_default();
    if sub == "json"
        && let Ok(v) = serde_json::from_str::<Value>(&content)
    {
        reg["json"] = v;
    }
    let ok = r.status_code.contains(&status);
    let msg = if status == -1 {
        format!(
            "Status code was -1 and not {:?}: Request failed: {}",
            r.status_code,
            output_text(&out.stderr).trim()
        )
    } else if ok {
        format!("OK ({} bytes)", content.len())
    } else {
        format!("Status code was {status} and not {:?}", r.status_code)
    };
    reg["msg"] = json!(msg);
    if r.return_content {
        reg["content"] = json!(content);
    }
    reg["failed"] = json!(!ok);
    let mut res = TaskResult::new(if ok {
        TaskStatus::Ok
    } else {
        TaskStatus::Failed
    });
    if !ok {
        res.msg = Some(msg);
    }
    res.duration_ms = started.elapsed().as_millis() as u64;
    res.registered = reg;
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::actions::Host;
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP server answering each connection with the next of `replies`
    /// (`(status line, content type, body)`); returns its port and the requests seen.
    async fn server(
        replies: Vec<(&'static str, &'static str, &'static str)>,
    ) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let h = tokio::spawn(async move {
            let mut seen = Vec::new();
            for (status, ctype, body) in replies {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = vec![0u8; 65536];
                let mut req = String::new();
                // Headers, then the body as long as Content-Length says.
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    req.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if let Some((head, rest)) = req.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if rest.len() >= len {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(reply.as_bytes()).await.unwrap();
                seen.push(req);
            }
            seen
        });
        (port, h)
    }

    fn request(port: u16) -> Request {
        Request {
            url: format!("http://127.0.0.1:{port}/healthz"),
            method: "GET".into(),
            headers: vec![],
            body: None,
            status_code: vec![200],
            return_content: false,
            timeout: 10,
            validate_certs: true,
            user: None,
            password: None,
            follow: "safe".into(),
        }
    }

    #[tokio::test]
    async fn uri_returns_status_and_parsed_json_and_fails_on_other_statuses() {
        let (port, seen) = server(vec![
            ("200 OK", "application/json", r#"{"health":"ok","n":3}"#),
            ("503 Service Unavailable", "text/plain", "not yet"),
            ("201 Created", "text/plain", "made"),
        ])
        .await;
        let t = LocalTransport;
        let r = remote(&t);
        let host = Host {
            remote: &r,
            exports: String::new(),
        };
        let res = uri(&host, &request(port)).await;
        assert_eq!(res.status, TaskStatus::Ok, "{res:?}");
        assert_eq!(res.registered["status"], 200);
        assert_eq!(res.registered["json"]["health"], "ok");
        assert!(res.registered.get("content").is_none());

        let mut req = request(port);
        req.return_content = true;
        let res = uri(&host, &req).await;
        assert_eq!(res.status, TaskStatus::Failed);
        assert_eq!(res.registered["status"], 503);
        assert_eq!(res.registered["content"], "not yet");
        assert_eq!(
            res.msg.as_deref(),
            Some("Status code was 503 and not [200]")
        );

        let post = Request {
            method: "POST".into(),
            body: Some(Body::Raw(r#"{"a": "b \"q\""}"#.into())),
            headers: vec![("Content-Type".into(), "application/json".into())],
            status_code: vec![200, 201],
            user: Some("admin".into()),
            password: Some("s3cret".into()),
            ..request(port)
        };
        let res = uri(&host, &post).await;
        assert_eq!(res.status, TaskStatus::Ok, "{res:?}");
        let seen = seen.await.unwrap();
        assert!(seen[2].starts_with("POST /healthz"), "{}", seen[2]);
        assert!(seen[2].ends_with(r#"{"a": "b \"q\""}"#), "{}", seen[2]);
        // admin:s3cret, basic.
        assert!(
            seen[2].contains("Authorization: Basic YWRtaW46czNjcmV0"),
            "{}",
            seen[2]
        );
        assert!(!curl_config(&post).is_empty());
    }

    #[tokio::test]
    async fn a_refused_connection_is_status_minus_one() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let t = LocalTransport;
        let r = remote(&t);
        let host = Host {
            remote: &r,
            exports: String::new(),
        };
        let res = uri(&host, &request(port)).await;
        assert_eq!(res.status, TaskStatus::Failed);
        assert_eq!(res.registered["status"], -1);
        assert!(
            res.msg
                .unwrap()
                .starts_with("Status code was -1 and not [200]: Request failed")
        );
    }
}
