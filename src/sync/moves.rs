//! Following the workspace when an admin moves it to another bucket. The bucket is a workspace
//! setting any admin may change, and each device sends its own credentials for that kind of store
//! to wherever the setting points: so a move within one endpoint is followed at once, and a move
//! to another endpoint or provider (or another folder of this disk) waits until the user agrees
//! (`weft sync --accept-move`). Until then the device keeps using the bucket it agreed to.

use crate::model::Carrier;
use crate::store::{Replica, StoreError};

/// The bucket URL this device last agreed to use (sync value).
pub const APPROVED_BUCKET: &str = "bucket.approved";

/// Where requests to a bucket go, and so where this device's credentials for that kind of store
/// are sent: the provider and the endpoint. A folder is its own endpoint (a move there writes to
/// another place on this disk).
pub fn bucket_endpoint(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return url.trim().to_string();
    };
    let scheme = match parsed.scheme() {
        "s3a" => "s3",
        "azure" | "abfs" | "abfss" | "adl" => "az",
        other => other,
    };
    if scheme == "file" {
        return format!("file://{}", parsed.path().trim_end_matches('/'));
    }
    let endpoint = parsed
        .query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case("endpoint"))
        .map(|(_, v)| v.trim_end_matches('/').to_ascii_lowercase())
        .unwrap_or_default();
    let host = if scheme == "az" || scheme == "https" || scheme == "http" {
        parsed.host_str().unwrap_or_default().to_ascii_lowercase()
    } else {
        String::new()
    };
    format!("{scheme}:{host}:{endpoint}")
}

/// The workspace's bucket setting, if this device may follow it there; otherwise the bucket it
/// agreed to last. A move within one endpoint is followed; a move to another endpoint or
/// provider waits for the user (`weft sync --accept-move`), since this device would send its
/// own credentials there, or write to another folder of its disk.
pub fn approved_bucket(
    replica: &Replica,
    setting: String,
) -> Result<(String, &'static str), StoreError> {
    let approved = match replica
        .sync_value(APPROVED_BUCKET)?
        .filter(|u| !u.is_empty())
    {
        Some(url) => url,
        // First use (or a weft from before this check): the join code's URL was typed by the
        // user; without one, the setting this device already followed.
        None => {
            let first = replica
                .sync_value("bucket.url.code")?
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| setting.clone());
            replica.set_sync_value(APPROVED_BUCKET, &first)?;
            first
        }
    };
    if approved == setting {
        return Ok((setting, "workspace setting"));
    }
    if bucket_endpoint(&approved) == bucket_endpoint(&setting) {
        replica.set_sync_value(APPROVED_BUCKET, &setting)?;
        return Ok((setting, "workspace setting"));
    }
    Ok((
        approved,
        "approved on this device (the workspace moved: see weft sync)",
    ))
}

/// The bucket an admin moved the workspace to that this device has not agreed to follow.
pub fn unapproved_move(replica: &Replica) -> Result<Option<String>, StoreError> {
    if replica
        .sync_value("bucket.url")?
        .is_some_and(|u| !u.is_empty())
    {
        return Ok(None);
    }
    let Some(setting) = replica.workspace().carrier(Carrier::Bucket) else {
        return Ok(None);
    };
    let (used, _) = approved_bucket(replica, setting.clone())?;
    Ok((used != setting).then_some(setting))
}

/// What to tell the user about a move this device is not following.
pub fn unapproved_move_notice(moved_to: &str) -> String {
    format!(
        "an admin moved the workspace to {moved_to}, another endpoint or provider: this device \
         stays where it was and sends nothing there until you run `weft sync --accept-move`"
    )
}

#[cfg(test)]
mod tests {
    use super::bucket_endpoint;

    #[test]
    fn a_move_is_to_another_endpoint_when_its_provider_host_or_folder_differs() {
        let same = |a: &str, b: &str| bucket_endpoint(a) == bucket_endpoint(b);
        assert!(
            same("s3://team-a/weft", "s3://team-b/other"),
            "same provider, no endpoint"
        );
        assert!(same("s3a://team-a", "s3://team-b"));
        assert!(same(
            "s3://a?endpoint=https://minio.example:9000&region=x",
            "s3://b?region=y&ENDPOINT=https://MINIO.example:9000/"
        ));
        assert!(
            !same("s3://a", "s3://a?endpoint=http://127.0.0.1:9"),
            "endpoint added"
        );
        assert!(!same(
            "s3://a?endpoint=https://minio.example",
            "s3://a?endpoint=https://attacker.example"
        ));
        assert!(!same("s3://a", "gs://a"), "another provider");
        assert!(!same("gs://a", "az://a"));
        assert!(
            !same("file:///srv/bucket", "file:///home/me/.ssh"),
            "another folder"
        );
        assert!(same("file:///srv/bucket/", "file:///srv/bucket"));
    }
}
