//! Secrets of the local stack: from the environment, or generated once per
//! data folder and kept there (mode 0600) so tokens survive restarts.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use boomerang_core::auth::{self, Secret};
use boomerang_core::webhook;
use rand::RngCore;

/// The JWT key: `BOOMERANG_JWT_SECRET` as given, else `jwt-secret` in the
/// data folder. Empty or shorter than 32 bytes: refused, naming where.
pub fn jwt_secret(configured: Option<&str>, data_dir: &Path) -> Result<Secret, String> {
    match configured {
        Some(s) => auth::secret_from_config("BOOMERANG_JWT_SECRET", s),
        None => {
            let path = data_dir.join("jwt-secret");
            let s = load_or_create(&path, || {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_key())
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
            auth::secret_from_config(&path.display().to_string(), &s)
        }
    }
}

/// The webhook key and its `whsec_...` form: `BOOMERANG_WEBHOOK_SECRET`,
/// else `webhook-secret` in the data folder.
pub fn webhook_secret(
    configured: Option<&str>,
    data_dir: &Path,
) -> Result<(Secret, String), String> {
    let s = match configured {
        Some(s) => s.to_owned(),
        None => load_or_create(&data_dir.join("webhook-secret"), || {
            webhook::format_secret(&random_key())
        })
        .map_err(|e| format!("webhook secret in {}: {e}", data_dir.display()))?,
    };
    let key = webhook::parse_secret(&s).map_err(|e| format!("BOOMERANG_WEBHOOK_SECRET: {e}"))?;
    Ok((key, s))
}

/// The simulated third party's credential for this run: what the stack's
/// hand-overs carry as `Authorization`, and all it takes. Kept in memory
/// only; a restart makes a new one.
pub fn hand_over_key() -> Secret {
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_key());
    Secret::new(format!("Bearer {key}"))
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    k
}

fn load_or_create(path: &Path, make: impl FnOnce() -> String) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let value = make();
    let mut f = crate::private::file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(value.as_bytes())?;
    f.sync_all()?;
    Ok(value)
}
