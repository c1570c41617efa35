//! Where messages go: the `location` property parsed once at start, the credentials
//! (from the URL, the properties or the environment), and the per-source topic,
//! stream key or subject. Credentials never appear in what [`Destination`] prints
//! ([`Destination::redacted`]) nor in errors passed through [`Destination::scrub`].

use std::fmt;
use std::path::PathBuf;

use super::Settings;

/// Environment variables read when neither the URL nor the properties give them.
pub const USERNAME_ENV: &str = "SAVANT_PUBLISH_USERNAME";
pub const PASSWORD_ENV: &str = "SAVANT_PUBLISH_PASSWORD";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Stdout,
    Mqtt,
    Redis,
    Nats,
}

#[derive(Clone)]
pub struct Destination {
    pub kind: Kind,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The file's path (Kind::File).
    pub path: PathBuf,
    /// Redis database number (`redis://host/2`).
    pub database: i64,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Topic, stream key or subject, with `{source_id}`.
    pub topic: String,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Destination {
    /// Parses `settings.location` with the topic and credential properties.
    ///
    /// # Errors
    ///
    /// A location that is not a path, `stdout`, or an mqtt(s)://, redis(s)://,
    /// nats:// or nats+tls:// URL with a host; the message never holds the password.
    pub fn parse(settings: &Settings) -> Result<Self, String> {
        let location = settings.location.trim();
        let mut destination = Destination {
            kind: Kind::File,
            tls: false,
            host: String::new(),
            port: 0,
            path: PathBuf::new(),
            database: 0,
            username: None,
            password: None,
            topic: String::new(),
        };
        if location.is_empty() {
            return Err(
                "location is not set (a file path, stdout, or an mqtt://, redis:// or nats:// URL)"
                    .into(),
            );
        }
        if location == "stdout" || location == "-" {
            destination.kind = Kind::Stdout;
            return Ok(destination);
        }
        let Some((scheme, _)) = location.split_once("://") else {
            destination.path = PathBuf::from(location);
            return Ok(destination);
        };
        let url = url::Url::parse(location).map_err(|e| {
            format!(
                "location is not a valid URL ({e}): {}",
                redact_url(location)
            )
        })?;
        let (kind, tls, default_port) = match scheme {
            "file" => {
                destination.path = url
                    .to_file_path()
                    .map_err(|()| format!("location {location:?} is not a file path"))?;
                return Ok(destination);
            }
            "mqtt" | "tcp" => (Kind::Mqtt, false, 1883),
            "mqtts" | "ssl" => (Kind::Mqtt, true, 8883),
            "redis" => (Kind::Redis, false, 6379),
            "rediss" => (Kind::Redis, true, 6379),
            "nats" => (Kind::Nats, false, 4222),
            "nats+tls" | "tls" => (Kind::Nats, true, 4222),
            other => {
                return Err(format!(
                    "location scheme {other:?} is not one of file, mqtt, mqtts, redis, rediss, nats, nats+tls"
                ))
            }
        };
        destination.kind = kind;
        destination.tls = tls;
        destination.host = match url.host_str() {
            Some(host) if !host.is_empty() => host.trim_matches(['[', ']']).to_owned(),
            _ => return Err(format!("location {} has no host", redact_url(location))),
        };
        destination.port = url.port().unwrap_or(default_port);
        if kind == Kind::Redis {
            let db = url.path().trim_matches('/');
            if !db.is_empty() {
                destination.database = db
                    .parse()
                    .map_err(|_| format!("redis database {db:?} is not a number"))?;
            }
        }
        let decoded = |s: &str| {
            percent_decode(s)
                .map_err(|()| "location's user or password is not valid UTF-8".to_owned())
        };
        if !url.username().is_empty() {
            destination.username = Some(decoded(url.username())?);
        }
        if let Some(password) = url.password() {
            destination.password = Some(decoded(password)?);
        }
        destination.username = settings
            .username
            .clone()
            .or(destination.username)
            .or_else(|| std::env::var(USERNAME_ENV).ok());
        destination.password = settings
            .password
            .clone()
            .or(destination.password)
            .or_else(|| std::env::var(PASSWORD_ENV).ok());
        destination.topic = match &settings.topic {
            Some(topic) if !topic.is_empty() => topic.clone(),
            _ => match kind {
                Kind::Mqtt => "savant/{source_id}",
                Kind::Redis => "savant:{source_id}",
                _ => "savant.{source_id}",
            }
            .to_owned(),
        };
        Ok(destination)
    }

    /// The destination as logs and errors show it: no user, no password.
    pub fn redacted(&self) -> String {
        match self.kind {
            Kind::File => self.path.display().to_string(),
            Kind::Stdout => "stdout".into(),
            kind => {
                let scheme = match (kind, self.tls) {
                    (Kind::Mqtt, false) => "mqtt",
                    (Kind::Mqtt, true) => "mqtts",
                    (Kind::Redis, false) => "redis",
                    (Kind::Redis, true) => "rediss",
                    (_, false) => "nats",
                    (_, true) => "nats+tls",
                };
                format!("{scheme}://{}:{}", self.host, self.port)
            }
        }
    }

    /// `text` (a client library's error) with the password and user name cut out.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in [&self.password, &self.username].into_iter().flatten() {
            if secret.len() >= 2 {
                text = text.replace(secret.as_str(), "***");
            }
        }
        text
    }

    /// The topic, stream key or subject of a source: `{source_id}` replaced by the
    /// id with the characters the protocol treats specially replaced by `_` (MQTT's
    /// `+ # /`, NATS's `. * >` and white space); `default` for frames of no source.
    pub fn topic_for(&self, source_id: Option<&str>) -> String {
        if !self.topic.contains("{source_id}") {
            return self.topic.clone();
        }
        let id = source_id.filter(|id| !id.is_empty()).unwrap_or("default");
        let safe: String = id
            .chars()
            .map(|c| match (self.kind, c) {
                (Kind::Mqtt, '+' | '#' | '/' | '\0') => '_',
                (Kind::Nats, '.' | '*' | '>') => '_',
                (Kind::Nats, c) if c.is_whitespace() || c.is_control() => '_',
                (_, c) => c,
            })
            .collect();
        self.topic.replace("{source_id}", &safe)
    }
}

/// `location` with any user info cut out, for errors about the URL itself.
fn redact_url(location: &str) -> String {
    match location.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => location.to_owned(),
    }
}

fn percent_decode(text: &str) -> Result<String, ()> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(location: &str) -> Result<Destination, String> {
        Destination::parse(&Settings {
            location: location.into(),
            ..Settings::default()
        })
    }

    #[test]
    fn urls() {
        let d = parse("mqtt://user:s%40cret@broker:1884").unwrap();
        assert_eq!((d.kind, d.tls, d.port), (Kind::Mqtt, false, 1884));
        assert_eq!(d.password.as_deref(), Some("s@cret"));
        assert_eq!(d.redacted(), "mqtt://broker:1884");
        assert!(!format!("{d:?}").contains("cret"));
        assert_eq!(d.scrub("auth failed for s@cret"), "auth failed for ***");
        let d = parse("rediss://h/3").unwrap();
        assert_eq!(
            (d.kind, d.tls, d.port, d.database),
            (Kind::Redis, true, 6379, 3)
        );
        assert_eq!(parse("nats://h").unwrap().port, 4222);
        assert_eq!(parse("/tmp/x.jsonl").unwrap().kind, Kind::File);
        assert_eq!(parse("stdout").unwrap().kind, Kind::Stdout);
        let error = parse("kafka://user:topsecret@h").unwrap_err();
        assert!(
            error.contains("kafka") && !error.contains("topsecret"),
            "{error}"
        );
        let error = parse("mqtt://user:topsecret@").unwrap_err();
        assert!(!error.contains("topsecret"), "{error}");
        assert!(parse("").is_err());
    }

    #[test]
    fn topics() {
        let d = parse("mqtt://h").unwrap();
        assert_eq!(d.topic_for(Some("cam/1+#")), "savant/cam_1__");
        assert_eq!(d.topic_for(None), "savant/default");
        let d = parse("nats://h").unwrap();
        assert_eq!(d.topic_for(Some("a.b *>")), "savant.a_b___");
        let d = parse("redis://h").unwrap();
        assert_eq!(d.topic_for(Some("a.b")), "savant:a.b");
    }
}
