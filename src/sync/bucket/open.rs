//! From a bucket URL (and the environment) to an object store.
//!
//! Credentials come from the environment (or from `settings` given by the program), never from the
//! URL: a URL ends up in config files, shell history and error messages.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

use super::error::{describe, BucketError};

/// Request timeout for cloud stores unless `<PROVIDER>_TIMEOUT` says otherwise: long enough for an
/// 8 MiB part on a slow link, short enough that a stalled request is retried.
const DEFAULT_TIMEOUT: &str = "60s";

/// A store opened from a URL, with what the rest of [`super::Bucket`] needs to know about it.
pub(crate) struct Opened {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: String,
    pub label: String,
    pub hint: &'static str,
}

pub(crate) const S3_HINT: &str =
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)";
pub(crate) const GCS_HINT: &str =
    "GOOGLE_SERVICE_ACCOUNT (a service account JSON file) or GOOGLE_APPLICATION_CREDENTIALS";
pub(crate) const AZURE_HINT: &str = "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, \
     AZURE_STORAGE_SAS_KEY, or AZURE_CLIENT_ID / AZURE_CLIENT_SECRET / AZURE_TENANT_ID";
pub(crate) const FILE_HINT: &str = "the folder's owner and permissions";
pub(crate) const OTHER_HINT: &str = "the store's credentials";

pub(crate) fn open(url: &str, settings: &[(&str, &str)]) -> Result<Opened, BucketError> {
    let parsed = Url::parse(url.trim()).map_err(|e| BucketError::InvalidUrl {
        reason: format!("{:?} is not a URL ({e})", shown(url)),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(BucketError::InvalidUrl {
            reason: "credentials never go in a bucket URL: set them in the environment \
                     (for S3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                .into(),
        });
    }
    let query: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    match parsed.scheme() {
        "file" => {
            refuse_query(&query, "file")?;
            refuse_settings(settings, "file")?;
            open_folder(&parsed)
        }
        "memory" => {
            refuse_query(&query, "memory")?;
            refuse_settings(settings, "memory")?;
            let prefix = prefix_of(&parsed)?;
            Ok(Opened {
                store: Arc::new(InMemory::new()),
                label: format!("memory://{prefix}"),
                prefix,
                hint: OTHER_HINT,
            })
        }
        "s3" | "s3a" => open_cloud(AmazonS3Builder::from_env(), "s3", &parsed, &query, settings),
        "gs" => open_cloud(
            GoogleCloudStorageBuilder::from_env(),
            "gs",
            &parsed,
            &query,
            settings,
        ),
        "az" | "azure" => open_cloud(
            MicrosoftAzureBuilder::from_env(),
            "az",
            &parsed,
            &query,
            settings,
        ),
        other => Err(BucketError::InvalidUrl {
            reason: format!("weft cannot use {other}:// URLs as a bucket"),
        }),
    }
}

fn open_folder(url: &Url) -> Result<Opened, BucketError> {
    let invalid = || {
        BucketError::InvalidUrl {
        reason: format!(
            "{:?} is not a folder: file URLs hold an absolute path, like file:///home/me/weft-bucket",
            shown(url.as_str())
        ),
    }
    };
    if !matches!(url.host_str(), None | Some("") | Some("localhost")) {
        return Err(invalid());
    }
    let path = url.to_file_path().map_err(|()| invalid())?;
    let label = format!("file://{}", path.display());
    let setup = |what: &str, e: &dyn std::error::Error| BucketError::Setup {
        label: label.clone(),
        message: format!("{what}: {}", describe(e)),
    };
    std::fs::create_dir_all(&path).map_err(|e| setup("cannot create the folder", &e))?;
    let store =
        LocalFileSystem::new_with_prefix(&path).map_err(|e| setup("cannot open the folder", &e))?;
    Ok(Opened {
        store: Arc::new(store),
        prefix: String::new(),
        label,
        hint: FILE_HINT,
    })
}

/// The settings every cloud builder takes, so that S3, GCS and Azure are opened one way.
trait CloudBuilder: Sized {
    type Key: FromStr + PartialEq;
    /// Environment variables the builder reads start with this (`AWS_`, `GOOGLE_`, `AZURE_`).
    const ENV_PREFIX: &'static str;
    const HINT: &'static str;
    fn named(self, bucket: &str) -> Self;
    fn set(self, key: Self::Key, value: &str) -> Self;
    fn get(&self, key: &Self::Key) -> Option<String>;
    fn client(key: ClientConfigKey) -> Self::Key;
    /// Keys whose values are secrets, refused in URLs.
    fn is_secret(key: &Self::Key) -> bool;
    fn endpoint_key() -> Option<Self::Key>;
    fn retry(self, config: RetryConfig) -> Self;
    fn build_store(self) -> object_store::Result<Arc<dyn ObjectStore>>;
}

impl CloudBuilder for AmazonS3Builder {
    type Key = AmazonS3ConfigKey;
    const ENV_PREFIX: &'static str = "AWS_";
    const HINT: &'static str = S3_HINT;
    fn named(self, bucket: &str) -> Self {
        self.with_bucket_name(bucket)
    }
    fn set(self, key: Self::Key, value: &str) -> Self {
        self.with_config(key, value)
    }
    fn get(&self, key: &Self::Key) -> Option<String> {
        self.get_config_value(key)
    }
    fn client(key: ClientConfigKey) -> Self::Key {
        AmazonS3ConfigKey::Client(key)
    }
    fn is_secret(key: &Self::Key) -> bool {
        matches!(
            key,
            AmazonS3ConfigKey::AccessKeyId
                | AmazonS3ConfigKey::SecretAccessKey
                | AmazonS3ConfigKey::Token
        ) || key.as_ref().contains("customer_key")
    }
    fn endpoint_key() -> Option<Self::Key> {
        Some(AmazonS3ConfigKey::Endpoint)
    }
    fn retry(self, config: RetryConfig) -> Self {
        self.with_retry(config)
    }
    fn build_store(self) -> object_store::Result<Arc<dyn ObjectStore>> {
        Ok(Arc::new(self.build()?))
    }
}

impl CloudBuilder for GoogleCloudStorageBuilder {
    type Key = GoogleConfigKey;
    const ENV_PREFIX: &'static str = "GOOGLE_";
    const HINT: &'static str = GCS_HINT;
    fn named(self, bucket: &str) -> Self {
        self.with_bucket_name(bucket)
    }
    fn set(self, key: Self::Key, value: &str) -> Self {
        self.with_config(key, value)
    }
    fn get(&self, key: &Self::Key) -> Option<String> {
        self.get_config_value(key)
    }
    fn client(key: ClientConfigKey) -> Self::Key {
        GoogleConfigKey::Client(key)
    }
    fn is_secret(key: &Self::Key) -> bool {
        matches!(key, GoogleConfigKey::ServiceAccountKey)
    }
    fn endpoint_key() -> Option<Self::Key> {
        None
    }
    fn retry(self, config: RetryConfig) -> Self {
        self.with_retry(config)
    }
    fn build_store(self) -> object_store::Result<Arc<dyn ObjectStore>> {
        Ok(Arc::new(self.build()?))
    }
}

impl CloudBuilder for MicrosoftAzureBuilder {
    type Key = AzureConfigKey;
    const ENV_PREFIX: &'static str = "AZURE_";
    const HINT: &'static str = AZURE_HINT;
    fn named(self, bucket: &str) -> Self {
        self.with_container_name(bucket)
    }
    fn set(self, key: Self::Key, value: &str) -> Self {
        self.with_config(key, value)
    }
    fn get(&self, key: &Self::Key) -> Option<String> {
        self.get_config_value(key)
    }
    fn client(key: ClientConfigKey) -> Self::Key {
        AzureConfigKey::Client(key)
    }
    fn is_secret(key: &Self::Key) -> bool {
        matches!(
            key,
            AzureConfigKey::AccessKey
                | AzureConfigKey::ClientSecret
                | AzureConfigKey::SasKey
                | AzureConfigKey::Token
        )
    }
    fn endpoint_key() -> Option<Self::Key> {
        Some(AzureConfigKey::Endpoint)
    }
    fn retry(self, config: RetryConfig) -> Self {
        self.with_retry(config)
    }
    fn build_store(self) -> object_store::Result<Arc<dyn ObjectStore>> {
        Ok(Arc::new(self.build()?))
    }
}

/// Opens a cloud bucket from `from_env` (the builder as the environment configured it), then the
/// URL and the settings.
fn open_cloud<B: CloudBuilder>(
    from_env: B,
    scheme: &str,
    url: &Url,
    query: &[(String, String)],
    settings: &[(&str, &str)],
) -> Result<Opened, BucketError> {
    let bucket = url.host_str().unwrap_or_default();
    if bucket.is_empty() {
        return Err(BucketError::InvalidUrl {
            reason: format!("{scheme}:// URLs name a bucket: {scheme}://bucket/prefix"),
        });
    }
    let prefix = prefix_of(url)?;
    let label = if prefix.is_empty() {
        format!("{scheme}://{bucket}")
    } else {
        format!("{scheme}://{bucket}/{prefix}")
    };
    let setup = |message: String| BucketError::Setup {
        label: label.clone(),
        message,
    };

    let mut builder = from_env.named(bucket);
    if std::env::var_os(format!("{}TIMEOUT", B::ENV_PREFIX)).is_none() {
        builder = builder.set(B::client(ClientConfigKey::Timeout), DEFAULT_TIMEOUT);
    }
    // One try here is one try in the caller's RetryPolicy: the client retries only quick hiccups
    // itself (and parts of a streamed upload, which cannot be tried again as a whole).
    builder = builder.retry(RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(30),
    });

    let mut endpoint_given = false;
    let mut http_allowed_given = false;
    for (key, value) in query {
        let parsed = B::Key::from_str(key).map_err(|_| BucketError::InvalidUrl {
            reason: format!("{scheme}:// URLs do not take the setting {key:?}"),
        })?;
        if B::is_secret(&parsed) {
            return Err(BucketError::InvalidUrl {
                reason: format!(
                    "credentials never go in a bucket URL ({key:?}): set {} in the environment",
                    B::HINT
                ),
            });
        }
        endpoint_given |= B::endpoint_key().as_ref() == Some(&parsed);
        http_allowed_given |= parsed == B::client(ClientConfigKey::AllowHttp);
        builder = builder.set(parsed, value);
    }
    for (key, value) in settings {
        let parsed = B::Key::from_str(&key.to_ascii_lowercase())
            .map_err(|_| setup(format!("{scheme}:// buckets have no setting {key:?}")))?;
        endpoint_given |= B::endpoint_key().as_ref() == Some(&parsed);
        http_allowed_given |= parsed == B::client(ClientConfigKey::AllowHttp);
        builder = builder.set(parsed, value);
    }

    // An http:// endpoint written in the URL is the user asking for http, so allow it; one from the
    // environment needs the provider's own switch (AWS_ALLOW_HTTP), as with other tools.
    if let Some(endpoint) = B::endpoint_key().and_then(|k| builder.get(&k)) {
        let http_allowed = builder
            .get(&B::client(ClientConfigKey::AllowHttp))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if endpoint.starts_with("http://") && !http_allowed {
            if endpoint_given && !http_allowed_given {
                builder = builder.set(B::client(ClientConfigKey::AllowHttp), "true");
            } else {
                return Err(setup(format!(
                    "the endpoint is plain http: set {}ALLOW_HTTP=true, or give the endpoint in \
                     the URL ({scheme}://bucket/prefix?endpoint=http://host:port)",
                    B::ENV_PREFIX
                )));
            }
        }
    }

    let store = builder
        .build_store()
        .map_err(|e| setup(format!("{} (credentials: {})", describe(&e), B::HINT)))?;
    Ok(Opened {
        store,
        prefix,
        label,
        hint: B::HINT,
    })
}

/// The URL's path as a bucket prefix: segments of letters, digits and `-_.+=@,`, no `.`/`..`.
fn prefix_of(url: &Url) -> Result<String, BucketError> {
    let path = url.path().trim_matches('/');
    if path.is_empty() {
        return Ok(String::new());
    }
    for segment in path.split('/') {
        let ok = !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.+=@,".contains(c));
        if !ok {
            return Err(BucketError::InvalidUrl {
                reason: format!(
                    "the bucket prefix {path:?} may use letters, digits and - _ . + = @ , between \
                     slashes"
                ),
            });
        }
    }
    Ok(path.to_string())
}

fn refuse_query(query: &[(String, String)], scheme: &str) -> Result<(), BucketError> {
    match query.first() {
        Some((key, _)) => Err(BucketError::InvalidUrl {
            reason: format!("{scheme}:// URLs do not take settings such as {key:?}"),
        }),
        None => Ok(()),
    }
}

fn refuse_settings(settings: &[(&str, &str)], scheme: &str) -> Result<(), BucketError> {
    match settings.first() {
        Some((key, _)) => Err(BucketError::Setup {
            label: format!("{scheme}://"),
            message: format!("{scheme}:// buckets have no setting {key:?}"),
        }),
        None => Ok(()),
    }
}

/// A URL as it may be shown: without query or user info.
fn shown(url: &str) -> String {
    let base = url.split(['?', '#']).next().unwrap_or_default();
    match (base.find("://"), base.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}…{}", &base[..s + 3], &base[at..]),
        _ => base.to_string(),
    }
    .chars()
    .map(|c| if c.is_control() { ' ' } else { c })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        match open(url, &[]) {
            Ok(o) => panic!("{url} opened as {}", o.label),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_schemes_list_the_accepted_ones() {
        let e = err("ftp://host/x");
        assert!(e.contains("ftp://"), "{e}");
        for scheme in ["file:///", "s3://", "gs://", "az://", "memory://"] {
            assert!(e.contains(scheme), "{e}");
        }
        let e = err("not a url");
        assert!(e.contains("is not a URL"), "{e}");
    }

    #[test]
    fn credentials_in_urls_are_refused_and_not_echoed() {
        let e = err("s3://bucket/p?secret_access_key=hunter2&region=x");
        assert!(e.contains("credentials never go in a bucket URL"), "{e}");
        assert!(e.contains("AWS_SECRET_ACCESS_KEY"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = err("s3://AKIA:hunter2@bucket/p");
        assert!(!e.contains("hunter2") && e.contains("credentials"), "{e}");
        let e = err("az://container?sas_key=hunter2");
        assert!(!e.contains("hunter2") && e.contains("credentials"), "{e}");
        let e = err("gs://b?service_account_key=hunter2");
        assert!(!e.contains("hunter2") && e.contains("credentials"), "{e}");
        let e = err("bad url with hunter2@ and ?x=hunter2");
        assert!(!e.contains("hunter2?") && !e.contains("x=hunter2"), "{e}");
    }

    #[test]
    fn malformed_bucket_urls_say_what_shape_is_expected() {
        assert!(err("s3:///prefix").contains("s3://bucket/prefix"));
        assert!(err("s3://bucket/a//b").contains("bucket prefix"));
        assert!(err("s3://bucket/a%2Fb").contains("bucket prefix"));
        assert!(err("s3://bucket/caf%C3%A9").contains("bucket prefix"));
        assert!(err("s3://bucket/p?no_such_setting=1").contains("\"no_such_setting\""));
        assert!(err("file://relative/path").contains("absolute path"));
        assert!(err("file:///tmp/x?region=1").contains("do not take settings"));
    }

    #[test]
    fn query_settings_make_a_url_enough_for_an_s3_compatible_store() {
        let o = match open(
            "s3://team/weft?endpoint=http://127.0.0.1:9000&region=garage",
            &[("access_key_id", "a"), ("secret_access_key", "b")],
        ) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(o.label, "s3://team/weft");
        assert_eq!(o.prefix, "weft");
        let text = format!("{}", o.store);
        assert!(text.contains("team"), "{text}");
    }

    #[test]
    fn an_http_endpoint_from_the_environment_needs_allow_http() {
        let url = Url::parse("s3://team/weft").unwrap_or_else(|e| panic!("{e}"));
        let env = || AmazonS3Builder::new().with_endpoint("http://10.0.0.1:9000");
        let e = match open_cloud(env(), "s3", &url, &[], &[]) {
            Ok(o) => panic!("opened {}", o.label),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("set AWS_ALLOW_HTTP=true"), "{e}");
        assert!(e.starts_with("cannot use the bucket s3://team/weft"), "{e}");
        assert!(open_cloud(env().with_allow_http(true), "s3", &url, &[], &[]).is_ok());
        // Written in the URL, http is what the user asked for.
        let url = Url::parse("s3://team/weft?endpoint=http://10.0.0.1:9000")
            .unwrap_or_else(|e| panic!("{e}"));
        let query = vec![("endpoint".to_string(), "http://10.0.0.1:9000".to_string())];
        assert!(open_cloud(AmazonS3Builder::new(), "s3", &url, &query, &[]).is_ok());
    }

    #[test]
    fn memory_urls_take_a_prefix() {
        let o = open("memory:///a/b", &[]).map_err(|e| e.to_string());
        let o = o.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (o.prefix.as_str(), o.label.as_str()),
            ("a/b", "memory://a/b")
        );
    }
}
