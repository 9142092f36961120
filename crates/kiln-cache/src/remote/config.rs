//! Settings of the Redis second level, from `KILN_REMOTE_*` variables or set in code.
use std::fmt;
use std::time::Duration;

/// Prefix of every Redis key kiln writes; the `v1` follows [`crate::FORMAT_VERSION`].
pub const DEFAULT_REMOTE_PREFIX: &str = "kiln:v1:";
/// Entries not written or hit remotely for this long expire (Redis `EXPIRE`).
pub const DEFAULT_REMOTE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Bound on connecting and on each command: a lookup never waits longer for Redis.
pub const DEFAULT_REMOTE_TIMEOUT: Duration = Duration::from_millis(200);
/// After this many failures in a row the remote level is off for the rest of the process.
pub const DEFAULT_MAX_CONSECUTIVE_ERRORS: u32 = 3;
/// Writes waiting for the background writer; more are dropped (and counted `remote_error`).
pub const DEFAULT_WRITE_QUEUE: usize = 256;
/// How long dropping a `Cache` waits for queued remote writes.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and how the shared Redis level is reached.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// `redis://[user:password@]host:port/db`.
    pub url: String,
    /// Prepended to the key hex to form each Redis key.
    pub prefix: String,
    /// Expiry set on every write and remote hit; `None`: keys never expire.
    pub ttl: Option<Duration>,
    /// Connect timeout and read/write timeout of each command.
    pub timeout: Duration,
    pub max_consecutive_errors: u32,
    pub write_queue: usize,
    pub flush_timeout: Duration,
}

impl RemoteConfig {
    /// `url` with every default.
    pub fn new(url: impl Into<String>) -> RemoteConfig {
        RemoteConfig {
            url: url.into(),
            prefix: DEFAULT_REMOTE_PREFIX.to_string(),
            ttl: Some(DEFAULT_REMOTE_TTL),
            timeout: DEFAULT_REMOTE_TIMEOUT,
            max_consecutive_errors: DEFAULT_MAX_CONSECUTIVE_ERRORS,
            write_queue: DEFAULT_WRITE_QUEUE,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
        }
    }

    /// `KILN_REMOTE_CACHE` (the URL; unset or empty: no remote level), `KILN_REMOTE_TTL`
    /// (seconds, or a number with s/m/h/d; 0 or `none`: never expire), `KILN_REMOTE_PREFIX`
    /// and `KILN_REMOTE_TIMEOUT_MS`. An unparsable value warns and keeps the default.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<RemoteConfig> {
        let url = var("KILN_REMOTE_CACHE").filter(|u| !u.trim().is_empty())?;
        let mut config = RemoteConfig::new(url.trim());
        if let Some(text) = var("KILN_REMOTE_TTL").filter(|t| !t.trim().is_empty()) {
            match parse_ttl(&text) {
                Some(ttl) => config.ttl = ttl,
                None => tracing::warn!(
                    "KILN_REMOTE_TTL={text:?} ignored (expected seconds or e.g. 12h, 7d, none); \
                     using 7d"
                ),
            }
        }
        if let Some(prefix) = var("KILN_REMOTE_PREFIX").filter(|p| !p.is_empty()) {
            config.prefix = prefix;
        }
        if let Some(text) = var("KILN_REMOTE_TIMEOUT_MS").filter(|t| !t.trim().is_empty()) {
            match text.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => config.timeout = Duration::from_millis(ms),
                _ => tracing::warn!(
                    "KILN_REMOTE_TIMEOUT_MS={text:?} ignored (expected milliseconds > 0); \
                     using 200"
                ),
            }
        }
        Some(config)
    }

    /// The URL without its password, for messages.
    pub fn location(&self) -> String {
        redact_url(&self.url)
    }
}

// Hand-written so that a password in the URL never reaches a log.
impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &self.location())
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .field("max_consecutive_errors", &self.max_consecutive_errors)
            .field("write_queue", &self.write_queue)
            .field("flush_timeout", &self.flush_timeout)
            .finish()
    }
}

/// `redis://user:secret@host/0` -> `redis://user:***@host/0`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// `3600`, `90s`, `30m`, `12h`, `7d`; `0` or `none` mean no expiry (`Some(None)`).
fn parse_ttl(text: &str) -> Option<Option<Duration>> {
    let text = text.trim().to_ascii_lowercase();
    if text == "none" || text == "never" {
        return Some(None);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3600)?,
        "d" => number.checked_mul(86_400)?,
        _ => return None,
    };
    Some((seconds > 0).then(|| Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn unset_url_means_no_remote() {
        assert_eq!(RemoteConfig::from_vars(vars(&[])), None);
        assert_eq!(
            RemoteConfig::from_vars(vars(&[("KILN_REMOTE_CACHE", " ")])),
            None
        );
    }

    #[test]
    fn variables_override_defaults() {
        let config = RemoteConfig::from_vars(vars(&[
            ("KILN_REMOTE_CACHE", "redis://127.0.0.1:7000/2"),
            ("KILN_REMOTE_TTL", "12h"),
            ("KILN_REMOTE_PREFIX", "team:"),
            ("KILN_REMOTE_TIMEOUT_MS", "50"),
        ]))
        .expect("configured");
        assert_eq!(config.url, "redis://127.0.0.1:7000/2");
        assert_eq!(config.ttl, Some(Duration::from_secs(12 * 3600)));
        assert_eq!(config.prefix, "team:");
        assert_eq!(config.timeout, Duration::from_millis(50));
        let defaults = RemoteConfig::from_vars(vars(&[
            ("KILN_REMOTE_CACHE", "redis://h/0"),
            ("KILN_REMOTE_TTL", "soon"),
            ("KILN_REMOTE_TIMEOUT_MS", "0"),
        ]))
        .expect("configured");
        assert_eq!(defaults.ttl, Some(DEFAULT_REMOTE_TTL));
        assert_eq!(defaults.timeout, DEFAULT_REMOTE_TIMEOUT);
        assert_eq!(defaults.prefix, DEFAULT_REMOTE_PREFIX);
    }

    #[test]
    fn ttl_forms() {
        assert_eq!(parse_ttl("3600"), Some(Some(Duration::from_secs(3600))));
        assert_eq!(parse_ttl("7d"), Some(Some(Duration::from_secs(604_800))));
        assert_eq!(parse_ttl("0"), Some(None));
        assert_eq!(parse_ttl("none"), Some(None));
        assert_eq!(parse_ttl("5w"), None);
        assert_eq!(parse_ttl("99999999999999999999d"), None);
    }

    #[test]
    fn passwords_never_shown() {
        assert_eq!(
            redact_url("redis://me:hunter2@cache:6379/0"),
            "redis://me:***@cache:6379/0"
        );
        assert_eq!(redact_url("redis://127.0.0.1/0"), "redis://127.0.0.1/0");
        let config = RemoteConfig::new("redis://:hunter2@h/0");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
