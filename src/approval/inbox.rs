//! The approvals inbox, `approvals/<cohort>/<manifest_id>.toml` with its
//! signature files beside it (`.sig`, `.1.sig`, …): where `manifest submit`
//! puts a signed manifest and where the cycle finds waiting ones. Also reads
//! a manifest and its signatures from a local folder for `manifest verify`.

use crate::approval::manifest::{is_signature_of, signature_name, Manifest, ManifestError};
use crate::approval::signers::SignatureFile;
use crate::store::{layout, output_target, Store, StoreError};
use bytes::Bytes;
use object_store::path::Path as ObjPath;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("approvals inbox: manifest id {manifest_id} is already in the inbox with different bytes; a manifest id is single use")]
    IdTaken { manifest_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A manifest file and the signature files beside it.
#[derive(Clone, Debug)]
pub struct Submission {
    pub name: String,
    pub bytes: Bytes,
    pub signatures: Vec<SignatureFile>,
}

impl Submission {
    pub fn parse(&self) -> Result<Manifest, ManifestError> {
        Manifest::parse(&self.name, &self.bytes)
    }
}

/// Read a manifest file (path or URL) and its signature files from the same folder.
pub async fn read_local(target: &str) -> Result<Submission, StoreError> {
    let (store, path) = output_target(target)?;
    let bytes = store.get(&path).await?;
    let name = path.filename().unwrap_or_default().to_string();
    let parent: Option<ObjPath> = {
        let parts: Vec<_> = path.parts().collect();
        (parts.len() > 1).then(|| ObjPath::from_iter(parts[..parts.len() - 1].iter().cloned()))
    };
    let mut signatures = Vec::new();
    for meta in store.list_dir(parent.as_ref()).await? {
        let file = meta.location.filename().unwrap_or_default();
        if is_signature_of(file, &name) {
            signatures.push(SignatureFile {
                name: file.to_string(),
                bytes: store.get(&meta.location).await?.to_vec(),
            });
        }
    }
    Ok(Submission {
        name: target.to_string(),
        bytes,
        signatures,
    })
}

/// Put a manifest and its signatures into the inbox: the signature files
/// first, the manifest last, so a cycle never sees the manifest without the
/// signatures it came with. The manifest is created put-if-absent (the same
/// bytes again are fine: that is how another signer adds a signature later);
/// each signature not already there gets the next free name, so every
/// signer's `ssh-keygen` output, `m.toml.sig`, can be submitted as it is.
/// Returns the manifest's object path.
pub async fn submit(store: &Store, cohort: &str, manifest: &Manifest, signatures: &[SignatureFile]) -> Result<ObjPath, InboxError> {
    let name = format!("{}.toml", manifest.manifest_id);
    let path = layout::inbox_file(cohort, &name);
    // A manifest id is single use: other bytes under it are refused before anything is written.
    if let Some(existing) = store.get_opt(&path).await? {
        if existing.as_ref() != manifest.bytes.as_slice() {
            return Err(InboxError::IdTaken {
                manifest_id: manifest.manifest_id.clone(),
            });
        }
    }
    put_signatures(store, cohort, &name, signatures).await?;
    match store.put_immutable(&path, Bytes::from(manifest.bytes.clone())).await {
        Ok(_) => Ok(path),
        Err(StoreError::Conflict { .. }) => Err(InboxError::IdTaken {
            manifest_id: manifest.manifest_id.clone(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Add each signature not already beside `name`, under the next free name.
async fn put_signatures(store: &Store, cohort: &str, name: &str, signatures: &[SignatureFile]) -> Result<(), InboxError> {
    let mut present: Vec<(String, Bytes)> = Vec::new();
    for meta in store.list_dir(Some(&layout::inbox(cohort))).await? {
        let file = meta.location.filename().unwrap_or_default().to_string();
        if is_signature_of(&file, name) {
            present.push((file, store.get(&meta.location).await?));
        }
    }
    for sig in signatures {
        if present.iter().any(|(_, b)| b.as_ref() == sig.bytes.as_slice()) {
            continue;
        }
        // Next free name, retried if another submitter takes it first.
        let mut n = 0;
        loop {
            let file = signature_name(name, n);
            if present.iter().any(|(f, _)| *f == file) {
                n += 1;
                continue;
            }
            let sig_path = layout::inbox_file(cohort, &file);
            match store.put_if_absent(&sig_path, Bytes::from(sig.bytes.clone())).await {
                Ok(()) => {
                    present.push((file, Bytes::from(sig.bytes.clone())));
                    break;
                }
                Err(StoreError::AlreadyExists { .. }) => {
                    present.push((file, store.get(&sig_path).await?));
                    n += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Every manifest waiting in the cohort's inbox with its signatures, by manifest id.
pub async fn waiting(store: &Store, cohort: &str) -> Result<Vec<Submission>, StoreError> {
    let listed = store.list_dir(Some(&layout::inbox(cohort))).await?;
    let names: Vec<String> = listed
        .iter()
        .map(|m| m.location.filename().unwrap_or_default().to_string())
        .collect();
    let mut out = Vec::new();
    for (meta, name) in listed.iter().zip(&names) {
        if !name.ends_with(".toml") {
            continue;
        }
        let bytes = match store.get(&meta.location).await {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let mut signatures = Vec::new();
        for (m, n) in listed.iter().zip(&names) {
            if is_signature_of(n, name) {
                match store.get(&m.location).await {
                    Ok(b) => signatures.push(SignatureFile {
                        name: n.clone(),
                        bytes: b.to_vec(),
                    }),
                    Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        out.push(Submission {
            name: meta.location.to_string(),
            bytes,
            signatures,
        });
    }
    Ok(out)
}

/// One inbox object and the signature files beside it; `None` once it is gone.
pub async fn read_submission(store: &Store, object: &str) -> Result<Option<Submission>, StoreError> {
    let path = ObjPath::from(object);
    let Some(bytes) = store.get_opt(&path).await? else {
        return Ok(None);
    };
    let name = path.filename().unwrap_or_default().to_string();
    let parts: Vec<_> = path.parts().collect();
    let dir = ObjPath::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned());
    let mut signatures = Vec::new();
    for meta in store.list_dir(Some(&dir)).await? {
        let file = meta.location.filename().unwrap_or_default().to_string();
        if is_signature_of(&file, &name) {
            if let Some(b) = store.get_opt(&meta.location).await? {
                signatures.push(SignatureFile {
                    name: file,
                    bytes: b.to_vec(),
                });
            }
        }
    }
    Ok(Some(Submission {
        name: object.to_string(),
        bytes,
        signatures,
    }))
}

/// Remove a handled manifest and its signature files from the inbox.
pub async fn remove(store: &Store, object: &str) -> Result<(), StoreError> {
    let path = ObjPath::from(object);
    let name = path.filename().unwrap_or_default().to_string();
    let parts: Vec<_> = path.parts().collect();
    let dir = ObjPath::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned());
    for meta in store.list_dir(Some(&dir)).await? {
        let file = meta.location.filename().unwrap_or_default();
        if file == name || is_signature_of(file, &name) {
            match store.delete(&meta.location).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
