//! What can go wrong talking to a bucket, in words that say what to do about it, and which
//! failures are worth another try.

use std::error::Error as StdError;

/// A bucket operation that failed. Messages name the bucket by its label (scheme, bucket, prefix —
/// never credentials) and say what the user can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BucketError {
    /// The URL given to [`super::Bucket::open`] cannot name a bucket.
    #[error(
        "{reason}. A bucket is one of: file:///absolute/folder, s3://bucket/prefix, \
         gs://bucket/prefix, az://container/prefix, memory://"
    )]
    InvalidUrl { reason: String },
    /// The URL parsed, but the store could not be set up from it and the environment.
    #[error("cannot use the bucket {label}: {message}")]
    Setup { label: String, message: String },
    /// The store refused our credentials.
    #[error("access denied by the bucket {label}: check {hint} ({detail})")]
    AccessDenied {
        label: String,
        hint: &'static str,
        detail: String,
    },
    /// The bucket or container itself is missing.
    #[error(
        "the bucket {label} does not exist: create it, or check its name, region and endpoint \
         ({detail})"
    )]
    NoSuchBucket { label: String, detail: String },
    /// Every try failed with a transient error; trying again later may work.
    #[error(
        "the bucket {label} is unreachable after {attempts} attempts ({detail}); check the \
         network and the endpoint — weft will try again later"
    )]
    Unreachable {
        label: String,
        attempts: u32,
        detail: String,
    },
    /// The store answered, and said no, for a reason other than the ones above.
    #[error("the bucket {label} refused to {action} {key}: {detail}")]
    Refused {
        label: String,
        action: &'static str,
        key: String,
        detail: String,
    },
    /// The store cannot do what was asked (a backend without some feature).
    #[error("the bucket {label} cannot {action}: {detail}")]
    Unsupported {
        label: String,
        action: &'static str,
        detail: String,
    },
    /// A key that cannot name an object (empty, `.`/`..` segments, control characters, `//`).
    #[error("{key:?} cannot name an object in a bucket: {reason}")]
    InvalidKey { key: String, reason: String },
    /// An object larger than the caller is willing to hold in memory.
    #[error(
        "{key} in the bucket {label} is {size} bytes, more than the {limit} bytes weft reads at \
         once; it is not a weft object or it needs a streamed download"
    )]
    TooLarge {
        label: String,
        key: String,
        size: u64,
        limit: u64,
    },
    /// An object was replaced while it was being downloaded.
    #[error("{key} in the bucket {label} changed during the download; download it again")]
    Changed { label: String, key: String },
    /// A streamed upload or download broke off part way; it is not resumed automatically.
    #[error(
        "the transfer of {key} to or from the bucket {label} broke off after {done} bytes \
         ({detail}); start it again"
    )]
    Interrupted {
        label: String,
        key: String,
        done: u64,
        detail: String,
    },
    /// Reading the caller's data for an upload failed.
    #[error("reading the data to upload to {key} failed: {source}")]
    Read {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

impl BucketError {
    /// Whether the same operation may succeed later without the user changing anything (network
    /// trouble, an overloaded store), so that a sync loop should keep its outbox and try again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Interrupted { .. })
    }
}

/// The outcome of one failed try: worth another, or final.
pub(crate) enum Failure {
    Transient(String),
    Permanent(BucketError),
}

/// Who was asked what, for messages.
#[derive(Clone, Copy)]
pub(crate) struct Context<'a> {
    pub label: &'a str,
    pub hint: &'static str,
    pub action: &'static str,
    pub key: &'a str,
}

/// Sorts an object_store error into transient (retry) or permanent (report now).
pub(crate) fn classify(ctx: Context<'_>, err: object_store::Error) -> Failure {
    use object_store::Error as E;
    let detail = describe(&err);
    let label = ctx.label.to_string();
    let refused = |detail: String| {
        Failure::Permanent(BucketError::Refused {
            label: ctx.label.to_string(),
            action: ctx.action,
            key: ctx.key.to_string(),
            detail,
        })
    };
    match &err {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            return Failure::Permanent(BucketError::AccessDenied {
                label,
                hint: ctx.hint,
                detail,
            })
        }
        E::NotFound { .. } if names_missing_bucket(&detail) => {
            return Failure::Permanent(BucketError::NoSuchBucket { label, detail })
        }
        E::NotFound { .. }
        | E::AlreadyExists { .. }
        | E::Precondition { .. }
        | E::NotModified { .. } => return refused(detail),
        E::NotImplemented | E::NotSupported { .. } => {
            return Failure::Permanent(BucketError::Unsupported {
                label,
                action: ctx.action,
                detail,
            })
        }
        E::InvalidPath { .. } if ctx.action == "list" => {
            return refused(format!(
                "the bucket holds an object whose name weft cannot read ({detail}); remove or \
                 rename it"
            ))
        }
        E::InvalidPath { .. } => {
            return Failure::Permanent(BucketError::InvalidKey {
                key: ctx.key.to_string(),
                reason: format!("this store cannot hold it ({detail})"),
            })
        }
        E::UnknownConfigurationKey { .. } => {
            return Failure::Permanent(BucketError::Setup {
                label,
                message: detail,
            })
        }
        _ => {}
    }

    // What is left is "Generic": look at what the request actually ran into.
    if detail.contains("scheme is not allowed") {
        return Failure::Permanent(BucketError::Setup {
            label,
            message: "the endpoint is plain http: set AWS_ALLOW_HTTP=true, or give the endpoint \
                      in the URL (s3://bucket/prefix?endpoint=http://host:port)"
                .into(),
        });
    }
    if names_missing_bucket(&detail) {
        return Failure::Permanent(BucketError::NoSuchBucket { label, detail });
    }
    if detail.contains("AuthorizationHeaderMalformed")
        || detail.contains("PermanentRedirect")
        || detail.contains("incorrectly configured region")
    {
        return Failure::Permanent(BucketError::Setup {
            label,
            message: format!(
                "the bucket is in another region: set AWS_REGION, or region= in the URL \
                 ({detail})"
            ),
        });
    }
    match status_code(&detail) {
        Some(501) => {
            return Failure::Permanent(BucketError::Unsupported {
                label,
                action: ctx.action,
                detail,
            })
        }
        Some(401 | 403) => {
            return Failure::Permanent(BucketError::AccessDenied {
                label,
                hint: ctx.hint,
                detail,
            })
        }
        Some(408 | 429) => return Failure::Transient(detail),
        Some(s) if (500..600).contains(&s) => return Failure::Transient(detail),
        Some(_) => return refused(detail),
        None => {}
    }
    // A 200 whose body says InternalError/SlowDown (S3 does this) is a server error too.
    if detail.contains("Server returned error response") {
        return Failure::Transient(detail);
    }
    if is_transport_trouble(&err) {
        return Failure::Transient(detail);
    }
    refused(detail)
}

pub(crate) fn names_missing_bucket(detail: &str) -> bool {
    ["NoSuchBucket", "ContainerNotFound", "bucket does not exist"]
        .iter()
        .any(|p| detail.contains(p))
}

/// The HTTP status object_store reports in its message ("status code: 503 …"), if any.
fn status_code(detail: &str) -> Option<u16> {
    let at = detail.find("status code: ")? + "status code: ".len();
    detail.get(at..at + 3)?.parse().ok()
}

/// Connection, timeout and interrupted-transfer errors anywhere in the cause chain.
fn is_transport_trouble(err: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    use std::io::ErrorKind as K;
    let io_transient = |e: &std::io::Error| {
        matches!(
            e.kind(),
            K::TimedOut
                | K::ConnectionReset
                | K::ConnectionAborted
                | K::ConnectionRefused
                | K::NotConnected
                | K::BrokenPipe
                | K::Interrupted
                | K::UnexpectedEof
                | K::WouldBlock
                | K::NetworkUnreachable
                | K::HostUnreachable
                | K::NetworkDown
                | K::AddrNotAvailable
        )
    };
    // Every transport failure, of whatever kind, is worth another try; tries are bounded. (A
    // misconfiguration that looks like one, an http endpoint not allowed, was caught above.)
    let http_transient = |e: &HttpError| {
        matches!(
            e.kind(),
            HttpErrorKind::Connect
                | HttpErrorKind::Request
                | HttpErrorKind::Timeout
                | HttpErrorKind::Interrupted
                | HttpErrorKind::Decode
                | HttpErrorKind::Unknown
        )
    };
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return http_transient(http);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io_transient(io) {
                return true;
            }
            // io::Error::source skips the error it wraps; look at that one too.
            if let Some(inner) = io.get_ref() {
                if let Some(http) = inner.downcast_ref::<HttpError>() {
                    return http_transient(http);
                }
            }
        }
        next = e.source();
    }
    false
}

/// The error's message made safe to show: URL query strings (which could carry signatures or
/// tokens) removed, control characters replaced, and long server bodies cut short.
pub(crate) fn describe(err: &dyn StdError) -> String {
    const MAX: usize = 600;
    let text = redact_queries(&err.to_string());
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MAX {
        let mut cut = MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Drops `?query` from every URL in `text`.
fn redact_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, url) = rest.split_at(at);
        out.push_str(before);
        let end = url
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '>' || c == '<')
            .unwrap_or(url.len());
        let (url, after) = url.split_at(end);
        match url.find('?') {
            Some(q) => {
                out.push_str(&url[..q]);
                out.push_str("?…");
            }
            None => out.push_str(url),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        Context {
            label: "s3://b/p",
            hint: "AWS_ACCESS_KEY_ID",
            action: "read",
            key: "k",
        }
    }

    fn generic(msg: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: msg.to_string().into(),
        }
    }

    #[test]
    fn server_errors_and_throttling_are_transient() {
        for msg in [
            "Error performing GET http://h/b/k in 1ms - Server returned non-2xx status code: 503 Service Unavailable: ",
            "Server returned non-2xx status code: 429 Too Many Requests: slow down",
            "Server returned non-2xx status code: 500 Internal Server Error: ",
            "Server returned error response: <Error><Code>InternalError</Code></Error>",
        ] {
            assert!(matches!(classify(ctx(), generic(msg)), Failure::Transient(_)), "{msg}");
        }
        let reset = object_store::Error::Generic {
            store: "x",
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
        };
        assert!(matches!(classify(ctx(), reset), Failure::Transient(_)));
    }

    #[test]
    fn client_errors_are_permanent_and_say_what_to_do() {
        let denied = classify(
            ctx(),
            object_store::Error::PermissionDenied {
                path: "k".into(),
                source: "403 SignatureDoesNotMatch".into(),
            },
        );
        let Failure::Permanent(e @ BucketError::AccessDenied { .. }) = denied else {
            panic!("not access denied")
        };
        assert!(e.to_string().contains("check AWS_ACCESS_KEY_ID"), "{e}");
        assert!(!e.is_transient());

        let missing = classify(
            ctx(),
            generic(
                "Server returned non-2xx status code: 404 Not Found: <Code>NoSuchBucket</Code>",
            ),
        );
        assert!(matches!(
            missing,
            Failure::Permanent(BucketError::NoSuchBucket { .. })
        ));
        let bad = classify(
            ctx(),
            generic("Server returned non-2xx status code: 400 Bad Request"),
        );
        assert!(matches!(
            bad,
            Failure::Permanent(BucketError::Refused { .. })
        ));
        let unknown = classify(ctx(), generic("something odd"));
        assert!(matches!(unknown, Failure::Permanent(_)));
        let region = classify(ctx(), generic("<Code>AuthorizationHeaderMalformed</Code>"));
        let Failure::Permanent(e) = region else {
            panic!("transient")
        };
        assert!(e.to_string().contains("AWS_REGION"), "{e}");
    }

    #[test]
    fn messages_never_carry_url_queries_or_control_characters() {
        let e = generic(
            "GET https://acct.blob.core.windows.net/c/k?sig=SECRET&se=1 failed\x1b[31m\nagain",
        );
        let text = describe(&e);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(
            text.contains("https://acct.blob.core.windows.net/c/k?…"),
            "{text}"
        );
        assert!(!text.contains('\x1b') && !text.contains('\n'), "{text}");
        let long = describe(&generic(&"é".repeat(2000)));
        assert!(long.len() <= 604, "{}", long.len());
    }
}
