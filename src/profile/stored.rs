//! Stored profiles: `profiles/sha256-<hex>.json`, content addressed. A
//! profile is loaded only through [`load_profile`], which checks that its
//! bytes hash to the revision id asked for.

use super::Profile;
use crate::canonical::Digest;
use crate::store::{layout, Store};
use crate::Error;
use bytes::Bytes;

/// Load a stored profile and check its bytes hash to `revision`.
pub async fn load_profile(store: &Store, revision: &Digest) -> Result<Profile, Error> {
    let path = layout::profile(revision);
    let bytes = store.get(&path).await?;
    Ok(Profile::parse_stored(&format!("{}/{path}", store.name()), &bytes, revision)?)
}

/// Store a profile under its revision id (idempotent).
pub async fn put_profile(store: &Store, profile: &Profile) -> Result<bool, Error> {
    Ok(store
        .put_immutable(
            &layout::profile(profile.revision()),
            Bytes::copy_from_slice(profile.canonical_bytes()),
        )
        .await?)
}
