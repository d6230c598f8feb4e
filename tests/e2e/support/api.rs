//! A small REST client for `/api/v1` over hyper (one connection per call, like a script).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// One call's result: the status and the body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub json: Value,
    pub text: String,
}

#[derive(Clone)]
pub struct Api {
    /// `127.0.0.1:port` of the API listener.
    pub addr: String,
    pub token: String,
}

impl Api {
    pub fn new(addr: &str, token: &str) -> Api {
        Api {
            addr: addr.to_owned(),
            token: token.to_owned(),
        }
    }

    async fn json_call(&self, method: &str, path: &str, body: &Value) -> Resp {
        let bytes = Bytes::from(body.to_string());
        self.call(
            method,
            path,
            Some(("application/json".to_owned(), bytes)),
            None,
        )
        .await
    }

    /// A multipart/form-data POST: text fields, then one file field.
    pub async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Resp {
        let boundary = "e2e-boundary-7f3a9c";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let (name, file_name, content) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        self.call("POST", path, Some((ct, Bytes::from(body))), None)
            .await
    }

    /// Any call; `path` is under `/api/v1` (`/inventory_device_serial/`), or a full path
    /// when it starts with `/api/` or `/metrics`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<(String, Bytes)>,
        token: Option<&str>,
    ) -> Resp {
        let uri = if path.starts_with("/api/") {
            path.to_owned()
        } else {
            format!("/api/v1{path}")
        };
        let stream = TcpStream::connect(&self.addr)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the API at {}: {e}", self.addr));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("http/1 handshake with the API");
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(&uri)
            .header("host", &self.addr)
            .header(
                "authorization",
                format!("Bearer {}", token.unwrap_or(&self.token)),
            );
        let bytes = match body {
            Some((ct, bytes)) => {
                req = req.header("content-type", ct);
                bytes
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(bytes)).expect("a valid request");
        let resp =
            tokio::time::timeout(std::time::Duration::from_secs(60), sender.send_request(req))
                .await
                .unwrap_or_else(|_| panic!("{method} {uri}: no answer within 60 s"))
                .unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{method} {uri}: reading the body: {e}"))
            .to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Resp { status, json, text }
    }

    /// A call that must answer `expected`; returns the JSON body.
    pub async fn expect(
        &self,
        expected: u16,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Value {
        let r = match body {
            Some(b) => self.json_call(method, path, b).await,
            None => self.call(method, path, None, None).await,
        };
        assert_eq!(
            r.status, expected,
            "{method} {path} answered {} (expected {expected}): {}",
            r.status, r.text
        );
        r.json
    }

    /// GET of one device.
    pub async fn device(&self, serial: &str) -> Value {
        self.expect(
            200,
            "GET",
            &format!("/inventory_device_serial/{serial}/"),
            None,
        )
        .await
    }

    /// PATCH of one device, which must succeed.
    pub async fn patch_device(&self, serial: &str, body: Value) -> Value {
        self.expect(
            200,
            "PATCH",
            &format!("/inventory_device_serial/{serial}/"),
            Some(&body),
        )
        .await
    }

    /// A list page (`query` without the leading `?`).
    pub async fn list(&self, query: &str) -> Value {
        self.expect(
            200,
            "GET",
            &format!("/inventory_device_serial/?{query}"),
            None,
        )
        .await
    }

    /// The serial numbers of a list page.
    pub async fn serials(&self, query: &str) -> Vec<String> {
        let page = self.list(query).await;
        page["results"]
            .as_array()
            .expect("results is an array")
            .iter()
            .map(|d| d["serial_number"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The device's tasks.
    pub async fn tasks(&self, serial: &str) -> Vec<Value> {
        let v = self
            .expect(
                200,
                "GET",
                &format!("/inventory_device_serial/{serial}/tasks/"),
                None,
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// The value the store holds for one parameter of the device.
    pub async fn parameter(&self, serial: &str, path: &str) -> Option<String> {
        let v = self
            .expect(
                200,
                "GET",
                &format!("/inventory_device_serial/{serial}/parameters/?prefix={path}"),
                None,
            )
            .await;
        v["results"]
            .as_array()?
            .iter()
            .find(|p| p["path"] == path)
            .and_then(|p| p["value"].as_str().map(str::to_owned))
    }

    /// Creates an organization; returns its id.
    pub async fn organization(&self, name: &str) -> i64 {
        let v = self
            .expect(
                201,
                "POST",
                "/organizations/",
                Some(&serde_json::json!({ "name": name })),
            )
            .await;
        v["id"].as_i64().expect("organization id")
    }
}
