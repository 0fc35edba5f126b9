//! Owns the identity scheme: roles, names and the `urn:guichet:<role>:<name>` SAN URI that
//! every certificate of the federation carries (issued by [`crate::pki`], read by
//! [`crate::tls::peer_identity`]). Pure data: the request path reads identities without
//! importing the certificate authority.

use std::fmt;
use std::str::FromStr;

/// A role or identity that does not follow the scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// A role string is not one of `portal`, `office`, `admin`, `gateway`, `register`, `seal`.
    #[error("unknown role `{0}` (expected portal, office, admin, gateway, register or seal)")]
    InvalidRole(String),
    /// An identity name or URI does not follow the scheme.
    #[error("invalid identity `{input}`: {reason}")]
    InvalidIdentity {
        /// The offending input.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Prefix shared by every identity URI.
pub const URI_PREFIX: &str = "urn:guichet:";

/// Maximum length of an identity name.
pub const MAX_NAME_LEN: usize = 64;

/// The role a certificate holder plays in the federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The citizen-facing portal calling the gateway.
    Portal,
    /// A compensation fund or IV office answering the gateway.
    Office,
    /// An operator using the administration API.
    Admin,
    /// The gateway itself (server side and outgoing client side).
    Gateway,
    /// The Central Compensation Office's register of individual accounts, which the
    /// gateway asks which offices hold data for a person (`urn:guichet:register:<name>`).
    Register,
    /// The gateway's seal: the key that signs legally binding receipts (JWS, `x5c`).
    /// Never a TLS identity.
    Seal,
}

impl Role {
    /// All roles, in declaration order.
    pub const ALL: [Role; 6] = [
        Role::Portal,
        Role::Office,
        Role::Admin,
        Role::Gateway,
        Role::Register,
        Role::Seal,
    ];

    /// The lowercase name used in URIs and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Portal => "portal",
            Role::Office => "office",
            Role::Admin => "admin",
            Role::Gateway => "gateway",
            Role::Register => "register",
            Role::Seal => "seal",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| IdentityError::InvalidRole(s.to_owned()))
    }
}

/// A validated identity: a role plus a name (an office id `NNN.NNN` for offices).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity {
    /// The role of the holder.
    pub role: Role,
    /// The name within the role; for [`Role::Office`] an office id such as `025.000`.
    pub name: String,
}

impl Identity {
    /// Builds an identity after validating `name` for `role`.
    pub fn new(role: Role, name: impl Into<String>) -> Result<Identity, IdentityError> {
        let name = name.into();
        validate_name(role, &name)?;
        Ok(Identity { role, name })
    }

    /// The SAN URI carried by certificates of this identity: `urn:guichet:<role>:<name>`.
    pub fn uri(&self) -> String {
        format!("{URI_PREFIX}{}:{}", self.role, self.name)
    }

    /// Parses and validates a `urn:guichet:<role>:<name>` URI.
    pub fn parse_uri(uri: &str) -> Result<Identity, IdentityError> {
        let invalid = |reason: &'static str| IdentityError::InvalidIdentity {
            input: uri.to_owned(),
            reason,
        };
        let rest = uri
            .strip_prefix(URI_PREFIX)
            .ok_or_else(|| invalid("does not start with `urn:guichet:`"))?;
        let (role, name) = rest
            .split_once(':')
            .ok_or_else(|| invalid("expected `urn:guichet:<role>:<name>`"))?;
        let role = role.parse::<Role>().map_err(|_| {
            invalid("unknown role (expected portal, office, admin, gateway, register or seal)")
        })?;
        Identity::new(role, name).map_err(|err| match err {
            IdentityError::InvalidIdentity { reason, .. } => invalid(reason),
            other => other,
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.role, self.name)
    }
}

/// Checks a name: 1–64 chars of `[A-Za-z0-9._-]`, and `NNN.NNN` for offices.
pub fn validate_name(role: Role, name: &str) -> Result<(), IdentityError> {
    let invalid = |reason: &'static str| IdentityError::InvalidIdentity {
        input: format!("{role}:{name}"),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("name is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("name is longer than 64 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            "name may only contain A-Z, a-z, 0-9, '.', '_' and '-'",
        ));
    }
    if role == Role::Office && !is_office_id(name) {
        return Err(invalid("office name must be an office id `NNN.NNN`"));
    }
    Ok(())
}

/// True for an office id of the form `NNN.NNN` (three digits, a dot, three digits).
pub fn is_office_id(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() == 7
        && bytes[3] == b'.'
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && bytes[4..].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_round_trip() {
        let id = Identity::new(Role::Office, "025.000").expect("valid office");
        assert_eq!(id.uri(), "urn:guichet:office:025.000");
        assert_eq!(Identity::parse_uri(&id.uri()).expect("parses"), id);
        let portal = Identity::parse_uri("urn:guichet:portal:demo").expect("parses");
        assert_eq!(portal.role, Role::Portal);
        assert_eq!(portal.to_string(), "portal:demo");
    }

    #[test]
    fn role_display_and_parse() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>().expect("round trip"), role);
        }
        assert!("Portal".parse::<Role>().is_err());
    }

    #[test]
    fn rejects_bad_names() {
        assert!(Identity::new(Role::Portal, "").is_err());
        assert!(Identity::new(Role::Portal, "a".repeat(65)).is_err());
        assert!(Identity::new(Role::Portal, "a".repeat(64)).is_ok());
        assert!(Identity::new(Role::Portal, "a b").is_err());
        assert!(Identity::new(Role::Portal, "a:b").is_err());
        assert!(Identity::new(Role::Office, "25.000").is_err());
        assert!(Identity::new(Role::Office, "abc.def").is_err());
        assert!(Identity::new(Role::Admin, "ops-1_x.y").is_ok());
    }

    #[test]
    fn rejects_bad_uris() {
        for uri in [
            "urn:other:portal:demo",
            "urn:guichet:portal",
            "urn:guichet:root:demo",
            "urn:guichet:portal:de:mo",
            "urn:guichet:office:demo",
            "",
        ] {
            let err = Identity::parse_uri(uri).expect_err(uri);
            assert!(err.to_string().contains(uri), "{err}");
        }
    }
}
